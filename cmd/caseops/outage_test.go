package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caseops/caseops/cmd/caseops/servetest"
	"github.com/caseops/caseops/store/storetest"
)

// proxiedDatabase makes a test database: its direct URL, and a URL that reaches it through a servetest.DBProxy.
func proxiedDatabase(t *testing.T) (direct string, viaProxy *url.URL, proxy *servetest.DBProxy) {
	t.Helper()
	direct = storetest.NewDatabase(t)
	viaProxy, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	proxy = servetest.StartDBProxy(t, viaProxy.Host)
	viaProxy.Host = proxy.Addr()
	return direct, viaProxy, proxy
}

// outageWrite is one write a client sent and what it was told.
type outageWrite struct {
	method, id           string
	start, end           time.Time
	status               int
	requestID, retryWait string
	code                 string // the Graph error code, for a non-2xx answer
	err                  error  // the client got no answer at all
}

func (w outageWrite) ok() bool { return w.err == nil && w.status/100 == 2 }

// writer creates operations and reports progress on them until stop closes, pausing between writes.
func writer(base, token string, stop <-chan struct{}, record func(outageWrite)) {
	client := &http.Client{Timeout: 10 * time.Second}
	var id string
	created := 0 // the k of the POST that created id
	for k := 0; ; k++ {
		select {
		case <-stop:
			return
		case <-time.After(25 * time.Millisecond):
		}
		w := outageWrite{method: "PATCH", id: id, start: time.Now()}
		// No two PATCHes of one operation send the same percentProgress (a new one is created before k wraps,
		// even when every write in between failed), so every acknowledged PATCH writes a history event.
		path, body := "/beta/tagOperations/"+id, `{"percentProgress": `+strconv.Itoa(k%100+1)+`}`
		if id == "" || k%4 == 0 || k-created >= 99 {
			w.method, path, body = "POST", "/beta/tagOperations", `{"status": "running", "percentProgress": 0}`
		}
		req, _ := http.NewRequest(w.method, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := client.Do(req)
		w.end, w.err = time.Now(), err
		if err == nil {
			var answer struct {
				ID    string `json:"id"`
				Error struct {
					Code string `json:"code"`
				} `json:"error"`
			}
			_ = json.NewDecoder(res.Body).Decode(&answer)
			res.Body.Close()
			w.status, w.requestID, w.retryWait, w.code = res.StatusCode, res.Header.Get("request-id"), res.Header.Get("Retry-After"), answer.Error.Code
			if w.method == "POST" && w.status == 201 {
				id, w.id, created = answer.ID, answer.ID, k
			}
		}
		record(w)
	}
}

// While Postgres is unreachable, every request is a prompt 503 with Retry-After, /readyz fails and /healthz
// does not, and the process stays up; when Postgres comes back, requests succeed again without a restart and
// without the pool handing out dead connections, and every write that was acknowledged is in the database.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	direct, u, proxy := proxiedDatabase(t)
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	const requestTimeout, maxConns = 2 * time.Second, 4
	s := serve(t, map[string]string{"DATABASE_URL": u.String(), "CASEOPS_JWT_SECRET": opsTestSecret,
		"CASEOPS_REQUEST_TIMEOUT": requestTimeout.String(), "CASEOPS_DB_MAX_CONNS": strconv.Itoa(maxConns)})
	token := opsToken(t)

	var mu sync.Mutex
	var writes []outageWrite
	record := func(w outageWrite) {
		mu.Lock()
		defer mu.Unlock()
		writes = append(writes, w)
	}
	successesSince := func(since time.Time) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, w := range writes {
			if w.start.After(since) && w.ok() {
				n++
			}
		}
		return n
	}
	answeredSince := func(since time.Time) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, w := range writes {
			if w.start.After(since) {
				n++
			}
		}
		return n
	}
	const writers = 3
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() { writer(s.base, token, stop, record) })
	}
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	probe := func(path string) (int, string) {
		res, err := http.Get(s.base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}

	start := time.Now()
	waitFor(t, 30*time.Second, func() bool { return successesSince(start) >= 10 }, "writes before the outage")

	cutStart := time.Now()
	proxy.Cut()
	dialsBefore := proxy.Dials()
	cutAt := time.Now() // requests started from here on cannot reach the database
	// Readiness is cached for a second and holds its verdict for two more; then it must notice.
	waitFor(t, 10*time.Second, func() bool { st, _ := probe("/readyz"); return st == 503 }, "/readyz to fail during the outage")
	if st, body := probe("/readyz"); st != 503 || !strings.Contains(body, "the database is unreachable") {
		t.Errorf("/readyz during the outage: %d %s", st, body)
	}
	if st, _ := probe("/healthz"); st != 200 {
		t.Errorf("/healthz during the outage: %d", st)
	}
	// The outage lasts until enough writes have been answered during it, however slowly a busy machine runs them.
	waitFor(t, 60*time.Second, func() bool { return answeredSince(cutAt) >= 10 }, "writes to be answered during the outage")

	restoreAt := time.Now()
	dialsDuring := proxy.Dials() - dialsBefore
	proxy.Restore()
	waitFor(t, 30*time.Second, func() bool { return successesSince(restoreAt) >= writers }, "writes to succeed after the database returns")
	firstOK := time.Now()
	waitFor(t, 30*time.Second, func() bool { return successesSince(firstOK) >= 20 }, "writes after recovery")
	waitFor(t, 10*time.Second, func() bool { st, _ := probe("/readyz"); return st == 200 }, "/readyz to pass again")
	close(stop)
	wg.Wait()

	var during, acked []outageWrite
	for _, w := range writes {
		took := w.end.Sub(w.start)
		switch {
		case w.err != nil:
			t.Errorf("a %s got no answer after %s: %v", w.method, took, w.err)
			continue
		case w.ok():
			acked = append(acked, w)
		case w.status != 503 || w.code != "serviceUnavailable" || w.retryWait == "":
			t.Errorf("a %s got %d %q with Retry-After %q; the only failure allowed is 503 serviceUnavailable with Retry-After",
				w.method, w.status, w.code, w.retryWait)
		}
		if took > requestTimeout+3*time.Second { // the margin is for a busy machine; a hung request takes the client's 10 s
			t.Errorf("a %s took %s, past the %s request timeout", w.method, took, requestTimeout)
		}
		switch {
		case w.end.Before(cutStart) && !w.ok():
			t.Errorf("a %s before the outage got %d", w.method, w.status)
		case w.start.After(cutAt) && w.end.Before(restoreAt):
			during = append(during, w)
			if w.ok() {
				t.Errorf("a %s succeeded while the database was unreachable", w.method)
			}
		case w.start.After(firstOK) && !w.ok():
			t.Errorf("a %s after recovery got %d: the pool handed out a dead connection", w.method, w.status)
		}
	}
	if len(during) < 10 {
		t.Errorf("only %d writes fell inside the outage", len(during))
	}
	// The pool backs off between failed connection attempts, by at most a second: about ten attempts in the
	// first second, then at least half a second apart, instead of one per request. The connections the cut
	// broke send a cancel request each.
	if limit := maxConns + 10 + int(2*restoreAt.Sub(cutStart).Seconds()); dialsDuring > limit {
		t.Errorf("the pool dialed %d times in the %s the database was away, want at most %d", dialsDuring, restoreAt.Sub(cutStart), limit)
	}
	if took := firstOK.Sub(restoreAt); took > 4*time.Second { // the next attempt is due within a second; the rest is a busy machine's margin
		t.Errorf("recovery took %s", took)
	}

	// Every acknowledged write is in the database: its history event, written in the same statement, and its row.
	conn, err := pgx.Connect(context.Background(), direct)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var requestIDs, created []string
	for _, w := range acked {
		requestIDs = append(requestIDs, w.requestID)
		if w.method == "POST" {
			created = append(created, w.id)
		}
	}
	var events, rows int
	if err := conn.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM case_operation_events WHERE request_id = ANY ($1)),
		(SELECT count(*) FROM case_operations WHERE id = ANY ($2::uuid[]))`, requestIDs, created).Scan(&events, &rows); err != nil {
		t.Fatal(err)
	}
	if events != len(acked) || rows != len(created) {
		t.Errorf("%d acknowledged writes left %d history events; %d acknowledged creates left %d rows", len(acked), events, len(created), rows)
	}
	t.Logf("%d writes: %d acknowledged, %d during the outage, %d dials; recovery took %s", len(writes), len(acked), len(during), dialsDuring, firstOK.Sub(restoreAt))

	if err := s.stop(); err != nil {
		t.Errorf("serve returned %v after the outage; it should have stayed up and stopped cleanly", err)
	}
}
