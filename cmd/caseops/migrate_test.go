package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/caseops/caseops/migrations"
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

// down on a schema a later caseops migrated says only that: goose's own "version not found" adds nothing.
func TestMigrateDownOnANewerSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := newDatabaseURL(t)
	env := envOf(map[string]string{"DATABASE_URL": url})
	if err := run(ctx, []string{"migrate", "up"}, env, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (99, true)`); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err = run(ctx, []string{"migrate", "down"}, env, &stdout, &stderr)
	status := exitStatus(err, &stderr)
	want := fmt.Sprintf("caseops: the database's schema is at version 99, newer than this binary's %d: use the caseops that migrated it\n",
		migrations.LatestVersion())
	if status != 1 || stderr.String() != want || stdout.Len() != 0 {
		t.Errorf("migrate down: exit status %d, stdout %q, stderr\n%q\nwant 1, nothing and\n%q", status, stdout.String(), stderr.String(), want)
	}
	var version int64
	if err := conn.QueryRow(ctx, `SELECT max(version_id) FROM goose_db_version`).Scan(&version); err != nil || version != 99 {
		t.Errorf("version %d after down (%v), want 99 untouched", version, err)
	}
	if strings.Contains(stderr.String(), "not found") {
		t.Errorf("goose's error shows")
	}
}
