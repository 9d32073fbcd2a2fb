package main

import (
	"context"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caseops/caseops/cmd/caseops/servetest"
	"github.com/caseops/caseops/store"
	"github.com/caseops/caseops/store/storetest"
)

// --startup-timeout is how long serve keeps trying an unreachable database: it gives up neither before the
// deadline (the backoff between tries is cut short to make a last try there) nor long after it.
func TestStartupTimeoutKeepsTryingUntilTheDeadline(t *testing.T) {
	t.Parallel()
	const timeout = 1500 * time.Millisecond
	closed := freeAddr(t) // nothing listens there: every try is refused at once
	env := envOf(map[string]string{"DATABASE_URL": "postgres://postgres@" + closed + "/caseops?sslmode=disable",
		"CASEOPS_ADDR": freeAddr(t), "CASEOPS_JWT_SECRET": opsTestSecret})
	stderr := &syncBuffer{}
	start := time.Now()
	err := run(context.Background(), []string{"serve", "--startup-timeout", timeout.String()}, env, io.Discard, stderr)
	took := time.Since(start)
	if err == nil {
		t.Fatal("serve started without a database")
	}
	if took < timeout || took > timeout+3*time.Second {
		t.Errorf("serve gave up after %s, want about the %s startup timeout: %v\n%s", took, timeout, err, stderr)
	}
	if tries := strings.Count(stderr.String(), "database not reachable yet") + 1; tries < 3 {
		t.Errorf("%d tries in %s:\n%s", tries, took, stderr)
	}
}

// hangingDatabase is the address of a database that accepts connections but never answers, as a frozen
// server or a stalled network path does.
func hangingDatabase(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(storetest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := servetest.StartDBProxy(t, u.Host)
	proxy.Hang()
	return proxy.Addr()
}

// A database that accepts the connection and then says nothing fails migrate up within its connect timeout,
// once: not once for each database it tries to reach on that server.
func TestMigrateUpGivesUpOnAHangingDatabase(t *testing.T) {
	t.Parallel()
	const connectTimeout = 2 * time.Second
	env := envOf(map[string]string{"DATABASE_URL": "postgres://postgres@" + hangingDatabase(t) + "/caseops?sslmode=disable&connect_timeout=2"})
	start := time.Now()
	err := runWithin(t, 20*time.Second, func(ctx context.Context) error {
		return run(ctx, []string{"migrate", "up"}, env, io.Discard, io.Discard)
	})
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Errorf("migrate up against a hanging database: %v, want a timeout", err)
	}
	// A second try would take a second connect timeout; anything short of that leaves room for a busy machine.
	if took >= 2*connectTimeout {
		t.Errorf("migrate up gave up after %s, want about the %s connect timeout, once", took, connectTimeout)
	}
}

// Without connect_timeout in the URL, connecting is still bounded.
func TestDefaultConnectTimeout(t *testing.T) {
	t.Parallel()
	for u, want := range map[string]time.Duration{
		"postgres://postgres@127.0.0.1:5432/x":                   store.DefaultConnectTimeout,
		"postgres://postgres@127.0.0.1:5432/x?connect_timeout=0": store.DefaultConnectTimeout,
		"postgres://postgres@127.0.0.1:5432/x?connect_timeout=3": 3 * time.Second,
	} {
		cfg, err := store.ParseConfig(u)
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.ConnConfig.ConnectTimeout; got != want {
			t.Errorf("%s: connect timeout %s, want %s", u, got, want)
		}
	}
	if store.DefaultConnectTimeout <= 0 || store.DefaultConnectTimeout > time.Minute {
		t.Errorf("default connect timeout %s", store.DefaultConnectTimeout)
	}
}

// --startup-timeout holds even when each try hangs rather than fails, and with no connect_timeout in the URL.
func TestStartupTimeoutStopsAHangingDatabase(t *testing.T) {
	t.Parallel()
	const timeout = 1500 * time.Millisecond
	env := envOf(map[string]string{"DATABASE_URL": "postgres://postgres@" + hangingDatabase(t) + "/caseops?sslmode=disable",
		"CASEOPS_ADDR": freeAddr(t), "CASEOPS_JWT_SECRET": opsTestSecret})
	stderr := &syncBuffer{}
	start := time.Now()
	err := runWithin(t, timeout+10*time.Second, func(ctx context.Context) error {
		return run(ctx, []string{"serve", "--startup-timeout", timeout.String()}, env, io.Discard, stderr)
	})
	took := time.Since(start)
	if err == nil {
		t.Fatal("serve started without a database")
	}
	// A try that is not cut off at the deadline hangs for the default connect timeout (10 s): well past this bound.
	if took < timeout || took > timeout+5*time.Second {
		t.Errorf("serve gave up after %s, want about the %s startup timeout: %v\n%s", took, timeout, err, stderr)
	}
}

// With --migrate=false serve does not need the database to listen: a hanging one delays it by the startup
// timeout at most, while it tries to open the pool.
func TestServeWithoutMigrateListensWhileTheDatabaseHangs(t *testing.T) {
	t.Parallel()
	start := time.Now()
	s := serve(t, map[string]string{"DATABASE_URL": "postgres://postgres@" + hangingDatabase(t) + "/caseops?sslmode=disable",
		"CASEOPS_MIGRATE": "false", "CASEOPS_STARTUP_TIMEOUT": "1s", "CASEOPS_JWT_SECRET": opsTestSecret})
	// Opening the pool is cut off at the startup timeout; uncut, it would hang for the 10 s connect timeout.
	if took := time.Since(start); took > 6*time.Second {
		t.Errorf("serve took %s to listen", took)
	}
	if !strings.Contains(s.stderr.String(), "could not open the connection pool yet") {
		t.Errorf("no warning about the pool:\n%s", s.stderr)
	}
	if err := s.stop(); err != nil {
		t.Error(err)
	}
}

// runWithin runs f, and fails the test, cancelling f's context, if it has not returned after limit.
func runWithin(t *testing.T, limit time.Duration, f func(context.Context) error) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		cancel()
		t.Errorf("still running after %s", limit)
		return <-done
	}
}
