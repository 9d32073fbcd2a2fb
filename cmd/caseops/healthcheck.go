package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caseops/caseops/cmd/caseops/internal/settings"
	"github.com/caseops/caseops/internal/redact"
)

const (
	defaultHealthcheckURL = "http://127.0.0.1:8080/readyz"
	// healthcheckTimeout is well inside the container healthcheck's own timeout,
	// so a hung server is reported by us, with a reason, rather than killed by Docker.
	healthcheckTimeout = 3 * time.Second
)

// parseHealthcheck reads the healthcheck command's flags and environment.
func parseHealthcheck(args []string, getenv func(string) string, stderr io.Writer) (string, *settings.Set, error) {
	s := newSettings("healthcheck", "healthcheck [flags]", getenv, stderr)
	target := s.String("url", "CASEOPS_HEALTHCHECK_URL", defaultHealthcheckURL, "URL to GET; the check passes only when it answers 200")
	if err := s.Parse(args); err != nil {
		return "", s, err
	}
	if rest := s.Flags().Args(); len(rest) > 0 {
		return "", s, fmt.Errorf("healthcheck takes no arguments, got %q", rest)
	}
	u, err := url.Parse(*target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", s, fmt.Errorf("--url must be an absolute http or https URL, not %q", redact.URL(*target))
	}
	return u.String(), s, nil
}

// runHealthcheck is the container healthcheck: distroless images have no curl or wget,
// so the binary checks its own readiness endpoint and exits non-zero unless it answers 200.
func runHealthcheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	target, _, err := parseHealthcheck(args, getenv, stderr)
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
	client := &http.Client{
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
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s: %s", shown, resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(stdout, "%s answered %s\n", shown, resp.Status)
	return nil
}
