package seed_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caseops/caseops/cmd/caseops/seed"
	"github.com/caseops/caseops/store"
	"github.com/caseops/caseops/store/storetest"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// generate makes count operations in tenants tenants, in batches of 997 (so that batch edges fall anywhere).
func generate(count, tenants int) ([]store.BulkOperation, []store.BulkEvent) {
	g := seed.New(count, tenants, now, 42)
	var ops []store.BulkOperation
	var events []store.BulkEvent
	for from := 0; from < count; from += 997 {
		ops, events = g.Batch(from, min(from+997, count), ops, events)
	}
	return ops, events
}

// load writes ops and events into a fresh database through a BulkLoader, in two batches.
func load(t *testing.T, ops []store.BulkOperation, events []store.BulkEvent) *pgxpool.Pool {
	t.Helper()
	pool := storetest.NewPool(t)
	ctx := context.Background()
	l, err := store.New(pool).NewBulkLoader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	half := len(ops) / 2
	cut := 0
	for cut < len(events) && events[cut].OperationID != ops[half].ID {
		cut++
	}
	if err := l.Load(ctx, ops[:half], events[:cut]); err != nil {
		t.Fatal(err)
	}
	if err := l.Load(ctx, ops[half:], events[cut:]); err != nil {
		t.Fatal(err)
	}
	if err := l.Finish(ctx, nil); err != nil {
		t.Fatal(err)
	}
	return pool
}

func TestGeneratedOperationsAreRealistic(t *testing.T) {
	t.Parallel()
	ops, events := generate(8000, 5)
	again, _ := generate(8000, 5)
	if !reflect.DeepEqual(ops, again) {
		t.Fatal("the same seed made different operations")
	}
	count := func(f func(store.BulkOperation) string) map[string]int {
		m := map[string]int{}
		for _, o := range ops {
			m[f(o)]++
		}
		return m
	}
	statuses := count(func(o store.BulkOperation) string { return string(o.Status) })
	for _, s := range store.Statuses {
		if statuses[string(s)] == 0 {
			t.Errorf("no %s operations: %v", s, statuses)
		}
	}
	if statuses["succeeded"] < len(ops)*3/4 {
		t.Errorf("statuses %v: most operations should have succeeded", statuses)
	}
	actions := count(func(o store.BulkOperation) string { return string(o.Action) })
	if len(actions) != len(store.TagOperationActions) {
		t.Errorf("actions %v", actions)
	}
	tenants := count(func(o store.BulkOperation) string { return o.TenantID })
	if len(tenants) != 5 || tenants["tenant-01"] <= tenants["tenant-05"]*3 {
		t.Errorf("tenants %v: a few large, many small", tenants)
	}
	creators := count(func(o store.BulkOperation) string {
		switch s := string(o.CreatedBy); {
		case strings.Contains(s, `"user"`):
			return "user"
		case strings.Contains(s, `"application"`):
			return "application"
		}
		return "none"
	})
	if creators["user"] < creators["application"] || creators["none"] == 0 {
		t.Errorf("creators %v", creators)
	}
	for i, o := range ops {
		if o.CreatedDateTime.Before(now.Add(-seed.Window)) || !o.CreatedDateTime.Before(now) {
			t.Fatalf("operation %d created %s, outside the 90 days before %s", i, o.CreatedDateTime, now)
		}
		if o.Status.Terminal() != (o.CompletedDateTime != nil) || (o.CompletedDateTime != nil && (o.CompletedDateTime.Before(o.CreatedDateTime) || o.CompletedDateTime.After(now))) {
			t.Fatalf("operation %d: %s completed %v, created %s", i, o.Status, o.CompletedDateTime, o.CreatedDateTime)
		}
		if (o.ResultCode != nil) != o.Status.Terminal() {
			t.Fatalf("operation %d: %s with result code %v", i, o.Status, o.ResultCode)
		}
	}
	if n := len(events); n < len(ops)*3/2 || n > len(ops)*3 {
		t.Errorf("%d events for %d operations", n, len(ops))
	}
}

// The loaded history replays to the loaded rows: every property's latest "new" is the row's value, each
// change's "old" is the previous "new", and version and lastModifiedDateTime follow the events. The schema's
// own case_operation_changes gives the row's values in the history's format.
func TestLoadedHistoryReplaysToTheRows(t *testing.T) {
	t.Parallel()
	ops, events := generate(3000, 3)
	pool := load(t, ops, events)
	ctx := context.Background()

	var nOps, nEvents int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM case_operations), (SELECT count(*) FROM case_operation_events)`).Scan(&nOps, &nEvents); err != nil {
		t.Fatal(err)
	}
	if nOps != len(ops) || nEvents != len(events) {
		t.Fatalf("%d operations and %d events loaded, want %d and %d", nOps, nEvents, len(ops), len(events))
	}
	if bad := storetest.UnreplayedOperations(t, pool); len(bad) > 0 {
		t.Fatalf("%d operations whose history does not replay to the row, e.g. %s", len(bad), bad[0])
	}
}

// A bulk load into empty tables drops their indexes and builds them at the end: the schema is then the
// migrated one exactly, and a second load, into tables that are no longer empty, keeps them.
func TestBulkLoadRebuildsTheIndexesItDeferred(t *testing.T) {
	t.Parallel()
	ops, events := generate(3000, 2)
	pool := load(t, ops, events)
	fresh := storetest.NewPool(t)
	if got, want := indexes(t, pool), indexes(t, fresh); got != want {
		t.Fatalf("indexes after a bulk load:\n%s\nwant\n%s", got, want)
	}
	ctx := context.Background()
	l, err := store.New(pool).NewBulkLoader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := l.DeferredIndexes(); n != 0 {
		t.Errorf("a load into tables with rows deferred %d indexes", n)
	}
	more, moreEvents := seed.New(500, 2, now, 7).Batch(0, 500, nil, nil)
	if err := l.Load(ctx, more, moreEvents); err != nil {
		t.Fatal(err)
	}
	if err := l.Finish(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := indexes(t, pool), indexes(t, fresh); got != want {
		t.Fatalf("indexes after a second load:\n%s\nwant\n%s", got, want)
	}
}

func indexes(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var s string
	err := pool.QueryRow(context.Background(), `SELECT string_agg(indexdef || coalesce(' -- ' || obj_description(i.indexrelid, 'pg_class'), ''), E'\n' ORDER BY indexname)
		FROM pg_indexes x JOIN pg_index i ON i.indexrelid = (quote_ident(x.schemaname) || '.' || quote_ident(x.indexname))::regclass
		WHERE tablename IN ('case_operations', 'case_operation_events')`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// COPY checks every constraint: a batch with one row the schema refuses writes nothing.
func TestBulkLoadRespectsConstraints(t *testing.T) {
	t.Parallel()
	pool := storetest.NewPool(t)
	ctx := context.Background()
	for name, spoil := range map[string]func(*store.BulkOperation){
		"progress over 100":                func(o *store.BulkOperation) { p := int32(101); o.PercentProgress = &p },
		"completed while running":          func(o *store.BulkOperation) { o.Status = store.StatusRunning },
		"completed before created":         func(o *store.BulkOperation) { c := o.CreatedDateTime.Add(-time.Hour); o.CompletedDateTime = &c },
		"createdBy that is no identitySet": func(o *store.BulkOperation) { o.CreatedBy = []byte(`{"user": {"id": 5}}`) },
	} {
		ops, events := seed.New(50, 1, now, 3).Batch(0, 50, nil, nil)
		for i := range ops {
			if ops[i].Status == store.StatusSucceeded {
				spoil(&ops[i])
				break
			}
		}
		l, err := store.New(pool).NewBulkLoader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		loadErr := l.Load(ctx, ops, events)
		if err := l.Finish(ctx, nil); err != nil {
			t.Fatal(err)
		}
		var invalid *store.InvalidError
		if !errors.As(loadErr, &invalid) {
			t.Errorf("%s: %v", name, loadErr)
		}
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM case_operations`).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: %d rows written (%v)", name, n, err)
		}
	}
}
