package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caseops/caseops/store"
	"github.com/caseops/caseops/store/storetest"
)

// waitFor polls cond until it holds, failing the test after a generous bound: a condition, never a sleep
// that guesses how long the machine needs.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// outcome is what a PATCH answered, in terms a client sees: the status it maps to and the state it left.
type outcome struct {
	Answer          string
	Status          store.Status
	PercentProgress *int32
	ResultCode      *int32
	Completed       bool
	Version         int64
	Changed         bool
	OldStatus       store.Status
}

func outcomeOf(op store.Operation, res store.PatchResult, err error) outcome {
	var invalid *store.InvalidError
	switch {
	case errors.Is(err, store.ErrPreconditionFailed):
		return outcome{Answer: "412"}
	case errors.Is(err, store.ErrInvalidTransition):
		return outcome{Answer: "409"}
	case errors.Is(err, store.ErrNotFound):
		return outcome{Answer: "404"}
	case errors.As(err, &invalid):
		return outcome{Answer: "400 " + invalid.Target}
	case errors.Is(err, store.ErrNotOwnProperty):
		return outcome{Answer: "400 own property"}
	case err != nil:
		return outcome{Answer: err.Error()}
	}
	o := outcome{Answer: "200", Status: op.Status, PercentProgress: op.PercentProgress, Completed: op.CompletedDateTime != nil,
		Version: op.Version, Changed: res.Changed, OldStatus: res.OldStatus}
	if op.ResultInfo != nil {
		o.ResultCode = op.ResultInfo.Code
	}
	return o
}

// mixedBatch is one PATCH of the mixed batch, given the operations it may name.
type mixedPatch struct {
	op    string // "x", "y", "z", or "missing"
	patch func(ops map[string]store.Operation) store.Patch
}

var mixedBatch = []mixedPatch{
	{"x", func(map[string]store.Operation) store.Patch {
		return store.Patch{PercentProgress: store.Some(ptr[int32](10))}
	}},
	{"y", func(map[string]store.Operation) store.Patch {
		return store.Patch{Status: store.Some(store.StatusSucceeded)}
	}},
	{"x", func(o map[string]store.Operation) store.Patch { // stale after the first
		return store.Patch{PercentProgress: store.Some(ptr[int32](20)), IfMatch: []store.Revision{o["x"].Revision()}}
	}},
	{"missing", func(map[string]store.Operation) store.Patch {
		return store.Patch{PercentProgress: store.Some(ptr[int32](1))}
	}},
	{"y", func(map[string]store.Operation) store.Patch {
		return store.Patch{Status: store.Some(store.StatusRunning)}
	}}, // succeeded: 409
	{"x", func(map[string]store.Operation) store.Patch { // a CHECK refuses it: not terminal
		return store.Patch{CompletedDateTime: store.Some(ptr(time.Now()))}
	}},
	{"x", func(o map[string]store.Operation) store.Patch { // sees the first: version 2
		return store.Patch{PercentProgress: store.Some(ptr[int32](30)), IfMatch: []store.Revision{{Version: 2, Created: o["x"].CreatedDateTime}}}
	}},
	{"z", func(map[string]store.Operation) store.Patch { // another type's property: a constraint refuses it
		return store.Patch{Props: store.PropsPatch{IndexedItemCount: store.Some(ptr[int64](5))}}
	}},
	{"y", func(o map[string]store.Operation) store.Patch {
		return store.Patch{PercentProgress: store.Some(ptr[int32](50)), IfMatch: []store.Revision{{Version: 2, Created: o["y"].CreatedDateTime}}}
	}},
	{"x", func(map[string]store.Operation) store.Patch {
		return store.Patch{ResultInfo: store.Some(&store.ResultInfoPatch{Code: store.Some(ptr[int32](7))})}
	}},
	{"z", func(map[string]store.Operation) store.Patch { return store.Patch{} }}, // changes nothing
	{"x", func(map[string]store.Operation) store.Patch {
		return store.Patch{Status: store.Some(store.StatusFailed)}
	}},
}

// createMixedOperations makes the operations the mixed batch names, with the same ids in every database.
func createMixedOperations(t *testing.T, s *store.Store) map[string]store.Operation {
	t.Helper()
	ops := map[string]store.Operation{}
	for name, n := range map[string]store.NewOperation{
		"x": {ID: uuid.MustParse("00000000-0000-4000-8000-00000000000a"), Status: store.StatusRunning},
		"y": {ID: uuid.MustParse("00000000-0000-4000-8000-00000000000b"), Status: store.StatusRunning},
		"z": {ID: uuid.MustParse("00000000-0000-4000-8000-00000000000c")},
	} {
		op, err := s.Create(context.Background(), "t1", n, audit)
		if err != nil {
			t.Fatal(err)
		}
		ops[name] = op
	}
	ops["missing"] = store.Operation{ID: uuid.MustParse("00000000-0000-4000-8000-0000000000ff")}
	return ops
}

// historyOf lists the events of the mixed batch's operations, oldest first, as (operation, kind, request id, changes)
// without the times the changes carry.
func historyOf(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	return queryStrings(t, pool, `
		SELECT operation_id::text || ' ' || kind::text || ' ' || request_id || ' ' || (changes - 'completedDateTime' - 'createdDateTime')::text
		FROM case_operation_events ORDER BY operation_id, seq`)
}

// A batch that mixes valid PATCHes with ones refused for each reason (a stale If-Match, a transition, an
// operation that does not exist, a CHECK and another constraint of the database) and several PATCHes of one
// operation answers each exactly as the same PATCHes sent one at a time, and leaves the same rows and history.
func TestCoalescedBatchAnswersEachAsAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	alonePool := storetest.NewPool(t)
	alone := store.NewWith(alonePool, store.Coalescing{Off: true})
	aloneOps := createMixedOperations(t, alone)
	var want []outcome
	for i, m := range mixedBatch {
		op, res, err := alone.Patch(ctx, "t1", aloneOps[m.op].ID, m.patch(aloneOps), store.Audit{RequestID: fmt.Sprint("req-", i)})
		want = append(want, outcomeOf(op, res, err))
	}

	pool := storetest.NewPool(t)
	s := store.NewWith(pool, store.Coalescing{MaxWait: time.Hour, MaxBatch: len(mixedBatch)})
	ops := createMixedOperations(t, s)
	blocker, err := s.Create(ctx, "t1", store.NewOperation{}, audit)
	if err != nil {
		t.Fatal(err)
	}
	// A PATCH held in the database by a row lock keeps a batch in flight, so the mixed PATCHes gather
	// behind it until their batch is full.
	lock, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback(ctx)
	if _, err := lock.Exec(ctx, `SELECT FROM case_operations WHERE id = $1 FOR UPDATE`, blocker.ID); err != nil {
		t.Fatal(err)
	}
	blocked := make(chan error, 1)
	go func() {
		_, _, err := s.Patch(ctx, "t1", blocker.ID, store.Patch{PercentProgress: store.Some(ptr[int32](1))}, audit)
		blocked <- err
	}()
	waitFor(t, "the blocking PATCH to wait for its row", func() bool {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n)
		return err == nil && n == 1
	})

	got := make([]outcome, len(mixedBatch))
	var wg sync.WaitGroup
	for i, m := range mixedBatch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			op, res, err := s.Patch(ctx, "t1", ops[m.op].ID, m.patch(ops), store.Audit{RequestID: fmt.Sprint("req-", i)})
			got[i] = outcomeOf(op, res, err)
		}()
		if i < len(mixedBatch)-1 { // arrival order is the order sent: each waits before the next is sent
			waitFor(t, fmt.Sprintf("PATCH %d to wait for its batch", i), func() bool { return s.CoalescingStats().Pending == i+1 })
		}
	}
	wg.Wait()
	if st := s.CoalescingStats(); st.Batches != 1 || st.Largest != int64(len(mixedBatch)) {
		t.Errorf("coalescing stats %+v: want the %d PATCHes in one batch", st, len(mixedBatch))
	}
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-blocked; err != nil {
		t.Fatalf("blocked PATCH: %v", err)
	}

	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("PATCH %d of %s: batched %+v, alone %+v", i, mixedBatch[i].op, got[i], want[i])
		}
	}
	// Every refused PATCH wrote nothing, every other wrote its own event: the histories match, request ids and all.
	wantHistory, gotHistory := historyOf(t, alonePool), historyOf(t, pool)
	gotHistory = without(gotHistory, blocker.ID.String())
	if !reflect.DeepEqual(gotHistory, wantHistory) {
		t.Errorf("history batched:\n%q\nalone:\n%q", gotHistory, wantHistory)
	}
}

// without drops the lines about operation id.
func without(lines []string, id string) []string {
	var out []string
	for _, l := range lines {
		if len(l) < len(id) || l[:len(id)] != id {
			out = append(out, l)
		}
	}
	return out
}

// A batch whose connection Postgres terminates in the middle of
// the transaction (some of its PATCHes written, one waiting for a row lock) has written nothing; it is sent
// again on another connection, and each PATCH is answered once it has committed, with exactly one event. A batch
// whose connection is terminated at every attempt is answered unavailable, and has written nothing. A request that
// leaves while its batch is in the database does not cancel the batch for the others.
func TestCoalescedBatchSurvivesItsConnectionsEnd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		terminated int
		cancel     bool
	}{{"terminated once", 1, false}, {"terminated at every attempt", 3, false}, {"one request cancelled", 0, true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool := storetest.NewPool(t)
			s := store.NewWith(pool, store.Coalescing{MaxWait: time.Hour, MaxBatch: 4})
			var ids []uuid.UUID
			for i := range 4 { // in key order, so the batch writes the first three before it waits for the last
				op, err := s.Create(ctx, "t1", store.NewOperation{ID: uuid.MustParse(fmt.Sprintf("00000000-0000-4000-8000-00000000000%d", i+1)), Status: store.StatusRunning}, audit)
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, op.ID)
			}
			locked := ids[3]
			lock, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer lock.Rollback(ctx)
			if _, err := lock.Exec(ctx, `SELECT FROM case_operations WHERE id = $1 FOR UPDATE`, locked); err != nil {
				t.Fatal(err)
			}
			type result struct {
				i   int
				err error
			}
			results := make(chan result, 5)
			cancelled, cancel := context.WithCancel(ctx)
			defer cancel()
			patch := func(i int, id uuid.UUID) {
				ctx := ctx
				if i == 1 && tc.cancel {
					ctx = cancelled
				}
				_, _, err := s.Patch(ctx, "t1", id, store.Patch{PercentProgress: store.Some(ptr[int32](int32(10 + i)))}, store.Audit{RequestID: fmt.Sprint("req-", i)})
				results <- result{i, err}
			}
			go patch(0, locked) // alone: it keeps a batch in the database while the others gather
			waitFor(t, "the lone PATCH to wait for its row", func() bool { return lockWaiters(t, pool, false) == 1 })
			for i, id := range ids {
				go patch(i+1, id)
			}
			// Each attempt of the batch writes the first three operations and waits for the fourth's lock.
			killed := []int{}
			for range tc.terminated {
				var pid int
				waitFor(t, "the batch to wait for the locked row", func() bool {
					pid = batchWaiting(t, pool, killed)
					return pid != 0
				})
				if _, err := pool.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
					t.Fatal(err)
				}
				killed = append(killed, pid)
			}
			if tc.terminated <= 1 {
				waitFor(t, "the batch to wait for the locked row", func() bool { return batchWaiting(t, pool, killed) != 0 })
			}
			if tc.cancel {
				cancel()
				if r := <-results; r.i != 1 || !errors.Is(r.err, context.Canceled) {
					t.Fatalf("PATCH %d: %v, want the cancelled one to return", r.i, r.err)
				}
			}
			var errs []result
			if tc.terminated > 1 {
				for range 4 {
					if r := <-results; r.i != 0 {
						errs = append(errs, r)
					}
				}
			}
			if err := lock.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
			for len(errs) < 5-btoi(tc.cancel) {
				errs = append(errs, <-results)
			}
			var perRequest map[string]int
			rows, _ := pool.Query(ctx, `SELECT request_id, count(*) FROM case_operation_events WHERE kind = 'updated' GROUP BY 1`)
			perRequest = map[string]int{}
			for rows.Next() {
				var id string
				var n int
				if err := rows.Scan(&id, &n); err != nil {
					t.Fatal(err)
				}
				perRequest[id] = n
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			wantEvents := map[string]int{}
			for _, r := range errs {
				switch {
				case r.i == 0 || tc.terminated <= 1:
					if r.err != nil {
						t.Errorf("PATCH %d: %v, want it applied", r.i, r.err)
					}
					wantEvents[fmt.Sprint("req-", r.i)] = 1
				case !errors.Is(r.err, store.ErrUnavailable) || errors.Is(r.err, store.ErrOutcomeUnknown):
					t.Errorf("PATCH %d: %v, want unavailable, and known to have written nothing", r.i, r.err)
				}
			}
			if tc.cancel { // sent before it left, it commits with its batch: it only has nobody to tell
				wantEvents["req-1"] = 1
			}
			if !reflect.DeepEqual(perRequest, wantEvents) {
				t.Errorf("events per request %v, want %v", perRequest, wantEvents)
			}
			// Versions follow the events: a PATCH that wrote nothing moved no row.
			var drift int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM case_operations o
				WHERE version <> (SELECT count(*) FROM case_operation_events e WHERE e.operation_id = o.id)`).Scan(&drift); err != nil || drift != 0 {
				t.Errorf("%d operations whose version is not their count of events (%v)", drift, err)
			}
		})
	}
}

// lockWaiters counts the backends of pool's database waiting for a lock, those that have written (hold a
// transaction id) when written is true, those that have not otherwise.
func lockWaiters(t *testing.T, pool *pgxpool.Pool, written bool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
		AND wait_event_type = 'Lock' AND (backend_xid IS NOT NULL) = $1`, written).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// batchWaiting is the pid of the backend of a batch that has written and waits for a lock, not one of except; 0 if none.
func batchWaiting(t *testing.T, pool *pgxpool.Pool, except []int) int {
	t.Helper()
	var pid int
	err := pool.QueryRow(context.Background(), `SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE datname = current_database()
		AND wait_event_type = 'Lock' AND backend_xid IS NOT NULL AND NOT pid = ANY($1)`, except).Scan(&pid)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
