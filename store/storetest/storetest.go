// Package storetest gives each test its own migrated Postgres database, cloned from a template
// that is migrated once per schema version, so tests run in parallel against a real server.
package storetest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver pgtestdb connects with
	"github.com/peterldowns/pgtestdb"

	"github.com/caseops/caseops/migrations"
	"github.com/caseops/caseops/store/redact"
)

// DefaultServerURL is the Postgres the tests use unless CASEOPS_TEST_DATABASE_URL names another.
const DefaultServerURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// ServerURL returns the URL of the Postgres server tests run against.
func ServerURL() string {
	if u := os.Getenv("CASEOPS_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultServerURL
}

// NewDatabase creates a fresh database with the whole schema applied and returns its URL.
// The database is dropped when the test passes.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return pgtestdb.Custom(redactedLog{t}, serverConfig(t), migrator{}).URL()
}

// NewEmptyDatabase creates a fresh database with no schema, for migration tests.
func NewEmptyDatabase(t testing.TB) string {
	t.Helper()
	return pgtestdb.Custom(redactedLog{t}, serverConfig(t), pgtestdb.NoopMigrator{}).URL()
}

// NewPool returns a pool on a fresh migrated database, closed when the test ends.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), NewDatabase(t))
	if err != nil {
		t.Fatalf("connect to test database: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// TableSchema lists every index (with its comment) and every constraint of case_operations and
// case_operation_events, one sorted line each, so that two databases compare as whole strings: a bulk
// load's tests check that the tables end as a freshly migrated database has them.
func TableSchema(t testing.TB, pool *pgxpool.Pool) string {
	t.Helper()
	var s string
	err := pool.QueryRow(context.Background(), `SELECT string_agg(line, E'\n' ORDER BY line COLLATE "C") FROM (
		SELECT 'index ' || pg_get_indexdef(i.indexrelid) || coalesce(' -- ' || obj_description(i.indexrelid, 'pg_class'), '') AS line
		FROM pg_index i WHERE i.indrelid IN ('case_operations'::regclass, 'case_operation_events'::regclass)
		UNION ALL
		SELECT format('constraint %s.%s %s (index %s)', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid), c.conindid::regclass)
		FROM pg_constraint c WHERE c.conrelid IN ('case_operations'::regclass, 'case_operation_events'::regclass)
	) AS schema`).Scan(&s)
	if err != nil {
		t.Fatalf("read the tables' indexes and constraints: %v", err)
	}
	return s
}

// UnreplayedOperations lists the operations whose history does not replay to their row: each property's last
// "new" must be the row's value and each "old" the "new" before it, the first event a creation, the events as many
// as the row's version, and the last one's time the row's last_modified_date_time.
func UnreplayedOperations(t testing.TB, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, _ := pool.Query(context.Background(), `
		WITH steps AS (
			SELECT e.operation_id, e.seq, c.key, c.value -> 'old' AS old, c.value -> 'new' AS new,
				lag(c.value -> 'new') OVER (PARTITION BY e.operation_id, c.key ORDER BY e.seq) AS previous_new,
				row_number() OVER (PARTITION BY e.operation_id, c.key ORDER BY e.seq DESC) AS from_last
			FROM case_operation_events e, jsonb_each(e.changes) c
		), replayed AS (
			SELECT operation_id, jsonb_object_agg(key, new) FILTER (WHERE from_last = 1 AND new <> 'null') AS state,
				bool_and(old = coalesce(previous_new, 'null')) AS chained
			FROM steps GROUP BY operation_id
		), history AS (
			SELECT operation_id, count(*) AS events, max(occurred_at) AS last_at,
				bool_and(kind = 'created') FILTER (WHERE seq = first_seq) AS created_first
			FROM (SELECT *, min(seq) OVER (PARTITION BY operation_id) AS first_seq FROM case_operation_events) e
			GROUP BY operation_id
		)
		SELECT o.id::text
		FROM case_operations o JOIN replayed r ON r.operation_id = o.id JOIN history h ON h.operation_id = o.id
		WHERE r.state IS DISTINCT FROM (SELECT jsonb_object_agg(key, value -> 'new') FROM jsonb_each(case_operation_changes(NULL, o)))
			OR NOT r.chained OR NOT h.created_first OR h.events <> o.version OR h.last_at <> o.last_modified_date_time
		ORDER BY o.id`)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("replay the history: %v", err)
	}
	return ids
}

func serverConfig(t testing.TB) pgtestdb.Config {
	t.Helper()
	u, err := url.Parse(ServerURL())
	if err != nil {
		t.Fatalf("CASEOPS_TEST_DATABASE_URL: %v", err)
	}
	password, _ := u.User.Password()
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	return pgtestdb.Config{
		DriverName: "pgx",
		Host:       u.Hostname(),
		Port:       port,
		User:       u.User.Username(),
		Password:   password,
		Database:   u.Path[1:],
		Options:    u.RawQuery,
		// A test that fails mid-request may leave a pooled connection behind; never let it block the drop.
		ForceTerminateConnections: true,
	}
}

// redactedLog is t with the passwords masked in what pgtestdb logs: it logs each database's URL, and a
// benchmark prints its log even when it passes.
type redactedLog struct{ testing.TB }

func (l redactedLog) Logf(format string, args ...any) {
	l.TB.Helper()
	l.TB.Logf("%s", redact.URL(fmt.Sprintf(format, args...)))
}

func (l redactedLog) Fatalf(format string, args ...any) {
	l.TB.Helper()
	l.TB.Fatalf("%s", redact.URL(fmt.Sprintf(format, args...)))
}

// migrator applies caseops's goose migrations to pgtestdb's template database.
type migrator struct{}

func (migrator) Hash() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(migrations.Files(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.Files(), path)
		h.Write([]byte(path))
		h.Write(b)
		return err
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

func (migrator) Migrate(ctx context.Context, db *sql.DB, _ pgtestdb.Config) error {
	p, err := migrations.NewProvider(db, nil)
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}
