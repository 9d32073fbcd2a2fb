package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/caseops/caseops/cmd/caseops/internal/settings"
	"github.com/caseops/caseops/store/redact"
)

const (
	defaultHealthcheckURL = "http://127.0.0.1:8080/readyz"
	// healthcheckTimeout is well inside the container healthcheck's own timeout,
	// so a hung server is reported by us, with a reason, rather than killed by Docker.
	healthcheckTimeout = 3 * time.Second
)

// parseHealthcheck reads the healthcheck command's flags and environment.
func parseHealthcheck(args []string, getenv func(string) string, stdout, stderr io.Writer) (string, *settings.Set, error) {
	s := newSettings("healthcheck", "healthcheck [flags]", getenv, stdout, stderr).NoArguments()
	target := s.String("url", "CASEOPS_HEALTHCHECK_URL", defaultHealthcheckURL, "URL to GET; the check passes only when it answers 200")
	if err := s.Parse(args); err != nil {
		return "", s, err
	}
	u, err := url.Parse(*target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", s, s.Errorf("%s must be an absolute http or https URL, not %q", s.Source("url"), redact.URL(*target))
	}
	return u.String(), s, nil
}

// maxHealthBody is how much of an answer's body an error quotes; the rest is read and dropped.
const maxHealthBody = 512

// printable escapes what a terminal would act on (control characters, invalid UTF-8) as Go escapes, so that
// a body quoted in an error cannot move the cursor, change colours or retitle the window.
func printable(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD") {
			fmt.Fprintf(&b, `\x%02x`, s[i])
			continue
		}
		if unicode.IsPrint(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r)
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}

// runHealthcheck is the container healthcheck: distroless images have no curl or wget,
// so the binary checks its own readiness endpoint and exits non-zero unless it answers 200.
func runHealthcheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	target, _, err := parseHealthcheck(args, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	// Messages name the URL without the password it may carry: they end up in `docker inspect`.
	shown := req.URL.Redacted()
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// The check is of this URL itself: a proxy from HTTP_PROXY could answer 200 for a server that is not there.
	transport.Proxy = nil
	client := &http.Client{
		Transport: transport,
		// A redirect is not a healthy answer from an API that never redirects.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%s did not answer within %s", shown, healthcheckTimeout)
		}
		return fmt.Errorf("%s: %w", shown, err)
	}
	defer resp.Body.Close()
	// The start of the body says why a server is not ready (a Graph error message); more is noise in `docker inspect`.
	// The whole answer must come within the deadline: a 200 whose body stalls is not a healthy answer.
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHealthBody))
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%s answered %s but did not finish within %s", shown, resp.Status, healthcheckTimeout)
		}
		return fmt.Errorf("%s answered %s but the body could not be read: %w", shown, resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s: %s", shown, resp.Status, printable(strings.TrimSpace(string(body))))
	}
	fmt.Fprintf(stdout, "%s answered %s\n", shown, resp.Status)
	return nil
}
