package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// caseops seed creates and migrates its database, loads what it was asked for with a progress line,
// prints its throughput, and can add to a database that already has operations.
func TestSeedCommand(t *testing.T) {
	t.Parallel()
	url := newDatabaseURL(t)
	env := envOf(map[string]string{"DATABASE_URL": url})
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"seed", "--count", "3000", "--tenants", "3", "--batch", "700", "--workers", "2"}, env, &stdout, &stderr)
	if err != nil {
		t.Fatalf("seed: %v\n%s", err, stderr.String())
	}
	if !regexp.MustCompile(`^seeded 3000 operations with \d+ history events in 3 tenants in \S+ \(COPY \S+, indexes and ANALYZE \S+\): \d+ operations/s, \d+ rows/s\n$`).MatchString(stdout.String()) {
		t.Errorf("stdout %q", stdout.String())
	}
	if progress := stderr.String(); !strings.Contains(progress, "\rseed: 3000/3000 operations (100%) + ") || !strings.Contains(progress, "operations/s") ||
		!strings.Contains(progress, "ETA") || !regexp.MustCompile(`building \d+ indexes`).MatchString(progress) {
		t.Errorf("stderr %q", progress)
	}
	stdout.Reset()
	if err := run(context.Background(), []string{"seed", "--count", "500", "--random-seed", "2"}, env, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var ops, tenants int
	if err := conn.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT tenant_id) FROM case_operations`).Scan(&ops, &tenants); err != nil || ops != 3500 || tenants != 10 {
		t.Errorf("%d operations in %d tenants (%v)", ops, tenants, err)
	}
	for _, bad := range [][]string{{"seed"}, {"seed", "--count", "0"}, {"seed", "--count", "10", "--tenants", "0"}, {"seed", "--count", "10", "--workers", "0"}} {
		if err := run(context.Background(), bad, env, &stdout, &stderr); err == nil {
			t.Errorf("%v succeeded", bad)
		}
	}
}

// caseops bench-query times the list queries through the HTTP API and every reporting view, on a seeded database.
func TestBenchQueryCommand(t *testing.T) {
	t.Parallel()
	env := envOf(map[string]string{"DATABASE_URL": newDatabaseURL(t)})
	if err := run(context.Background(), []string{"seed", "--count", "2000", "--tenants", "2"}, env, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"bench-query", "--requests", "5", "--view-runs", "1"}, env, &stdout, io.Discard); err != nil {
		t.Fatalf("bench-query: %v\n%s", err, stdout.String())
	}
	out := stdout.String()
	for _, want := range append(append([]string{"database: 2000 operations; tenant tenant-01 has "}, benchQueries...), reportingViews...) {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`\$filter=status eq 'running'&\$orderby=createdDateTime desc\|\s+[\d.]+ ms\|\s+[\d.]+ ms\|`).MatchString(out) {
		t.Errorf("no timings in:\n%s", out)
	}
	if err := run(context.Background(), []string{"bench-query", "--requests", "0"}, env, io.Discard, io.Discard); err == nil {
		t.Error("bench-query with no requests succeeded")
	}
}

// A seed that is stopped keeps the batches it committed, whole, says how much that was, and still rebuilds
// the indexes it dropped, so the tables are left usable.
func TestSeedStoppedKeepsWholeBatches(t *testing.T) {
	t.Parallel()
	url := newDatabaseURL(t)
	env := envOf(map[string]string{"DATABASE_URL": url})
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	stopped := errors.New("stopped by the test")
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"seed", "--count", "1000000", "--batch", "500", "--workers", "2"}, env, io.Discard, &stderr)
	}()
	loading := regexp.MustCompile(`\rseed: [1-9]\d*/1000000 operations`)
	waitFor(t, 30*time.Second, func() bool { return loading.MatchString(stderr.String()) }, "a first batch to be loaded")
	cancel(stopped)
	err := <-done
	if !errors.Is(err, stopped) {
		t.Fatalf("seed returned %v, want the reason it was stopped", err)
	}
	m := regexp.MustCompile(`seed: stopped \(stopped by the test\); (\d+) operations and (\d+) history events were loaded, in whole batches\n` +
		`seed: building (\d+) indexes and analyzing\.\.\.\n$`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("stderr ends %q", tail(stderr.String(), 300))
	}

	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var ops, events, orphans, indexes, batches int
	err = conn.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM case_operations),
		(SELECT count(*) FROM case_operation_events),
		(SELECT count(*) FROM case_operation_events e WHERE NOT EXISTS (
			SELECT FROM case_operations o WHERE o.tenant_id = e.tenant_id AND o.id = e.operation_id)),
		(SELECT count(*) FROM pg_indexes WHERE tablename IN ('case_operations', 'case_operation_events')),
		(SELECT count(DISTINCT transaction_id) FROM case_operation_events)`).Scan(&ops, &events, &orphans, &indexes, &batches)
	if err != nil {
		t.Fatal(err)
	}
	if strconv.Itoa(ops) != m[1] || strconv.Itoa(events) != m[2] || ops == 0 || ops%500 != 0 || ops != 500*batches || orphans != 0 {
		t.Errorf("the database holds %d operations and %d events in %d transactions (%d events of no operation); "+
			"seed said %s and %s, in batches of 500", ops, events, batches, orphans, m[1], m[2])
	}
	if want := 1 + mustAtoi(t, m[3]); indexes != want { // the history's primary key, kept, and the rebuilt ones
		t.Errorf("%d indexes after the stop, want %d", indexes, want)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func tail(s string, n int) string { return s[max(0, len(s)-n):] }
