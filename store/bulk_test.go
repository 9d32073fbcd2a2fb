package store_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caseops/caseops/cmd/caseops/seed"
	"github.com/caseops/caseops/store"
	"github.com/caseops/caseops/store/storetest"
)

// killedLoad starts a bulk load into the empty tables of a fresh database, loads one batch and then stops
// dead, as a SIGKILL would stop it: no Finish, and its connections gone. It returns the database's URL,
// the operations it loaded and how many indexes the load had dropped.
func killedLoad(t *testing.T) (string, []store.BulkOperation, int) {
	t.Helper()
	ctx := context.Background()
	url := storetest.NewDatabase(t)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close() // the process dies: its sessions end, nothing runs after the last batch
	l, err := store.New(pool).NewBulkLoader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ops, events := seed.New(300, 2, time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC), 5).Batch(0, 300, nil, nil)
	if err := l.Load(ctx, ops, events); err != nil {
		t.Fatal(err)
	}
	return url, ops, l.DeferredIndexes()
}

func newPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// owed lists the indexes case_operation_deferred_indexes says are still to be built.
func owed(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT index_name FROM case_operation_deferred_indexes ORDER BY index_name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// duplicate inserts, in plain SQL, a copy of the operation already stored under op's tenant and id.
func duplicate(ctx context.Context, pool *pgxpool.Pool, op store.BulkOperation) error {
	_, err := pool.Exec(ctx, `INSERT INTO case_operations (tenant_id, id, status, action, percent_progress, created_date_time,
			completed_date_time, created_by, result_code, result_message, result_subcode, version, last_modified_date_time)
		SELECT tenant_id, id, status, action, percent_progress, created_date_time,
			completed_date_time, created_by, result_code, result_message, result_subcode, version, last_modified_date_time
		FROM case_operations WHERE tenant_id = $1 AND id = $2`, op.TenantID, op.ID)
	return err
}

// A bulk load killed between dropping its indexes and building them leaves them listed as owed; two
// processes that then recover at once build each exactly once, both succeed, and the tables are as a
// freshly migrated database has them: the primary key refuses a duplicate again.
func TestKilledBulkLoadIsRecovered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, ops, dropped := killedLoad(t)
	fresh := storetest.TableSchema(t, storetest.NewPool(t))
	pools := []*pgxpool.Pool{newPool(t, url), newPool(t, url)}

	// What the load dropped is exactly what is listed: every index but the history's primary key.
	var missing []string
	for _, line := range strings.Split(fresh, "\n") {
		if name, ok := strings.CutPrefix(line, "index CREATE UNIQUE INDEX "); ok {
			missing = append(missing, strings.Fields(name)[0])
		} else if name, ok := strings.CutPrefix(line, "index CREATE INDEX "); ok {
			missing = append(missing, strings.Fields(name)[0])
		}
	}
	missing = slices.DeleteFunc(missing, func(n string) bool { return n == "case_operation_events_pkey" })
	slices.Sort(missing)
	if got := owed(t, pools[0]); !slices.Equal(got, missing) || dropped != len(missing) {
		t.Fatalf("after the kill %v are listed as owed (the load said %d); want %v", got, dropped, missing)
	}
	if storetest.TableSchema(t, pools[0]) == fresh {
		t.Fatal("the load dropped nothing")
	}

	var mu sync.Mutex
	var built []string
	errs := make([]error, len(pools))
	var wg sync.WaitGroup
	for i, pool := range pools {
		wg.Go(func() {
			errs[i] = store.New(pool).FinishDeferredIndexes(ctx, func(index string, _ time.Duration) {
				mu.Lock()
				built = append(built, index)
				mu.Unlock()
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("recovery %d: %v", i, err)
		}
	}
	slices.Sort(built)
	if !slices.Equal(built, missing) {
		t.Errorf("the two recoveries built %v between them; want each of %v once", built, missing)
	}
	if got := storetest.TableSchema(t, pools[0]); got != fresh {
		t.Fatalf("indexes and constraints after recovery:\n%s\nwant, as migrated:\n%s", got, fresh)
	}
	if left := owed(t, pools[0]); len(left) != 0 {
		t.Errorf("still listed as owed: %v", left)
	}
	var pgErr *pgconn.PgError
	if err := duplicate(ctx, pools[0], ops[0]); !errors.As(err, &pgErr) || pgErr.Code != "23505" || pgErr.ConstraintName != "case_operations_pkey" {
		t.Errorf("a duplicate (tenant_id, id) after recovery: %v; want a unique violation of case_operations_pkey", err)
	}
	if _, err := store.New(pools[0]).Create(ctx, ops[0].TenantID, store.NewOperation{ID: ops[0].ID}, audit); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("creating an operation with an id the tenant has: %v; want ErrAlreadyExists", err)
	}
	// Nothing is owed now: recovery is a no-op that builds nothing.
	if err := store.New(pools[1]).FinishDeferredIndexes(ctx, func(index string, _ time.Duration) {
		t.Errorf("built %s again", index)
	}); err != nil {
		t.Error(err)
	}
}

// A primary key that cannot be built, because duplicates came in while it was gone, is reported by name
// with the duplicated key, and stays listed until it can be; every other index is built meanwhile.
func TestKilledBulkLoadWithDuplicatesSaysWhichIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, ops, _ := killedLoad(t)
	pool := newPool(t, url)
	if err := duplicate(ctx, pool, ops[7]); err != nil {
		t.Fatalf("without its primary key the table took no duplicate: %v", err)
	}
	err := store.New(pool).FinishDeferredIndexes(ctx, nil)
	want := "index case_operations_pkey on case_operations, dropped by a bulk load, could not be built again: " +
		"CREATE UNIQUE INDEX case_operations_pkey ON public.case_operations USING btree (tenant_id, id): " +
		`ERROR: could not create unique index "case_operations_pkey" (SQLSTATE 23505): ` +
		"Key (tenant_id, id)=(" + ops[7].TenantID + ", " + ops[7].ID.String() + ") is duplicated.; " +
		"it stays listed in case_operation_deferred_indexes, and the next seed, migrate up or serve tries again"
	if err == nil || err.Error() != want || errors.Is(err, store.ErrAlreadyExists) || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("recovery over a duplicate: %v\nwant: %s", err, want)
	}
	if left := owed(t, pool); !slices.Equal(left, []string{"case_operations_pkey"}) {
		t.Errorf("listed as owed after the failure: %v; want only the primary key", left)
	}
	// Once the duplicate is gone, the next attempt builds it and the schema is whole.
	if _, err := pool.Exec(ctx, `DELETE FROM case_operations WHERE ctid = (SELECT max(ctid) FROM case_operations WHERE tenant_id = $1 AND id = $2)`,
		ops[7].TenantID, ops[7].ID); err != nil {
		t.Fatal(err)
	}
	if err := store.New(pool).FinishDeferredIndexes(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := storetest.TableSchema(t, pool), storetest.TableSchema(t, storetest.NewPool(t)); got != want {
		t.Fatalf("indexes and constraints after the retry:\n%s\nwant:\n%s", got, want)
	}
	if left := owed(t, pool); len(left) != 0 {
		t.Errorf("still listed as owed: %v", left)
	}
}

// serve and migrate up run what case_operation_deferred_indexes lists, so a row that anyone but a bulk
// load wrote must not make them run anything else: not a second statement, not another kind of statement.
func TestDeferredIndexRowsRunOnlyWhatALoadWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := storetest.NewPool(t)
	want := storetest.TableSchema(t, pool)
	for _, tc := range []struct {
		name, table, create string
		addConstraint       *string
		wantErr             string
	}{
		{"x_idx", "case_operations", "CREATE INDEX x_idx ON public.case_operations USING btree (id); DROP TABLE case_operation_events",
			nil, "cannot insert multiple commands into a prepared statement"},
		{"x_idx", "case_operations", "DROP TABLE case_operation_events",
			nil, "create_index_statement is not a CREATE INDEX of this index on this table"},
		{"x_idx", "case_operation_deferred_indexes", "CREATE INDEX x_idx ON public.case_operation_deferred_indexes USING btree (table_name)",
			nil, `table "case_operation_deferred_indexes" is not one a bulk load drops indexes of`},
		{"x_idx", "case_operations", "CREATE INDEX x_idx ON public.case_operations USING btree (id)",
			ptr("ALTER TABLE case_operations DROP CONSTRAINT case_operations_pkey"), "add_constraint_statement is not an ADD CONSTRAINT ... USING INDEX of this index"},
	} {
		if _, err := pool.Exec(ctx, `INSERT INTO case_operation_deferred_indexes (index_name, table_name, create_index_statement, add_constraint_statement)
			VALUES ($1, $2, $3, $4)`, tc.name, tc.table, tc.create, tc.addConstraint); err != nil {
			t.Fatal(err)
		}
		err := store.New(pool).FinishDeferredIndexes(ctx, nil)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "index x_idx on "+tc.table) {
			t.Errorf("%q: %v, want an error about index x_idx saying %q", tc.create, err, tc.wantErr)
		}
		if got := owed(t, pool); !slices.Equal(got, []string{"x_idx"}) {
			t.Errorf("%q: owed %v, want the row kept", tc.create, got)
		}
		if got := storetest.TableSchema(t, pool); got != want {
			t.Errorf("%q changed the tables:\n%s", tc.create, got)
		}
		if _, err := pool.Exec(ctx, `DELETE FROM case_operation_deferred_indexes`); err != nil {
			t.Fatal(err)
		}
	}
}
