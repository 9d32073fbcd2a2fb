package handlers_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/caseops/caseops/handlers"

	"github.com/caseops/caseops/store"
	"github.com/caseops/caseops/store/storetest"
)

// roundTrips counts what the service sends to Postgres: statements, prepares and batches (a batch, its
// statements pipelined, is one round trip).
type roundTrips struct {
	mu                         sync.Mutex
	queries, prepares, batches int
	lastSQL                    string
}

func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches++
	return ctx
}

func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (r *roundTrips) takeBatches() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.batches
	r.batches = 0
	return n
}

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queries++
	r.lastSQL = d.SQL
	return ctx
}

func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *roundTrips) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.prepares++
	return ctx
}

func (r *roundTrips) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}

func (r *roundTrips) take() (queries, prepares int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	q, p := r.queries, r.prepares
	r.queries, r.prepares = 0, 0
	return q, p
}

// Every PATCH, and every other request, is at most one round trip to Postgres, on a connection that prepared
// its statements in advance: alone, a PATCH is one statement, the update, the version check and the history
// insert together; PATCHes in flight together are one batch, one round trip for all of them.
func TestOneRoundTripPerRequest(t *testing.T) {
	t.Parallel()
	tracer := &roundTrips{}
	pool, err := store.Connect(context.Background(), storetest.NewDatabase(t), store.PoolConfig{MaxConns: 2, Tracer: tracer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := store.Warm(context.Background(), pool, 2); err != nil {
		t.Fatal(err)
	}
	st := store.New(pool)
	s := newServerWith(t, st, pool, handlers.Config{})
	tracer.take() // connection setup: the schema check and the prepares

	id := s.create(`{"status": "running"}`)["id"].(string)
	if q, p := tracer.take(); q != 1 || p != 0 {
		t.Errorf("POST: %d statements and %d prepares, want 1 and 0", q, p)
	}
	for i, body := range []string{`{"percentProgress": 10}`, `{"percentProgress": 20, "resultInfo": {"code": 1}}`, `{"percentProgress": 20}`, `{"status": "succeeded"}`} {
		if r := s.do("PATCH", "/beta/tagOperations/"+id, body, "If-Match", "*"); r.status != 200 {
			t.Fatalf("PATCH %s: %d %s", body, r.status, r.body)
		}
		if q, p := tracer.take(); q != 1 || p != 0 {
			t.Errorf("PATCH %d: %d statements and %d prepares, want 1 and 0", i, q, p)
		}
	}
	if r := s.do("GET", "/beta/tagOperations/"+id, ""); r.status != 200 {
		t.Fatal(r.status)
	}
	if q, p := tracer.take(); q != 1 || p != 0 {
		t.Errorf("GET: %d statements and %d prepares", q, p)
	}
	// The history and overview reads are not prepared when a connection opens: their first use may prepare them.
	for _, path := range []string{"/beta/tagOperations/" + id + "/history", "/beta/tagOperations/overview"} {
		if r := s.do("GET", path, ""); r.status != 200 {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		if q, p := tracer.take(); q != 1 || p > 1 {
			t.Errorf("GET %s: %d statements and %d prepares, want 1 and at most 1", path, q, p)
		}
	}
	if r := s.do("DELETE", "/beta/tagOperations/"+id, ""); r.status != 204 {
		t.Fatal(r.status)
	}
	if q, p := tracer.take(); q != 1 || p != 0 {
		t.Errorf("DELETE: %d statements and %d prepares", q, p)
	}
	if n := len(s.events(id)); n != 5 {
		t.Errorf("%d history events, want 5", n)
	}

	// Concurrent PATCHes: each is one statement alone or shares the one round trip of its batch.
	const writers, rounds = 16, 8
	ids := make([]string, writers)
	for i := range ids {
		ids[i] = s.create(`{"status": "running"}`)["id"].(string)
	}
	tracer.take()
	tracer.takeBatches()
	before := st.CoalescingStats()
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range rounds {
				if r := s.do("PATCH", "/beta/tagOperations/"+ids[i], fmt.Sprintf(`{"percentProgress": %d}`, n+1)); r.status != 200 {
					t.Errorf("PATCH: %d %s", r.status, r.body)
				}
			}
		}()
	}
	wg.Wait()
	after := st.CoalescingStats()
	q, p := tracer.take()
	batches, coalesced := tracer.takeBatches(), int(after.Patches-before.Patches)
	if p != 0 || int64(batches) != after.Batches-before.Batches || q+coalesced != writers*rounds {
		t.Errorf("%d PATCHes: %d statements alone, %d prepares, %d batches in %d round trips with %d PATCHes; want every "+
			"PATCH alone or in a batch, one round trip per batch and no prepare", writers*rounds, q, p, after.Batches-before.Batches, batches, coalesced)
	}
	t.Logf("%d PATCHes in %d round trips: %d alone, %d in %d batches", writers*rounds, q+batches, q, coalesced, batches)

	// The security paths: one statement per request as well. Only a 404 on a case's operation path, or an
	// empty list or a zero $count there, reads the case a second time, to say whether the case exists.
	// Lists, counts and the case statements are not among the statements prepared when a connection opens,
	// so their first use on a connection also prepares them (at most one prepare per statement).
	for _, version := range versions {
		cases := version + "/security/cases/ediscoveryCases"
		caseID := s.createCase(version, `{"displayName": "Round trips"}`)["id"].(string)
		ops := cases + "/" + caseID + "/operations"
		tracer.take()
		opID := ""
		for _, c := range []struct {
			method, path, body string
			status, statements int
		}{
			{"GET", ops, "", 200, 2}, // empty: is there such a case?
			{"GET", ops + "/$count", "", 200, 2},
			{"POST", ops, `{"status": "running"}`, 201, 1},
			{"GET", ops, "", 200, 1},
			{"GET", ops + "/$count", "", 200, 1},
			{"GET", ops + "/{op}", "", 200, 1},
			{"GET", ops + "/{op}/history", "", 200, 1},
			{"GET", ops + "/overview", "", 200, 1}, // the case's existence is read in the same statement
			{"GET", cases + "/05de44a5-44a5-05de-a544-de05a544de05/operations/overview", "", 404, 1},
			{"PATCH", ops + "/{op}", `{"percentProgress": 10}`, 200, 1},
			{"PATCH", ops + "/{op}", `{"status": "succeeded"}`, 200, 1},
			{"GET", cases + "/05de44a5-44a5-05de-a544-de05a544de05/operations/{op}", "", 404, 2}, // which is missing?
			{"GET", cases + "/05de44a5-44a5-05de-a544-de05a544de05/operations/{op}/history", "", 404, 2},
			{"DELETE", ops + "/{op}", "", 204, 1},
			{"GET", cases, "", 200, 1},
			{"GET", cases + "/" + caseID, "", 200, 1},
			{"PATCH", cases + "/" + caseID, `{"description": "d"}`, 200, 1},
			{"POST", cases + "/" + caseID + "/close", "", 204, 1},
			{"POST", cases + "/" + caseID + "/reopen", "", 204, 1},
			{"DELETE", cases + "/" + caseID, "", 204, 1},
			{"POST", cases, `{"displayName": "Another"}`, 201, 1},
		} {
			path := strings.ReplaceAll(c.path, "{op}", opID)
			r := s.do(c.method, path, c.body)
			if r.status != c.status {
				t.Fatalf("%s %s: %d %s, want %d", c.method, path, r.status, r.body, c.status)
			}
			if c.method == "POST" && strings.HasSuffix(path, "/operations") {
				opID = r.json(t)["id"].(string)
			}
			if q, p := tracer.take(); q != c.statements || p > c.statements {
				t.Errorf("%s %s: %d statements and %d prepares, want %d and at most as many prepares", c.method, path, q, p, c.statements)
			}
		}
	}
}
