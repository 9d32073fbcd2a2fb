package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caseops/caseops/store"
	"github.com/caseops/caseops/store/storetest"
)

// answer is one HTTP response of the frozen-database test.
type answer struct {
	status  int
	header  http.Header
	body    map[string]any
	message string // error.message, for an error
}

func sendWithHeaders(t *testing.T, method, url, token, body string, header ...string) answer {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	res, err := client.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, url, err)
		return answer{}
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	a := answer{status: res.StatusCode, header: res.Header}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &a.body); err != nil {
			t.Errorf("%s %s answered %d with a body that is not JSON: %s", method, url, res.StatusCode, b)
		}
		if e, ok := a.body["error"].(map[string]any); ok {
			a.message, _ = e["message"].(string)
		}
	}
	return a
}

// freeze stops the given backends of the test's own database with SIGSTOP until the returned thaw, which
// t.Cleanup also calls, whatever happens. The postmaster and other databases' backends are never touched.
func freeze(t *testing.T, pids []int) (thaw func()) {
	t.Helper()
	var once sync.Once
	thaw = func() {
		once.Do(func() {
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGCONT)
			}
		})
	}
	t.Cleanup(thaw)
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			thaw()
			if errors.Is(err, syscall.EPERM) {
				t.Skipf("cannot SIGSTOP the Postgres backends (%v): this test must run as the user Postgres runs as, or as root", err)
			}
			t.Fatalf("SIGSTOP backend %d: %v", pid, err)
		}
	}
	return thaw
}

// A frozen Postgres (every backend of the service's database stopped, as a server stalled under load is) answers
// nothing, so writes sent to it are answered 503 at the request timeout. Those 503s must mean what they say: after
// the thaw, the writes the database reaches late write nothing, and a POST repeated with its
// Repeatability-Request-ID creates the operation once.
func TestFrozenDatabaseCommitsNoWriteAnswered503(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := storetest.NewDatabase(t)
	const requestTimeout = 2 * time.Second
	s := serve(t, map[string]string{"DATABASE_URL": dbURL, "CASEOPS_JWT_SECRET": opsTestSecret,
		"CASEOPS_REQUEST_TIMEOUT": requestTimeout.String(), "CASEOPS_DB_MAX_CONNS": "2"})
	token := opsToken(t)
	admin, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	count := func(query string, args ...any) int {
		t.Helper()
		var n int
		if err := admin.QueryRow(ctx, query, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return n
	}

	created := sendWithHeaders(t, "POST", s.base+"/beta/tagOperations", token, `{"status": "running"}`)
	if created.status != 201 {
		t.Fatalf("POST: %d %v", created.status, created.body)
	}
	id, _ := created.body["id"].(string)
	entity := s.base + "/beta/tagOperations/" + id

	// Both connections of the pool serve a PATCH held by a row lock, so that both are fresh when the backends
	// freeze: a connection idle for a second is pinged before use, and the ping would meet the frozen backend
	// instead of the write.
	tx, err := admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT FROM case_operations WHERE id = $1 FOR UPDATE`, id); err != nil {
		t.Fatal(err)
	}
	var held sync.WaitGroup
	for _, progress := range []string{"10", "20"} {
		held.Go(func() {
			if a := sendWithHeaders(t, "PATCH", entity, token, `{"percentProgress": `+progress+`}`); a.status != 200 {
				t.Errorf("PATCH held by the lock: %d %v", a.status, a.body)
			}
		})
	}
	waitFor(t, 10*time.Second, func() bool {
		return count(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`) == 2
	}, "both PATCHes to wait for the row lock")
	// The connection the service notifies change streams on is its own, never a request's.
	rows, _ := admin.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
		AND application_name <> $1`, store.NotifyApplication)
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil || len(pids) != 2 {
		t.Fatalf("the service's backends: %v, %v; want its 2 pooled connections", pids, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	held.Wait()
	progress := count(`SELECT percent_progress FROM case_operations WHERE id = $1`, id)

	thaw := freeze(t, pids)
	const requestID = "9a4c8d1e-frozen-create"
	firstSent := time.Now().UTC().Format(http.TimeFormat)
	post := func() answer {
		return sendWithHeaders(t, "POST", s.base+"/beta/tagOperations", token, `{"status": "running", "percentProgress": 5}`,
			"Repeatability-Request-ID", requestID, "Repeatability-First-Sent", firstSent)
	}
	var frozen []answer
	var mu sync.Mutex
	var writes sync.WaitGroup
	for _, send := range []func() answer{
		func() answer { return sendWithHeaders(t, "PATCH", entity, token, `{"percentProgress": 30}`) },
		post,
	} {
		writes.Go(func() {
			start := time.Now()
			a := send()
			if took := time.Since(start); took > requestTimeout+time.Second {
				t.Errorf("a write to the frozen database was answered after %s, past the %s request timeout", took, requestTimeout)
			}
			mu.Lock()
			frozen = append(frozen, a)
			mu.Unlock()
		})
	}
	writes.Wait()
	const unknown = "The database stopped answering after this write was sent, so the write may or may not have been applied: " +
		"GET the operation before retrying, or retry a POST with the same Repeatability-Request-ID."
	var requestIDs []string
	for _, a := range frozen {
		if a.status != 503 || a.header.Get("Retry-After") == "" || a.message != unknown {
			t.Errorf("a write to the frozen database: %d, Retry-After %q, message %q; want 503 with Retry-After and %q",
				a.status, a.header.Get("Retry-After"), a.message, unknown)
		}
		requestIDs = append(requestIDs, a.header.Get("request-id"))
	}

	// Thawed, the backends read the writes that waited for them, and exit when they find their clients gone.
	thaw()
	waitFor(t, 20*time.Second, func() bool {
		return count(`SELECT count(*) FROM pg_stat_activity WHERE pid = ANY ($1)`, pids) == 0
	}, "the thawed backends to finish")
	if n := count(`SELECT count(*) FROM case_operation_events WHERE request_id = ANY ($1)`, requestIDs); n != 0 {
		t.Errorf("%d of the writes answered 503 left history events after the thaw", n)
	}
	if n := count(`SELECT count(*) FROM case_operations`); n != 1 {
		t.Errorf("%d operations after the thaw; the POST answered 503 created one", n-1)
	}
	if n := count(`SELECT percent_progress FROM case_operations WHERE id = $1`, id); n != progress {
		t.Errorf("percentProgress is %d after the thaw, not %d; the PATCH answered 503 set it", n, progress)
	}

	// The POST, repeated as its 503 said it may be, creates the operation once; a second repeat is answered as the first.
	first := post()
	if first.status != 201 || first.header.Get("Repeatability-Result") != "accepted" || first.header.Get("Location") == "" {
		t.Fatalf("the repeated POST: %d, Repeatability-Result %q: %v", first.status, first.header.Get("Repeatability-Result"), first.body)
	}
	again := post()
	if again.status != 201 || again.header.Get("Repeatability-Result") != "accepted" ||
		again.header.Get("Location") != first.header.Get("Location") || again.header.Get("ETag") != first.header.Get("ETag") ||
		again.body["id"] != first.body["id"] {
		t.Errorf("the POST repeated again: %d %q %q, want the first answer %d %q %q",
			again.status, again.header.Get("Location"), again.header.Get("ETag"), first.status, first.header.Get("Location"), first.header.Get("ETag"))
	}
	if n := count(`SELECT count(*) FROM case_operations`); n != 2 {
		t.Errorf("%d operations after the POST was repeated twice, want 2", n)
	}
}

// A write that waits on a row lock past the request timeout is ended by Postgres itself (serve sets each
// connection's statement_timeout below --request-timeout), so its 503 says the database could not be reached,
// not that the write may have been applied, and the write stays undone when the lock is released.
func TestWriteHeldByALockIsRolledBackBeforeItsTimeout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := storetest.NewDatabase(t)
	const requestTimeout = time.Second
	s := serve(t, map[string]string{"DATABASE_URL": dbURL, "CASEOPS_JWT_SECRET": opsTestSecret,
		"CASEOPS_REQUEST_TIMEOUT": requestTimeout.String(), "CASEOPS_DB_MAX_CONNS": "2"})
	token := opsToken(t)
	admin, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)

	created := sendWithHeaders(t, "POST", s.base+"/beta/tagOperations", token, `{"status": "running"}`)
	if created.status != 201 {
		t.Fatalf("POST: %d %v", created.status, created.body)
	}
	id, _ := created.body["id"].(string)
	tx, err := admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT FROM case_operations WHERE id = $1 FOR UPDATE`, id); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	a := sendWithHeaders(t, "PATCH", s.base+"/beta/tagOperations/"+id, token, `{"percentProgress": 40}`)
	took := time.Since(start)
	const unavailable = "The service cannot reach its database right now; retry after a few seconds."
	if a.status != 503 || a.header.Get("Retry-After") == "" || a.message != unavailable {
		t.Errorf("the PATCH held by the lock: %d, Retry-After %q, message %q; want 503 with Retry-After and %q",
			a.status, a.header.Get("Retry-After"), a.message, unavailable)
	}
	if took >= requestTimeout+500*time.Millisecond {
		t.Errorf("the PATCH held by the lock was answered after %s, past the %s request timeout", took, requestTimeout)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var events int
	var progress *int
	if err := admin.QueryRow(ctx, `SELECT (SELECT count(*) FROM case_operation_events WHERE request_id = $1),
		(SELECT percent_progress FROM case_operations WHERE id = $2)`, a.header.Get("request-id"), id).Scan(&events, &progress); err != nil {
		t.Fatal(err)
	}
	if events != 0 || progress != nil {
		t.Errorf("after the lock was released the PATCH answered 503 left %d events and percentProgress %v", events, progress)
	}
}
