package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
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
