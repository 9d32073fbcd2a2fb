package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caseops/caseops/cmd/caseops/seed"
	"github.com/caseops/caseops/store"
	"github.com/caseops/caseops/store/storetest"
)

// A seed killed between dropping the indexes and building them (SIGKILL, the OOM killer) leaves them listed
// as owed. The next seed builds them before it loads anything, and migrate up and serve's migration build
// them too: the primary key is back, and the same operations loaded again are refused, not stored twice.
func TestKilledSeedIsRepaired(t *testing.T) {
	t.Parallel()
	want := storetest.TableSchema(t, storetest.NewPool(t))
	for _, tc := range []struct {
		name   string
		repair func(ctx context.Context, env func(string) string, pool *pgxpool.Pool) (output string, err error)
		built  string // the line reporting each index built, with %s for its name
	}{
		{"seed", func(ctx context.Context, env func(string) string, _ *pgxpool.Pool) (string, error) {
			// The same generator, seed and first batch as the killed load: the very same operations.
			var stderr bytes.Buffer
			err := run(ctx, []string{"seed", "--count", "300", "--batch", "300", "--random-seed", "1"}, env, io.Discard, &stderr)
			if !errors.Is(err, store.ErrAlreadyExists) {
				return stderr.String(), fmt.Errorf("seeding the same operations again: %v; want them refused as already existing", err)
			}
			return stderr.String(), nil
		}, `seed: index %s, dropped by an earlier load that did not finish, built in \S+\n`},
		{"migrate up", func(ctx context.Context, env func(string) string, _ *pgxpool.Pool) (string, error) {
			var stdout bytes.Buffer
			err := run(ctx, []string{"migrate", "up"}, env, &stdout, io.Discard)
			if err == nil && !strings.HasPrefix(stdout.String(), "no pending migrations\n") {
				err = errors.New("migrate up found migrations pending")
			}
			return stdout.String(), err
		}, `built index %s, which an interrupted bulk load had dropped \(\S+\)\n`},
		{"serve's migration", func(ctx context.Context, _ func(string) string, pool *pgxpool.Pool) (string, error) {
			var log bytes.Buffer
			err := migrateUp(ctx, pool, newLogger("text", &log))
			return log.String(), err
		}, `level=INFO msg="built an index an interrupted bulk load had dropped" index=%s duration=\S+\n`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := newDatabaseURL(t)
			env := envOf(map[string]string{"DATABASE_URL": url})
			ops := killSeed(t, env, url)
			pool, err := pgxpool.New(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			if got := storetest.TableSchema(t, pool); got == want {
				t.Fatal("the killed seed dropped no index")
			}
			out, err := tc.repair(ctx, env, pool)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			// Each index the load dropped is reported built, once.
			var dropped []string
			for _, m := range regexp.MustCompile(`(?m)^index CREATE (?:UNIQUE )?INDEX (\w+) `).FindAllStringSubmatch(want, -1) {
				if m[1] != "case_operation_events_pkey" {
					dropped = append(dropped, m[1])
				}
			}
			var reported []string
			for _, m := range regexp.MustCompile(fmt.Sprintf(tc.built, `(\w+)`)).FindAllStringSubmatch(out, -1) {
				reported = append(reported, m[1])
			}
			slices.Sort(dropped)
			slices.Sort(reported)
			if len(dropped) == 0 || !slices.Equal(reported, dropped) {
				t.Errorf("reported built %v; want each of %v once, in:\n%s", reported, dropped, out)
			}
			if got := storetest.TableSchema(t, pool); got != want {
				t.Fatalf("indexes and constraints after %s:\n%s\nwant, as migrated:\n%s", tc.name, got, want)
			}
			var operations, distinct, owed int
			if err := pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT (tenant_id, id)), (SELECT count(*) FROM case_operation_deferred_indexes)
				FROM case_operations`).Scan(&operations, &distinct, &owed); err != nil {
				t.Fatal(err)
			}
			if operations != len(ops) || distinct != len(ops) || owed != 0 {
				t.Errorf("%d operations, %d distinct, %d indexes still owed; want the %d loaded once each, and none owed",
					operations, distinct, owed, len(ops))
			}
			_, err = pool.Exec(ctx, `INSERT INTO case_operations (tenant_id, id, status, action, created_date_time, version, last_modified_date_time)
				VALUES ($1, $2, 'notStarted', 'applyTags', now(), 1, now())`, ops[0].TenantID, ops[0].ID)
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "23505" || pgErr.ConstraintName != "case_operations_pkey" {
				t.Errorf("inserting an operation the tenant has: %v; want a unique violation of case_operations_pkey", err)
			}
		})
	}
}

// killSeed migrates a new database and starts a seed's bulk load into it, loads the first batch that
// "seed --count 300 --batch 300 --random-seed 1" would, and stops as a killed process does: no Finish, and
// its connections gone. It returns the operations it loaded.
func killSeed(t *testing.T, env func(string) string, url string) []store.BulkOperation {
	t.Helper()
	ctx := context.Background()
	if err := run(ctx, []string{"migrate", "up"}, env, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	l, err := store.New(pool).NewBulkLoader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ops, events := seed.New(300, 10, time.Now(), 1).Batch(0, 300, nil, nil)
	if err := l.Load(ctx, ops, events); err != nil {
		t.Fatal(err)
	}
	return ops
}
