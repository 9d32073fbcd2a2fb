package main

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/caseops/caseops/store"
)

// status, version and down on a database the server does not have say so, and what creates it, in one
// line; they create nothing.
func TestMigrateOnAMissingDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := newDatabaseURL(t) // not created
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("caseops: database %q does not exist on %s:%d; 'caseops migrate up' or 'caseops serve' creates it\n",
		cfg.Database, cfg.Host, cfg.Port)
	for _, verb := range []string{"status", "version", "down"} {
		var stdout, stderr bytes.Buffer
		err := run(ctx, []string{"migrate", verb}, envOf(map[string]string{"DATABASE_URL": url}), &stdout, &stderr)
		if status := exitStatus(err, &stderr); status != 1 || stderr.String() != want || stdout.Len() != 0 {
			t.Errorf("migrate %s: exit status %d, stdout %q, stderr\n%q\nwant 1, nothing and\n%q", verb, status, stdout.String(), stderr.String(), want)
		}
	}
	if created, err := store.EnsureDatabase(ctx, url); err != nil || !created {
		t.Errorf("the database was there after looking, or could not be made: %v", err)
	}
}
