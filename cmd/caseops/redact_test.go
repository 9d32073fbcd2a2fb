package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caseops/caseops/store"
)

// A password in DATABASE_URL never shows in usage text, which prints --database-url's default.
func TestUsageMasksTheDatabasePassword(t *testing.T) {
	t.Parallel()
	env := envOf(map[string]string{"DATABASE_URL": "postgres://postgres:hunter2@127.0.0.1:5432/x"})
	for _, args := range [][]string{
		{"migrate", "up", "--help"},
		{"serve", "--help"},
		{"seed", "--help"},
		{"bench-query", "--help"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), args, env, &stdout, &stderr)
		out := stdout.String() + stderr.String()
		if err != nil {
			out += err.Error()
		}
		if strings.Contains(out, "hunter2") {
			t.Errorf("%q prints the password:\n%s", args, out)
		}
		if !strings.Contains(out, `--database-url (default "postgres://postgres:xxxxx@127.0.0.1:5432/x")`) {
			t.Errorf("%q does not show the masked URL:\n%s", args, out)
		}
	}
}

// A URL that cannot be parsed is refused without quoting its password, even one holding an '@'.
func TestUnparsableDatabaseURLHidesThePassword(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"postgres://postgres:abc@TOPSECRET:zz@127.0.0.1:5432/x",
		"postgres://postgres:TOPSECRET@127.0.0.1:5432/x?connect_timeout=soon",
		"postgres://postgres:TOPSECRET%zz@127.0.0.1:5432/x",
	} {
		var stderr bytes.Buffer
		err := run(context.Background(), []string{"migrate", "up", "--database-url", u}, envOf(nil), io.Discard, &stderr)
		if err == nil {
			t.Fatalf("%s: migrate up succeeded", u)
		}
		if out := err.Error() + stderr.String(); strings.Contains(out, "TOPSECRET") || !strings.Contains(out, "could not be parsed") {
			t.Errorf("%s: %s", u, out)
		}
		if _, err := store.Connect(context.Background(), u, store.PoolConfig{}); err == nil || strings.Contains(err.Error(), "TOPSECRET") {
			t.Errorf("%s: Connect: %v", u, err)
		}
	}
}

func TestHealthcheckHidesThePassword(t *testing.T) {
	t.Parallel()
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	}))
	t.Cleanup(unavailable.Close)
	withPassword := strings.Replace(unavailable.URL, "http://", "http://user:s3cretpw@", 1)
	for _, tc := range []struct{ url, want string }{
		{"http://user:s3cretpw@" + closedLoopbackAddr(t) + "/x", "connection refused"},
		{withPassword + "/readyz", "503 Service Unavailable"},
		{"user:s3cretpw@127.0.0.1:1/x", "--url must be an absolute http or https URL"},
	} {
		var stdout bytes.Buffer
		err := runHealthcheck(context.Background(), []string{"--url", tc.url}, envOf(nil), &stdout, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error()+stdout.String(), "s3cretpw") {
			t.Errorf("%s: %v, want an error saying %q without the password", tc.url, err, tc.want)
		}
	}
}

// serve logs the JWKS URL it cannot fetch, without its password.
func TestServeLogsTheJWKSURLWithoutItsPassword(t *testing.T) {
	t.Parallel()
	s := serve(t, map[string]string{"DATABASE_URL": newDatabaseURL(t), "CASEOPS_JWKS_URL": "http://user:pw1234@" + closedLoopbackAddr(t) + "/jwks"})
	if err := s.stop(); err != nil {
		t.Error(err)
	}
	log := s.stderr.String()
	if !strings.Contains(log, "cannot fetch the JWKS") || !strings.Contains(log, "http://user:xxxxx@") {
		t.Errorf("no warning naming the JWKS URL:\n%s", log)
	}
	if strings.Contains(log, "pw1234") {
		t.Errorf("the log shows the JWKS password:\n%s", log)
	}
}
