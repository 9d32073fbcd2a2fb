package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestHealthcheck(t *testing.T) {
	t.Parallel()
	ready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || r.Method != http.MethodGet {
			http.Error(w, "unexpected request", http.StatusTeapot)
			return
		}
		w.Write([]byte("ok\n"))
	}))
	t.Cleanup(ready.Close)
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"error":{"code":"serviceUnavailable","message":"The database is not reachable."}}`))
	}))
	t.Cleanup(unavailable.Close)
	redirecting := httptest.NewServer(http.RedirectHandler(ready.URL+"/readyz", http.StatusFound))
	t.Cleanup(redirecting.Close)

	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string // empty: the check passes
	}{
		{name: "200 passes", args: []string{"--url", ready.URL + "/readyz"}},
		{name: "URL from the environment", env: map[string]string{"CASEOPS_HEALTHCHECK_URL": ready.URL + "/readyz"}},
		{name: "flag overrides the environment", args: []string{"--url=" + ready.URL + "/readyz"},
			env: map[string]string{"CASEOPS_HEALTHCHECK_URL": unavailable.URL + "/readyz"}},
		{name: "503 fails and says why", args: []string{"--url", unavailable.URL + "/readyz"},
			wantErr: "503 Service Unavailable: {\"error\":{\"code\":\"serviceUnavailable\",\"message\":\"The database is not reachable.\"}}"},
		{name: "a redirect is not healthy", args: []string{"--url", redirecting.URL + "/readyz"}, wantErr: "302 Found"},
		{name: "unreachable fails", args: []string{"--url", "http://" + closedLoopbackAddr(t) + "/readyz"}, wantErr: "connection refused"},
		{name: "not an http URL", args: []string{"--url", "127.0.0.1:8080/readyz"}, wantErr: "--url must be an absolute http or https URL"},
		{name: "stray argument", args: []string{"--url", ready.URL + "/readyz", "now"}, wantErr: settingsLine("healthcheck", `unexpected argument "now" (quote a value that has spaces)`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			getenv := func(k string) string { return tc.env[k] }
			err := runHealthcheck(context.Background(), tc.args, getenv, &stdout, &stderr)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("runHealthcheck: %v (stderr %q)", err, stderr.String())
				}
				if !strings.Contains(stdout.String(), "200 OK") {
					t.Errorf("stdout = %q, want it to report the 200", stdout.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("runHealthcheck error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestHealthcheckDefaultsAndHelp(t *testing.T) {
	t.Parallel()
	target, s, err := parseHealthcheck(nil, func(string) string { return "" }, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if target != "http://127.0.0.1:8080/readyz" {
		t.Errorf("default URL = %q", target)
	}
	if got := strings.Join(s.Env(), ","); got != "CASEOPS_HEALTHCHECK_URL" {
		t.Errorf("Env() = %q, want CASEOPS_HEALTHCHECK_URL", got)
	}
	var help bytes.Buffer
	err = runHealthcheck(context.Background(), []string{"--help"}, func(string) string { return "" }, &help, io.Discard)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: err = %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(help.String(), "--url") || !strings.Contains(help.String(), "$CASEOPS_HEALTHCHECK_URL") {
		t.Errorf("--help does not list the flag and its variable:\n%s", help.String())
	}
}

func TestHealthcheckTimesOut(t *testing.T) {
	t.Parallel()
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(hung.Close)
	// The parent context's deadline stands in for the 3 s one, so the test stays fast.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := runHealthcheck(ctx, []string{"--url", hung.URL + "/readyz"}, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "did not answer within") {
		t.Fatalf("err = %v, want a timeout", err)
	}
}

// closedLoopbackAddr returns a loopback address nothing listens on.
func closedLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// A 200 whose body never finishes is not a healthy answer.
func TestHealthcheckFailsOnAStalledBody(t *testing.T) {
	t.Parallel()
	stalled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.Write([]byte("o"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(stalled.Close)
	// Long enough for the status line to arrive on a busy machine, so the deadline can only catch the body.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var stdout bytes.Buffer
	err := runHealthcheck(ctx, []string{"--url", stalled.URL + "/readyz"}, func(string) string { return "" }, &stdout, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "200 OK but did not finish within") {
		t.Fatalf("err = %v (stdout %q), want a failure for the stalled body", err, stdout.String())
	}
}

// A body quoted in an error cannot drive the terminal it is printed on.
func TestHealthcheckEscapesControlCharacters(t *testing.T) {
	t.Parallel()
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("\x1b]0;pwned\x07\x1b[2Jnot ready \xff\r\nnow " + strings.Repeat("x", 4096)))
	}))
	t.Cleanup(hostile.Close)
	err := runHealthcheck(context.Background(), []string{"--url", hostile.URL}, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil {
		t.Fatal("a 503 passed")
	}
	msg := err.Error()
	for _, c := range msg {
		if c < 0x20 || c == 0x7f {
			t.Fatalf("error holds control character %q: %q", c, msg)
		}
	}
	if !strings.Contains(msg, `503 Service Unavailable: \x1b]0;pwned\a\x1b[2Jnot ready \xff\r\nnow xxx`) || len(msg) > 1024 {
		t.Errorf("error = %q", msg)
	}
}

// The healthcheck talks to its URL itself, never through a proxy from the environment: a proxy could
// answer 200 for a server that does not exist. Go reads the proxy variables once per process, so the
// check runs in a child process with HTTP_PROXY set.
func TestHealthcheckIgnoresHTTPProxy(t *testing.T) {
	if target := os.Getenv("CASEOPS_TEST_HEALTHCHECK_THROUGH_PROXY"); target != "" {
		err := runHealthcheck(context.Background(), []string{"--url", target}, func(string) string { return "" }, os.Stdout, io.Discard)
		fmt.Printf("healthcheck error: %v\n", err)
		return
	}
	t.Parallel()
	var proxied atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		w.Write([]byte("ok\n"))
	}))
	t.Cleanup(proxy.Close)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHealthcheckIgnoresHTTPProxy$", "-test.v")
	cmd.Env = append(os.Environ(), "HTTP_PROXY="+proxy.URL, "http_proxy="+proxy.URL, "NO_PROXY=", "no_proxy=",
		"CASEOPS_TEST_HEALTHCHECK_THROUGH_PROXY=http://api.internal.invalid:8080/readyz")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "healthcheck error: http://api.internal.invalid:8080/readyz: ") {
		t.Errorf("the healthcheck passed or failed for another reason:\n%s", out)
	}
	if n := proxied.Load(); n != 0 {
		t.Errorf("the proxy got %d requests", n)
	}
}
