package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
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
	// Not a terminal, so whole lines: the final figures, then each index as it is built.
	progress := regexp.MustCompile(`^(?:seed: \d+/3000 operations \( *\d+%\) \+ \d+ events  \d+ operations/s  \d+ rows/s  ETA \S+\n)*` +
		`seed: 3000/3000 operations \(100%\) \+ \d+ events  \d+ operations/s  \d+ rows/s  ETA 0s\n` +
		`seed: building (\d+) indexes and analyzing\.\.\.\n` +
		`((?:seed: index \w+ built in \S+ \(\d+ of \d+\)\n)*)$`).FindStringSubmatch(stderr.String())
	if progress == nil {
		t.Fatalf("stderr %q", stderr.String())
	}
	requireIndexLines(t, progress[2], mustAtoi(t, progress[1]))
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

	// The same random seed again makes the same ids: refused whole, with what to do about it.
	stdout.Reset()
	err = run(context.Background(), []string{"seed", "--count", "500", "--random-seed", "2"}, env, &stdout, io.Discard)
	if want := "load operations 0 to 500: operation already exists (the database already holds operations made with " +
		"--random-seed 2: use another, or an empty database)"; err == nil || err.Error() != want || stdout.Len() != 0 {
		t.Errorf("seed again with the same --random-seed: %v, printed %q; want %q", err, stdout.String(), want)
	}
	// A few operations do not reach every tenant, and the summary counts those they reached.
	if err := run(context.Background(), []string{"seed", "--count", "3", "--tenants", "1000", "--random-seed", "3"}, env, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^seeded 3 operations with \d+ history events in [123] tenants in `).MatchString(stdout.String()) {
		t.Errorf("stdout %q", stdout.String())
	}
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM case_operations`).Scan(&ops); err != nil || ops != 3503 {
		t.Errorf("%d operations after a refused and a small seed (%v), want 3503", ops, err)
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
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--requests", "0"}, settingsLine("bench-query", "--requests must be from 1 to 1000000, not 0")},
		{[]string{"--requests", "1000000000000"}, settingsLine("bench-query", "--requests must be from 1 to 1000000, not 1000000000000")},
		{[]string{"--view-runs", "100000"}, settingsLine("bench-query", "--view-runs must be from 1 to 1000, not 100000")},
		{[]string{"--tenant", "nosuch"}, `tenant "nosuch" has no operations to list; name one that has (tenant-01 to tenant-NN after a seed), or leave --tenant out`},
	} {
		var stdout bytes.Buffer
		err := run(context.Background(), append([]string{"bench-query"}, tc.args...), env, &stdout, io.Discard)
		if err == nil || err.Error() != tc.want || stdout.Len() != 0 {
			t.Errorf("bench-query %v: error %v, stdout %q; want %q and nothing timed", tc.args, err, stdout.String(), tc.want)
		}
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
	var conn *pgx.Conn
	loaded := func() bool {
		if conn == nil {
			if conn, _ = pgx.Connect(context.Background(), url); conn == nil {
				return false // seed has not created the database yet
			}
			t.Cleanup(func() { conn.Close(context.Background()) })
		}
		var some bool
		err := conn.QueryRow(context.Background(), `SELECT EXISTS (SELECT FROM case_operations)`).Scan(&some)
		return err == nil && some // an error: not migrated yet
	}
	waitFor(t, 30*time.Second, loaded, "a first batch to be loaded")
	cancel(stopped)
	err := <-done
	if !errors.Is(err, stopped) {
		t.Fatalf("seed returned %v, want the reason it was stopped", err)
	}
	m := regexp.MustCompile(`seed: stopped \(stopped by the test\); (\d+) operations and (\d+) history events were loaded, in whole batches\n` +
		`seed: building (\d+) indexes and analyzing\.\.\.\n((?:seed: index \w+ built in \S+ \(\d+ of \d+\)\n)*)$`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("stderr ends %q", tail(stderr.String(), 600))
	}
	requireIndexLines(t, m[4], mustAtoi(t, m[3]))

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

// requireIndexLines checks that seed reported each of the n indexes it built once, counting 1 to n.
func requireIndexLines(t *testing.T, lines string, n int) {
	t.Helper()
	built := regexp.MustCompile(`seed: index (\w+) built in \S+ \((\d+) of (\d+)\)\n`).FindAllStringSubmatch(lines, -1)
	seen := map[string]bool{}
	for i, b := range built {
		if b[2] != strconv.Itoa(i+1) || b[3] != strconv.Itoa(n) || seen[b[1]] {
			t.Errorf("index line %d is %q; want each of %d indexes once, counted in order", i+1, b[0], n)
		}
		seen[b[1]] = true
	}
	if n == 0 || len(built) != n {
		t.Errorf("%d index lines for %d indexes built:\n%s", len(built), n, lines)
	}
}

// On a terminal the progress line is redrawn in place; elsewhere each report is a line of its own.
func TestSeedProgressLine(t *testing.T) {
	t.Parallel()
	var ops, events atomic.Int64
	ops.Store(250)
	events.Store(600)
	begin := time.Now().Add(-10 * time.Second)
	for _, tc := range []struct {
		interactive bool
		want        string
	}{
		{true, `^\rseed: 250/1000 operations \( 25%\) \+ 600 events  2\d operations/s  8\d rows/s  ETA (29|30)s   \n$`},
		{false, `^seed: 250/1000 operations \( 25%\) \+ 600 events  2\d operations/s  8\d rows/s  ETA (29|30)s\n$`},
	} {
		var out bytes.Buffer
		showProgress(&out, tc.interactive, 1000, &ops, &events, begin)()
		if !regexp.MustCompile(tc.want).MatchString(out.String()) {
			t.Errorf("interactive %v: %q, want %s", tc.interactive, out.String(), tc.want)
		}
	}
}
