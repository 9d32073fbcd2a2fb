package main

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"

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
	if err := run(context.Background(), []string{"bench-query", "--requests", "200", "--view-runs", "1"}, env, &stdout, io.Discard); err != nil {
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
	if err := run(context.Background(), []string{"bench-query", "--requests", "10"}, env, io.Discard, io.Discard); err == nil {
		t.Error("bench-query with fewer than 200 requests succeeded")
	}
}
