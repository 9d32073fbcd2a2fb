package handlers_test

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/caseops/caseops/store"
	"github.com/caseops/caseops/store/storetest"
)

// roundTrips counts what the service sends to Postgres: statements and prepares.
type roundTrips struct {
	mu                sync.Mutex
	queries, prepares int
	lastSQL           string
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

// Every PATCH, and every other request, is exactly one statement on a connection that prepared it in advance:
// one round trip to Postgres, the update, the version check and the history insert together.
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
	s := newTestServerOn(t, pool)
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
	if r := s.do("DELETE", "/beta/tagOperations/"+id, ""); r.status != 204 {
		t.Fatal(r.status)
	}
	if q, p := tracer.take(); q != 1 || p != 0 {
		t.Errorf("DELETE: %d statements and %d prepares", q, p)
	}
	if n := len(s.events(id)); n != 5 {
		t.Errorf("%d history events, want 5", n)
	}
}
