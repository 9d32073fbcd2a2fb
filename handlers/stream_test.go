package handlers_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caseops/caseops/handlers"
	"github.com/caseops/caseops/handlers/auth"
	"github.com/caseops/caseops/store"
	"github.com/caseops/caseops/store/storetest"
)

// newStreamServer is a test server whose change streams are served by a watcher of its own, over pool
// (a new database when nil): two of them on one pool are two processes on one database.
func newStreamServer(t *testing.T, pool *pgxpool.Pool, cfg handlers.Config) *testServer {
	t.Helper()
	if pool == nil {
		pool = storetest.NewPool(t)
	}
	st := store.New(pool)
	cfg.Streams = startWatcher(t, st)
	return newServerWith(t, st, pool, cfg)
}

// startWatcher runs a watcher over st until the test ends; register it before the server that uses it, whose
// cleanup (cleanups run last registered first) then closes the server first.
func startWatcher(t *testing.T, st *store.Store) *store.Watcher {
	w := store.NewWatcher(st, slog.New(slog.NewTextHandler(io.Discard, nil)), 64)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	return w
}

// sseEvent is one event of a stream: its id and its data, decoded.
type sseEvent struct {
	id   string
	data map[string]any
}

// stream is an open change stream, read event by event.
type stream struct {
	t      *testing.T
	res    *http.Response
	events chan sseEvent
	closed chan struct{}
}

// openStream GETs a stream (headers as for do) and waits for its first comment, so that every change
// committed after openStream returns is owed to it.
func (s *testServer) openStream(path string, headers ...string) *stream {
	s.t.Helper()
	req, err := http.NewRequest("GET", s.url+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		s.t.Fatalf("GET %s: %d %s %s", path, res.StatusCode, res.Header.Get("Content-Type"), b)
	}
	st := &stream{t: s.t.(*testing.T), res: res, events: make(chan sseEvent, 1000), closed: make(chan struct{})}
	connected := make(chan struct{})
	go func() {
		defer close(st.closed)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		first := true
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, ":"):
				if first {
					close(connected)
					first = false
				}
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = nil
				dec := json.NewDecoder(strings.NewReader(strings.TrimPrefix(line, "data: ")))
				dec.UseNumber()
				if err := dec.Decode(&ev.data); err != nil {
					st.t.Errorf("event data is not JSON: %s", line)
				}
			case line == "" && ev.data != nil:
				st.events <- ev
				ev = sseEvent{}
			}
		}
	}()
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		s.t.Fatalf("stream %s sent nothing", path)
	}
	s.t.Cleanup(st.close)
	return st
}

func (st *stream) close() {
	st.res.Body.Close()
	<-st.closed
}

// next returns the stream's next event, failing the test if none comes within 10 s.
func (st *stream) next() sseEvent {
	st.t.Helper()
	select {
	case ev := <-st.events:
		return ev
	case <-time.After(10 * time.Second):
		st.t.Fatal("no event within 10 s")
	}
	return sseEvent{}
}

// take returns the next n events.
func (st *stream) take(n int) []sseEvent {
	st.t.Helper()
	out := make([]sseEvent, n)
	for i := range out {
		out[i] = st.next()
	}
	return out
}

// quiet checks that no event is waiting: after a later event arrived, nothing earlier can still come.
func (st *stream) quiet(what string) {
	st.t.Helper()
	select {
	case ev := <-st.events:
		st.t.Errorf("%s: unexpected event %v", what, ev.data)
	default:
	}
}

func dataOf(events []sseEvent) []any {
	out := make([]any, len(events))
	for i, ev := range events {
		out[i] = ev.data
	}
	return out
}

// Every committed change of the tenant's operations arrives as an event holding the entity as GET answers it,
// in commit order; a deleted one as removed. Another tenant's never arrive.
func TestStreamDeliversChanges(t *testing.T) {
	t.Parallel()
	s := newStreamServer(t, nil, handlers.Config{})
	other := *s
	other.token = mint(t, auth.MintOptions{Tenant: "other", Scopes: auth.PermissionReadWrite, UserID: "o"})
	st := s.openStream("/beta/tagOperations/stream")

	a := s.create(`{"status": "running", "percentProgress": 0}`)["id"].(string)
	other.create(`{}`)
	b := s.create(`{}`)["id"].(string)
	got := st.take(2)
	assertValues(t, "creates", dataOf(got), []any{s.entity(t, a), s.entity(t, b)})
	if r := s.do("PATCH", "/beta/tagOperations/"+a, `{"percentProgress": 50}`); r.status != 200 {
		t.Fatal(r.status)
	}
	if r := s.do("DELETE", "/beta/tagOperations/"+b, ""); r.status != 204 {
		t.Fatal(r.status)
	}
	got = st.take(2)
	assertValues(t, "patch then delete", dataOf(got), []any{s.entity(t, a), removed(b)})
	// A change straight in SQL is announced by the database itself.
	if _, err := s.pool.Exec(context.Background(), `UPDATE case_operations SET percent_progress = 60 WHERE id = $1`, a); err != nil {
		t.Fatal(err)
	}
	assertValues(t, "direct SQL", dataOf(st.take(1)), []any{s.entity(t, a)})
	st.quiet("after the direct write")
}

// A client that reconnects with Last-Event-ID receives every change it missed, once and in order, a
// transaction that commits late included; then the live ones.
func TestStreamResumesWithLastEventID(t *testing.T) {
	t.Parallel()
	s := newStreamServer(t, nil, handlers.Config{})
	ctx := context.Background()
	x := s.create(`{"status": "running", "percentProgress": 0}`)["id"].(string)
	st := s.openStream("/beta/tagOperations/stream")
	y := s.create(`{}`)["id"].(string)
	first := st.next()
	assertValues(t, "first", []any{first.data}, []any{s.entity(t, y)})
	st.close()

	// While the client is away: a transaction changes x and stays open, y changes and commits, z is created.
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `UPDATE case_operations SET percent_progress = 77 WHERE tenant_id = 'dev' AND id = $1`, x); err != nil {
		t.Fatal(err)
	}
	if r := s.do("PATCH", "/beta/tagOperations/"+y, `{"percentProgress": 5}`); r.status != 200 {
		t.Fatal(r.status)
	}
	z := s.create(`{}`)["id"].(string)

	back := s.openStream("/beta/tagOperations/stream", "Last-Event-ID", first.id)
	missed := back.take(2)
	assertValues(t, "missed while away", dataOf(missed), []any{s.entity(t, y), s.entity(t, z)})
	back.quiet("before the late commit")
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	late := back.next()
	assertValues(t, "the late commit", []any{late.data}, []any{s.entity(t, x)})

	// Resuming from any event gives exactly what followed it.
	again := s.openStream("/beta/tagOperations/stream", "Last-Event-ID", missed[0].id)
	assertValues(t, "from the first missed event", dataOf(again.take(2)), []any{s.entity(t, z), s.entity(t, x)})
	again.quiet("after catching up")

	for _, bad := range []string{"nope", base64Encode([]byte(`{"v":1,"s":"1:1:","u":"100000000:100000000:","q":0}`))} {
		req, _ := http.NewRequest("GET", s.url+"/beta/tagOperations/stream", nil)
		req.Header.Set("Authorization", "Bearer "+s.token)
		req.Header.Set("Last-Event-ID", bad)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 400 || !strings.Contains(string(b), `"target":"Last-Event-ID"`) {
			t.Errorf("Last-Event-ID %q: %d %s", bad, res.StatusCode, b)
		}
	}
}

// Under a case a stream sees that case's operations only, with $filter and $select applied as a list does.
func TestCaseStream(t *testing.T) {
	t.Parallel()
	s := newStreamServer(t, nil, handlers.Config{})
	cases := "/v1.0/security/cases/ediscoveryCases/"
	caseA, caseB := s.createCase("/v1.0", `{"displayName": "A"}`)["id"].(string), s.createCase("/v1.0", `{"displayName": "B"}`)["id"].(string)
	opsA, opsB := cases+caseA+"/operations", cases+caseB+"/operations"
	all := s.openStream(opsA + "/stream")
	running := s.openStream(opsA + "/stream?$select=status,indexedItemCount&$filter=" + "status%20eq%20%27running%27")
	create := func(ops, body string) string {
		r := s.do("POST", ops, body)
		if r.status != 201 {
			t.Fatalf("POST %s: %d %s", ops, r.status, r.body)
		}
		return r.json(t)["id"].(string)
	}
	get := func(id string) map[string]any { return s.entityOf(t, opsA, id) }
	// Another case's and the default case's changes come first, and never arrive.
	create(opsB, `{"status": "running"}`)
	s.create(`{"status": "running"}`)
	a1 := create(opsA, `{"@odata.type": "#microsoft.graph.security.ediscoveryEstimateOperation", "indexedItemCount": 3}`)
	assertValues(t, "a1 created", dataOf(all.take(1)), []any{get(a1)})
	a2 := create(opsA, `{"status": "running"}`)
	assertValues(t, "a2 created", dataOf(all.take(1)), []any{get(a2)})
	if r := s.do("PATCH", opsA+"/"+a1, `{"status": "running"}`); r.status != 200 {
		t.Fatal(r.status, string(r.body))
	}
	assertValues(t, "a1 running", dataOf(all.take(1)), []any{get(a1)})
	selected := func(id string, own map[string]any) map[string]any {
		e := get(id)
		out := map[string]any{"@odata.type": e["@odata.type"], "@odata.etag": e["@odata.etag"], "id": id, "status": "running"}
		for k, v := range own {
			out[k] = v
		}
		return out
	}
	// The filtered stream saw a1 only once it was running, and sends what $select names.
	assertValues(t, "running, selected", dataOf(running.take(2)), []any{selected(a2, nil), selected(a1, map[string]any{"indexedItemCount": json.Number("3")})})
	all.quiet("the whole case")
	running.quiet("the running ones")

	// An unknown case is 404; an option a stream does not take is 400.
	assertError(t, s.do("GET", cases+"4f5b3a0e-2c1d-4e8f-9a7b-6c5d4e3f2a1b/operations/stream", ""), 404, "notFound", "")
	assertError(t, s.do("GET", opsA+"/stream?$top=1", ""), 400, "badRequest", "$top")
}

// Two processes on one database: a change written through either reaches the streams of both.
func TestStreamAcrossProcesses(t *testing.T) {
	t.Parallel()
	one := newStreamServer(t, nil, handlers.Config{})
	two := newStreamServer(t, one.pool, handlers.Config{})
	onOne, onTwo := one.openStream("/beta/tagOperations/stream"), two.openStream("/beta/tagOperations/stream")
	a := one.create(`{}`)["id"].(string)
	b := two.create(`{}`)["id"].(string)
	want := []any{one.entity(t, a), one.entity(t, b)}
	assertValues(t, "on the first process", dataOf(onOne.take(2)), want)
	assertValues(t, "on the second process", dataOf(onTwo.take(2)), want)
	// A position one process issued resumes on the other.
	if r := one.do("PATCH", "/beta/tagOperations/"+a, `{"percentProgress": 9}`); r.status != 200 {
		t.Fatal(r.status)
	}
	last := onOne.next()
	c := one.create(`{}`)["id"].(string)
	resumed := two.openStream("/beta/tagOperations/stream", "Last-Event-ID", last.id)
	assertValues(t, "resumed on the other process", dataOf(resumed.take(1)), []any{one.entity(t, c)})
	resumed.quiet("after resuming")
}

// Past the limit a new stream is refused with 503 and Retry-After, and the count is a metric.
func TestStreamLimit(t *testing.T) {
	t.Parallel()
	s := newStreamServer(t, nil, handlers.Config{MaxStreams: 1, ServeMetrics: true})
	first := s.openStream("/beta/tagOperations/stream")
	r := s.do("GET", "/beta/tagOperations/stream", "")
	assertError(t, r, 503, "serviceUnavailable", "")
	if r.header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}
	metrics := s.do("GET", "/metrics", "", "Authorization", "")
	if !strings.Contains(string(metrics.body), "\ncaseops_streams_open 1\n") {
		t.Errorf("/metrics does not count the open stream:\n%.2000s", metrics.body)
	}
	first.close()
	waitFor(t, 10*time.Second, func() bool {
		return strings.Contains(string(s.do("GET", "/metrics", "", "Authorization", "").body), "\ncaseops_streams_open 0\n")
	}, "the closed stream to be counted out")
	s.openStream("/beta/tagOperations/stream")
}

// The watcher's connections are lost (a failover, an administrator's pg_terminate_backend): the open stream
// stays open, and a change made while they were gone arrives once they are back.
func TestStreamSurvivesLostConnections(t *testing.T) {
	t.Parallel()
	s := newStreamServer(t, nil, handlers.Config{})
	ctx := context.Background()
	st := s.openStream("/beta/tagOperations/stream")
	a := s.create(`{}`)["id"].(string)
	assertValues(t, "before", dataOf(st.take(1)), []any{s.entity(t, a)})

	// The notify connection is dialled for the first write and may still be on its way when the event arrives.
	const watchers = `FROM pg_stat_activity WHERE datname = current_database()
		AND application_name IN ('caseops listen', 'caseops change streams', 'caseops notify')`
	var n int
	waitFor(t, 10*time.Second, func() bool {
		return s.pool.QueryRow(ctx, `SELECT count(*) `+watchers).Scan(&n) == nil && n == 3
	}, "the watcher's 3 connections")
	if err := s.pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) `+watchers).Scan(&n); err != nil || n != 3 {
		t.Fatalf("terminated %d of the watcher's 3 connections: %v", n, err)
	}
	if r := s.do("PATCH", "/beta/tagOperations/"+a, `{"percentProgress": 3}`); r.status != 200 {
		t.Fatal(r.status)
	}
	assertValues(t, "after the connections came back", dataOf(st.take(1)), []any{s.entity(t, a)})
	st.quiet("after")
}
