package store_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caseops/caseops/store"
	"github.com/caseops/caseops/store/storetest"
)

func ptr[T any](v T) *T { return &v }

func newStore(t *testing.T) (*store.Store, *pgxpool.Pool) {
	t.Helper()
	pool := storetest.NewPool(t)
	return store.New(pool), pool
}

var audit = store.Audit{RequestID: "req-1", Actor: &store.IdentitySet{User: &store.Identity{ID: ptr("u1"), DisplayName: ptr("Ada")}}}

// events returns the history of one operation as (kind, changes) pairs, oldest first.
func events(t *testing.T, pool *pgxpool.Pool, id uuid.UUID) []string {
	t.Helper()
	return queryStrings(t, pool, `SELECT kind::text || ' ' || changes::text FROM case_operation_events
		WHERE operation_id = $1 ORDER BY seq`, id)
}

// queryStrings runs a query of one text column and returns its rows.
func queryStrings(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) []string {
	t.Helper()
	rows, _ := pool.Query(context.Background(), sql, args...)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCreatePatchDeleteRecordsHistory(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()

	op, err := s.Create(ctx, "t1", store.NewOperation{PercentProgress: ptr[int32](5)}, audit)
	if err != nil {
		t.Fatal(err)
	}
	if op.Status != store.StatusNotStarted || op.Action != store.ActionApplyTags || op.Version != 1 || *op.PercentProgress != 5 {
		t.Fatalf("created %+v", op)
	}
	got, err := s.Get(ctx, "t1", op.ID)
	if err != nil || got.Version != 1 {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := s.Get(ctx, "t2", op.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("other tenant: %v", err)
	}

	p := store.Patch{Status: store.Some(store.StatusRunning), PercentProgress: store.Some(ptr[int32](40)),
		CreatedBy: store.Some(&store.IdentitySetPatch{User: store.Some(&store.IdentityPatch{ID: store.Some(ptr("u2"))})})}
	up, res, err := s.Patch(ctx, "t1", op.ID, p, audit)
	if err != nil {
		t.Fatal(err)
	}
	if up.Status != store.StatusRunning || *up.PercentProgress != 40 || up.Version != 2 || *up.CreatedBy.User.ID != "u2" {
		t.Fatalf("patched %+v", up)
	}
	if want := (store.PatchResult{Changed: true, OldStatus: store.StatusNotStarted}); res != want {
		t.Fatalf("patch result %+v, want %+v", res, want)
	}
	same, res, err := s.Patch(ctx, "t1", op.ID, p, audit)
	if err != nil || same.Version != 2 || res != (store.PatchResult{Changed: false, OldStatus: store.StatusRunning}) {
		t.Fatalf("no-op patch: %+v %+v %v", same, res, err)
	}
	done, res, err := s.Patch(ctx, "t1", op.ID, store.Patch{Status: store.Some(store.StatusSucceeded)}, audit)
	if err != nil || done.CompletedDateTime == nil || done.CompletedDateTime.Before(done.CreatedDateTime) ||
		res != (store.PatchResult{Changed: true, OldStatus: store.StatusRunning}) {
		t.Fatalf("succeeded: %+v %+v %v", done, res, err)
	}
	if _, _, err := s.Patch(ctx, "t1", op.ID, store.Patch{Status: store.Some(store.StatusRunning)}, audit); !errors.Is(err, store.ErrInvalidTransition) {
		t.Fatalf("terminal -> running: %v", err)
	}
	if _, _, err := s.Patch(ctx, "t1", op.ID, store.Patch{PercentProgress: store.Some(ptr[int32](1)), IfMatch: []store.Revision{op.Revision()}}, audit); !errors.Is(err, store.ErrPreconditionFailed) {
		t.Fatalf("stale: %v", err)
	}
	if err := s.Delete(ctx, "t1", op.ID, nil, audit); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "t1", op.ID, nil, audit); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	ev := events(t, pool, op.ID)
	if len(ev) != 4 {
		t.Fatalf("events: %q", ev)
	}
	want := []string{"created", "updated", "updated", "deleted"}
	for i, e := range ev {
		if !strings.HasPrefix(e, want[i]+" {") {
			t.Errorf("event %d is %q, want a %s event", i, e, want[i])
		}
	}
}

// The history cannot be emptied, and a direct SQL change still moves the version so that stale ETags fail.
func TestHistoryIsKeptAndDirectWritesMoveTheVersion(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()
	op, err := s.Create(ctx, "t1", store.NewOperation{}, audit)
	if err != nil {
		t.Fatal(err)
	}
	var pgErr *pgconn.PgError
	if _, err := pool.Exec(ctx, `TRUNCATE case_operation_events`); !errors.As(err, &pgErr) || pgErr.ConstraintName != "case_operation_events_append_only" {
		t.Fatalf("TRUNCATE: %v", err)
	}
	if _, err := pool.Exec(ctx, `UPDATE case_operations SET percent_progress = 5 WHERE id = $1`, op.ID); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "t1", op.ID)
	if err != nil || got.Version != 2 || !got.LastModifiedDateTime.After(op.LastModifiedDateTime) {
		t.Fatalf("after a direct update: version %d, modified %s (was %s), %v", got.Version, got.LastModifiedDateTime, op.LastModifiedDateTime, err)
	}
	if _, _, err := s.Patch(ctx, "t1", op.ID, store.Patch{PercentProgress: store.Some(ptr[int32](9)), IfMatch: []store.Revision{op.Revision()}}, audit); !errors.Is(err, store.ErrPreconditionFailed) {
		t.Fatalf("a stale version after a direct update: %v", err)
	}
}

// An operation deleted and created again with the same id counts its versions from 1 again, so a
// revision of the old one must not match the new one, though the version numbers are equal.
func TestRevisionsOfADeletedOperationNeverMatchItsSuccessor(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	id := uuid.New()
	progress := store.Patch{PercentProgress: store.Some(ptr[int32](5))}
	first, err := s.Create(ctx, "t1", store.NewOperation{ID: id}, audit)
	if err != nil {
		t.Fatal(err)
	}
	old, _, err := s.Patch(ctx, "t1", id, progress, audit)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "t1", id, []store.Revision{first.Revision()}, audit); !errors.Is(err, store.ErrPreconditionFailed) {
		t.Fatalf("delete with an older revision: %v", err)
	}
	if err := s.Delete(ctx, "t1", id, []store.Revision{old.Revision()}, audit); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "t1", store.NewOperation{ID: id}, audit); err != nil {
		t.Fatal(err)
	}
	current, _, err := s.Patch(ctx, "t1", id, progress, audit)
	if err != nil {
		t.Fatal(err)
	}
	if current.Version != old.Version || !current.CreatedDateTime.After(old.CreatedDateTime) {
		t.Fatalf("the successor is at version %d created %s; the deleted one was at %d created %s",
			current.Version, current.CreatedDateTime, old.Version, old.CreatedDateTime)
	}
	stale := []store.Revision{old.Revision()}
	if _, _, err := s.Patch(ctx, "t1", id, store.Patch{PercentProgress: store.Some(ptr[int32](6)), IfMatch: stale}, audit); !errors.Is(err, store.ErrPreconditionFailed) {
		t.Fatalf("patch with the deleted operation's revision: %v", err)
	}
	if err := s.Delete(ctx, "t1", id, stale, audit); !errors.Is(err, store.ErrPreconditionFailed) {
		t.Fatalf("delete with the deleted operation's revision: %v", err)
	}
	got, err := s.Get(ctx, "t1", id)
	if err != nil || !reflect.DeepEqual(got, current) {
		t.Fatalf("after the refused writes: %+v, %v; want %+v", got, err, current)
	}
	if err := s.Delete(ctx, "t1", id, []store.Revision{old.Revision(), current.Revision()}, audit); err != nil {
		t.Fatalf("delete naming the current revision among others: %v", err)
	}
}

// Writes made straight in SQL get their history too (migration 00006), without an actor or a request id;
// the service's own writes get exactly one event each, with theirs.
func TestDirectSQLWritesAreRecorded(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()
	id := uuid.New()
	history := func() []string {
		t.Helper()
		rows, _ := pool.Query(ctx, `SELECT kind::text || ' ' || coalesce(actor_user_id, '-') || ' ' || coalesce(request_id, '-') || ' ' || changes::text
			FROM case_operation_events WHERE tenant_id = 't1' AND operation_id = $1 ORDER BY seq`, id)
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	exec := func(sql string) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, id); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`INSERT INTO case_operations (tenant_id, id, status, percent_progress, created_date_time) VALUES ('t1', $1, 'running', 5, '2026-01-01T00:00:00Z')`)
	exec(`UPDATE case_operations SET percent_progress = 6 WHERE tenant_id = 't1' AND id = $1`)
	exec(`UPDATE case_operations SET last_modified_date_time = last_modified_date_time + interval '1 second' WHERE tenant_id = 't1' AND id = $1`) // no property moves
	if _, _, err := s.Patch(ctx, "t1", id, store.Patch{PercentProgress: store.Some(ptr[int32](7))}, audit); err != nil {
		t.Fatal(err)
	}
	exec(`DELETE FROM case_operations WHERE tenant_id = 't1' AND id = $1`)
	want := []string{
		`created - - {"action": {"new": "applyTags", "old": null}, "status": {"new": "running", "old": null}, "createdDateTime": {"new": "2026-01-01T00:00:00.000000Z", "old": null}, "percentProgress": {"new": 5, "old": null}}`,
		`updated - - {"percentProgress": {"new": 6, "old": 5}}`,
		`updated u1 req-1 {"percentProgress": {"new": 7, "old": 6}}`,
		`deleted - - {"action": {"new": null, "old": "applyTags"}, "status": {"new": null, "old": "running"}, "createdDateTime": {"new": null, "old": "2026-01-01T00:00:00.000000Z"}, "percentProgress": {"new": null, "old": 7}}`,
	}
	if got := history(); !slices.Equal(got, want) {
		t.Errorf("history\n got %q\nwant %q", got, want)
	}
}

// A write that waits too long for a row lock is "unavailable, retry later", and the error the log gets
// says why in Postgres's words, not only its SQLSTATE.
func TestUnavailableErrorsSayWhy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := storetest.NewDatabase(t)
	pool, err := store.Connect(ctx, url, store.PoolConfig{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `SET lock_timeout = '100ms'`); err != nil { // the pool's one connection
		t.Fatal(err)
	}
	s := store.New(pool)
	op, err := s.Create(ctx, "t1", store.NewOperation{}, audit)
	if err != nil {
		t.Fatal(err)
	}
	locker, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close(ctx)
	tx, err := locker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT FROM case_operations WHERE id = $1 FOR UPDATE`, op.ID); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Patch(ctx, "t1", op.ID, store.Patch{PercentProgress: store.Some(ptr[int32](50))}, audit)
	if want := "database unavailable: canceling statement due to lock timeout (SQLSTATE 55P03)"; !errors.Is(err, store.ErrUnavailable) || err.Error() != want {
		t.Errorf("Patch on a locked row: %v, want %q", err, want)
	}
}
