package handlers_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/caseops/caseops/handlers"
	"github.com/caseops/caseops/handlers/auth"
	"github.com/caseops/caseops/migrations"
	"github.com/caseops/caseops/store"
	"github.com/caseops/caseops/store/storetest"
)

// lockedBuffer collects log lines written by concurrent requests.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// opsServer is the API as serve wires it: JSON logs, a private registry with the runtime and pool collectors,
// /metrics on the same listener.
type opsServer struct {
	*testServer
	log *lockedBuffer
}

func newOpsServer(t *testing.T, pool *pgxpool.Pool, cfg handlers.Config, schema handlers.Schema) opsServer {
	t.Helper()
	log := &lockedBuffer{}
	verifier, err := auth.NewVerifier(context.Background(), auth.Config{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		store.NewPoolCollector(pool))
	st := store.New(pool)
	if schema == nil {
		schema = st
	}
	api := handlers.NewServer(slog.New(slog.NewJSONHandler(log, nil)), cfg, verifier, st, schema, reg)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return opsServer{&testServer{t: t, url: srv.URL, pool: pool, token: devToken(t)}, log}
}

func readyConfig() handlers.Config {
	return handlers.Config{RequestTimeout: 5 * time.Second, SchemaVersion: migrations.LatestVersion(), ServeMetrics: true}
}

func assertJSON(t *testing.T, r response, status int, want string) {
	t.Helper()
	if r.status != status || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q, want %d application/json: %s", r.status, r.header.Get("Content-Type"), status, r.body)
	}
	var got, w any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("%v: %s", err, r.body)
	}
	_ = json.Unmarshal([]byte(want), &w)
	if !reflect.DeepEqual(got, w) {
		t.Errorf("body %s, want %s", r.body, want)
	}
	if !guidPattern.MatchString(r.header.Get("request-id")) {
		t.Errorf("request-id %q", r.header.Get("request-id"))
	}
}

// Liveness never needs the database; readiness needs it to answer, at the schema version this binary expects.
// Neither needs a token.
func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	pool := storetest.NewPool(t)
	s := newOpsServer(t, pool, readyConfig(), nil)
	s.token = ""
	assertJSON(t, s.do("GET", "/healthz", ""), 200, `{"status": "ok"}`)
	latest := migrations.LatestVersion()
	assertJSON(t, s.do("GET", "/readyz", ""), 200, fmt.Sprintf(`{"status": "ok", "schemaVersion": %d}`, latest))

	t.Run("schema behind the binary", func(t *testing.T) {
		t.Parallel()
		cfg := readyConfig()
		cfg.SchemaVersion++
		s := newOpsServer(t, pool, cfg, nil)
		s.token = ""
		r := s.do("GET", "/readyz", "")
		e := assertError(t, r, 503, "serviceUnavailable", "")
		if want := fmt.Sprintf("The service is not ready: the database schema is at version %d, but this binary expects version %d.", latest, latest+1); e["message"] != want {
			t.Errorf("message %q, want %q", e["message"], want)
		}
		if r.header.Get("Retry-After") != "5" {
			t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
		}
		assertJSON(t, s.do("GET", "/healthz", ""), 200, `{"status": "ok"}`)
		if log := s.log.String(); strings.Count(log, `"msg":"not ready"`) != 1 || !strings.Contains(log, fmt.Sprintf(`"reason":"the database schema is at version %d, but this binary expects version %d"`, latest, latest+1)) {
			t.Errorf("log:\n%s", log)
		}
	})

	t.Run("database unreachable", func(t *testing.T) {
		t.Parallel()
		// Nothing listens on port 1; connect_timeout bounds a dial that would hang elsewhere.
		down, err := pgxpool.New(context.Background(), "postgres://postgres@127.0.0.1:1/caseops?sslmode=disable&connect_timeout=2")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(down.Close)
		s := newOpsServer(t, down, readyConfig(), nil)
		s.token = ""
		start := time.Now()
		r := s.do("GET", "/readyz", "")
		if e := assertError(t, r, 503, "serviceUnavailable", ""); e["message"] != "The service is not ready: the database is unreachable." {
			t.Errorf("message %q", e["message"])
		}
		// A refused connection is answered at once; the margin is for a busy machine, well short of a hang.
		if r.header.Get("Retry-After") == "" || time.Since(start) > 5*time.Second {
			t.Errorf("Retry-After %q after %s", r.header.Get("Retry-After"), time.Since(start))
		}
		assertJSON(t, s.do("GET", "/healthz", ""), 200, `{"status": "ok"}`)
		s.token = devToken(t)
		r = s.do("POST", "/beta/tagOperations", `{}`)
		assertError(t, r, 503, "serviceUnavailable", "")
		if r.header.Get("Retry-After") == "" {
			t.Error("a write during an outage has no Retry-After")
		}
	})
}

// countingSchema answers like a database at the binary's version, or with err once it is set, and counts
// how often it is asked.
type countingSchema struct {
	calls atomic.Int64
	err   atomic.Pointer[error]
}

func (c *countingSchema) SchemaVersion(context.Context) (int64, error) {
	c.calls.Add(1)
	if err := c.err.Load(); err != nil {
		return 0, *err
	}
	return migrations.LatestVersion(), nil
}

// However many probes arrive, readiness asks the database at most once a second.
func TestReadinessIsCheckedOnceASecond(t *testing.T) {
	t.Parallel()
	schema := &countingSchema{}
	s := newOpsServer(t, storetest.NewPool(t), readyConfig(), schema)
	var wg sync.WaitGroup
	start := time.Now()
	for range 20 {
		wg.Go(func() {
			if r := s.do("GET", "/readyz", ""); r.status != 200 {
				t.Errorf("readyz %d %s", r.status, r.body)
			}
		})
	}
	wg.Wait()
	// Once for the burst, or once more for each second a busy machine took to send it.
	if n, most := schema.calls.Load(), 1+int64(time.Since(start)/time.Second); n < 1 || n > most {
		t.Errorf("20 probes in %s asked the database %d times, want 1 to %d", time.Since(start), n, most)
	}
	asked := schema.calls.Load()
	boom := errors.New("boom")
	schema.err.Store(&boom)
	// Probes keep the cached answer until the second is up; the first one after it asks again and fails, but one
	// failed check does not change the verdict (see ReadinessHold)...
	waitFor(t, 10*time.Second, func() bool {
		if r := s.do("GET", "/readyz", ""); r.status != 200 {
			t.Fatalf("readyz before the hold was up: %d %s", r.status, r.body)
		}
		return schema.calls.Load() > asked
	}, "readiness to ask the database again")
	// ...but checks failing for the whole hold do. Not an outage, but not ready either.
	var r response
	waitFor(t, handlers.ReadinessHold+10*time.Second, func() bool { r = s.do("GET", "/readyz", ""); return r.status != 200 },
		"readiness to fail once the hold is up")
	if e := assertError(t, r, 503, "serviceUnavailable", ""); e["message"] != "The service is not ready: the database did not answer the readiness check." {
		t.Errorf("message %q", e["message"])
	}
}

// scrape reads /metrics as "name{labels} value" lines.
func scrape(t *testing.T, s opsServer) map[string]string {
	t.Helper()
	res, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	samples := map[string]string{}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		samples[line[:i]] = line[i+1:]
	}
	return samples
}

// /metrics, without a token, exposes the request, latency, status-transition, pool and runtime series after traffic.
// Routes are labelled by their pattern, never by the URL, so ids and probes for random paths add no series.
func TestMetricsAfterTraffic(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), storetest.NewDatabase(t)+"&pool_max_conns=3")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s := newOpsServer(t, pool, readyConfig(), nil)

	id := s.create(`{}`)["id"].(string)
	for _, body := range []string{`{"status": "running"}`, `{"status": "running"}`, `{"percentProgress": 50}`, `{"status": "succeeded"}`} {
		if r := s.do("PATCH", "/beta/tagOperations/"+id, body); r.status != 200 {
			t.Fatalf("PATCH %s: %d %s", body, r.status, r.body)
		}
	}
	if r := s.do("PATCH", "/beta/tagOperations/"+id, `{"status": "failed"}`); r.status != 409 {
		t.Fatalf("a refused transition: %d", r.status)
	}
	// The seed's own form counts too, under its own route.
	other := s.create(`{"action": "index"}`)["id"].(string)
	if r := s.do("PATCH", "/beta/tagOperation", `{"id": "`+other+`", "status": "failed"}`); r.status != 200 {
		t.Fatalf("seed PATCH: %d %s", r.status, r.body)
	}
	s.do("GET", "/beta/tagOperations/00000000-0000-0000-0000-000000000000", "")
	s.do("GET", "/wp-login.php", "")
	s.do("GET", "/beta/caseOperations/"+id, "")
	s.do("GET", "/beta/tagOperations/"+id+"/extra", "") // an operation has only /history beneath it: unmatched
	s.do("PUT", "/beta/tagOperations/"+id, `{}`)
	s.do("BREW", "/beta/tagOperations", "")
	s.do("GET", "/beta/tagOperations", "", "Authorization", "Bearer not-a-token")
	s.do("GET", "/healthz", "")
	s.do("GET", "/beta/tagOperations", "", "X-Padding", strings.Repeat("p", 40<<10)) // refused before routing

	got := scrape(t, s)
	want := map[string]string{
		`caseops_http_requests_total{method="POST",route="/beta/tagOperations",status="201"}`:               "2",
		`caseops_http_requests_total{method="PATCH",route="/beta/tagOperations/:id",status="200"}`:          "4",
		`caseops_http_requests_total{method="PATCH",route="/beta/tagOperations/:id",status="409"}`:          "1",
		`caseops_http_requests_total{method="PATCH",route="/beta/tagOperation",status="200"}`:               "1",
		`caseops_http_requests_total{method="GET",route="/beta/tagOperations/:id",status="404"}`:            "1",
		`caseops_http_requests_total{method="PUT",route="/beta/tagOperations/:id",status="405"}`:            "1",
		`caseops_http_requests_total{method="GET",route="unmatched",status="431"}`:                          "1",
		`caseops_http_requests_total{method="GET",route="unmatched",status="404"}`:                          "3",
		`caseops_http_requests_total{method="GET",route="/beta/tagOperations",status="401"}`:                "1",
		`caseops_http_requests_total{method="GET",route="/healthz",status="200"}`:                           "1",
		`caseops_http_request_duration_seconds_count{method="PATCH",route="/beta/tagOperations/:id"}`:       "5",
		`caseops_http_request_duration_seconds_bucket{method="POST",route="/beta/tagOperations",le="+Inf"}`: "2",
		`caseops_status_transitions_total{action="applyTags",from="notStarted",to="running"}`:               "1",
		`caseops_status_transitions_total{action="applyTags",from="running",to="succeeded"}`:                "1",
		`caseops_status_transitions_total{action="index",from="notStarted",to="failed"}`:                    "1",
		`caseops_db_pool_max_conns`:      "3",
		`caseops_db_pool_acquired_conns`: "0",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	var series []string
	for k := range got {
		if strings.HasPrefix(k, "caseops_status_transitions_total") {
			series = append(series, k)
		}
		if strings.Contains(k, id) || strings.Contains(k, "wp-login") || strings.Contains(k, "extra") || strings.Contains(k, "BREW") {
			t.Errorf("a URL leaked into a label: %s", k)
		}
	}
	if len(series) != 3 {
		t.Errorf("transition series %q: a no-op or refused PATCH was counted", series)
	}
	for _, name := range []string{"caseops_db_pool_idle_conns", "caseops_db_pool_total_conns", "caseops_db_pool_acquires_total",
		"caseops_db_pool_acquire_duration_seconds_total", "caseops_db_pool_empty_acquires_total",
		"caseops_db_pool_canceled_acquires_total", "caseops_db_pool_new_conns_total", "go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := got[name]; !ok {
			t.Errorf("no %s series", name)
		}
	}
	if got["caseops_db_pool_acquires_total"] == "0" {
		t.Error("the pool collector reads nothing")
	}
	// The scrape itself is counted, under its route.
	if got := scrape(t, s); got[`caseops_http_requests_total{method="GET",route="/metrics",status="200"}`] != "1" {
		t.Errorf("the first scrape was not counted")
	}
}

// A request's one log line names who asked what and how it went, and never holds the token or the body.
func TestRequestLogLine(t *testing.T) {
	t.Parallel()
	s := newOpsServer(t, storetest.NewPool(t), readyConfig(), nil)
	const secretText = "Tagged the privileged memo of counsel"
	r := s.do("POST", "/beta/tagOperations", `{"resultInfo": {"message": "`+secretText+`"}}`, "client-request-id", "my-call-42")
	if r.status != 201 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	id := r.json(t)["id"].(string)
	badToken := s.token[:len(s.token)-4] + "AAAA" // a signature that does not verify
	r2 := s.do("PATCH", "/beta/tagOperations/"+id, `{"resultInfo": {"message": "`+secretText+`"}}`, "Authorization", "Bearer "+badToken)
	if r2.status != 401 {
		t.Fatalf("bad token: %d", r2.status)
	}

	log := s.log.String()
	lines := strings.Split(strings.TrimSpace(log), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want one per request:\n%s", len(lines), log)
	}
	for i, want := range []map[string]any{
		{"level": "INFO", "msg": "request", "request-id": r.header.Get("request-id"), "client-request-id": "my-call-42",
			"tenant": "dev", "method": "POST", "route": "/beta/tagOperations", "status": 201.0},
		{"level": "INFO", "msg": "request", "request-id": r2.header.Get("request-id"), "client-request-id": r2.header.Get("request-id"),
			"tenant": "", "method": "PATCH", "route": "/beta/tagOperations/:id", "status": 401.0},
	} {
		var got map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &got); err != nil {
			t.Fatalf("line %d is not JSON: %s", i, lines[i])
		}
		if d, ok := got["duration_ms"].(float64); !ok || d <= 0 {
			t.Errorf("line %d duration_ms %v", i, got["duration_ms"])
		}
		want["time"], want["duration_ms"] = got["time"], got["duration_ms"]
		if !reflect.DeepEqual(got, want) {
			t.Errorf("line %d:\n got %v\nwant %v", i, got, want)
		}
	}
	for _, leak := range []string{s.token, strings.Split(s.token, ".")[2], badToken, "Bearer", secretText, "resultInfo"} {
		if strings.Contains(log, leak) {
			t.Errorf("the log holds %q:\n%s", leak, log)
		}
	}
}

// The body limit is a setting: at the limit a body is read, one byte over it is 413 naming the limit.
func TestMaxBodyBytes(t *testing.T) {
	t.Parallel()
	cfg := readyConfig()
	cfg.MaxBodyBytes = 100
	s := newOpsServer(t, storetest.NewPool(t), cfg, nil)
	body := `{"percentProgress": 1}`
	body = body[:len(body)-1] + strings.Repeat(" ", 100-len(body)) + "}"
	if r := s.do("POST", "/beta/tagOperations", body); r.status != 201 {
		t.Fatalf("a %d-byte body: %d %s", len(body), r.status, r.body)
	}
	e := assertError(t, s.do("POST", "/beta/tagOperations", body+" "), 413, "requestEntityTooLarge", "")
	if e["message"] != "The request body is larger than 100 bytes." {
		t.Errorf("message %q", e["message"])
	}
	if got := s.do("PATCH", "/beta/tagOperation", body+" "); got.status != 413 {
		t.Errorf("PATCH over the limit: %d", got.status)
	}
}

// A pool that another client starves now and then fails some readiness checks and passes the next ones:
// /readyz holds its verdict through that, so a load balancer does not pull a working replica out, and gives
// the new verdict only once the checks have disagreed with it for the whole hold.
func TestReadinessHoldsItsVerdictThroughAStarvedPool(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), storetest.NewDatabase(t)+"&pool_max_conns=2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s := newOpsServer(t, pool, readyConfig(), nil)
	s.token = ""
	ready := fmt.Sprintf(`{"status": "ok", "schemaVersion": %d}`, migrations.LatestVersion())
	assertJSON(t, s.do("GET", "/readyz", ""), 200, ready)

	// starve takes every connection of the pool, as a burst of long requests does, until the returned func.
	starve := func() func() {
		held := make([]*pgxpool.Conn, 0, 2)
		for range 2 {
			c, err := pool.Acquire(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
		}
		return func() {
			for _, c := range held {
				c.Release()
			}
		}
	}
	// probeUntil asks /readyz until the pool's statistics say a readiness check has run as wanted, and
	// returns every answer it got on the way.
	probeUntil := func(checked func(pgxpool.Stat) bool, what string) []response {
		var answers []response
		deadline := time.Now().Add(10 * time.Second)
		for !checked(*pool.Stat()) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			answers = append(answers, s.do("GET", "/readyz", ""))
			time.Sleep(20 * time.Millisecond)
		}
		return answers
	}
	for round := range 3 {
		release := starve()
		canceled := pool.Stat().CanceledAcquireCount()
		answers := probeUntil(func(st pgxpool.Stat) bool { return st.CanceledAcquireCount() > canceled },
			"a readiness check to find the pool starved")
		release()
		acquired := pool.Stat().AcquireCount()
		answers = append(answers, probeUntil(func(st pgxpool.Stat) bool { return st.AcquireCount() > acquired },
			"a readiness check to get a connection again")...)
		for _, r := range answers {
			if r.status != 200 {
				t.Fatalf("round %d: /readyz answered %d %s after one failed check", round, r.status, r.body)
			}
			assertJSON(t, r, 200, ready)
		}
	}

	// Starved for longer than the hold, the service is not ready; given its connections back, it is again.
	release := starve()
	start := time.Now()
	deadline := start.Add(10 * time.Second)
	r := s.do("GET", "/readyz", "")
	for r.status == 200 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		r = s.do("GET", "/readyz", "")
	}
	if e := assertError(t, r, 503, "serviceUnavailable", ""); e["message"] != "The service is not ready: the database is unreachable." {
		t.Errorf("message %q", e["message"])
	}
	if took := time.Since(start); took < handlers.ReadinessHold {
		t.Errorf("/readyz failed %s into the starvation, before the %s hold", took, handlers.ReadinessHold)
	}
	release()
	waitUntil := time.Now().Add(10 * time.Second)
	for r = s.do("GET", "/readyz", ""); r.status != 200 && time.Now().Before(waitUntil); r = s.do("GET", "/readyz", "") {
		time.Sleep(20 * time.Millisecond)
	}
	assertJSON(t, r, 200, ready)
	if log := s.log.String(); strings.Count(log, `"msg":"not ready"`) != 1 || strings.Count(log, `"msg":"ready again"`) != 1 {
		t.Errorf("want one not-ready and one ready-again line, log:\n%s", log)
	}
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A client that gives up before its answer is no failure of the service: the request is logged and counted as
// 499 (client closed request), not as a 500 with an ERROR line that a dashboard would take for a fault.
func TestClientThatGivesUpIsNotAServerError(t *testing.T) {
	t.Parallel()
	pool := storetest.NewPool(t)
	s := newOpsServer(t, pool, readyConfig(), nil)
	id := s.create(`{"status": "running"}`)["id"].(string)

	// Hold the row, so the PATCH waits inside the database until its client has gone.
	tx, err := pool.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(context.Background(), `SELECT FROM case_operations WHERE id = $1 FOR UPDATE`, id); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "PATCH", s.url+"/beta/tagOperations/"+id, strings.NewReader(`{"percentProgress": 5}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.token)
	done := make(chan error, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
		}
		done <- err
	}()
	waitFor(t, 10*time.Second, func() bool {
		var waiting int
		err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
		return err == nil && waiting > 0
	}, "the PATCH to wait for the row")
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the client's request ended with %v, want context.Canceled", err)
	}
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(s.log.String(), `"route":"/beta/tagOperations/:id"`) },
		"the PATCH's request line")
	log := s.log.String()
	if strings.Contains(log, `"level":"ERROR"`) || !strings.Contains(log, `"method":"PATCH","route":"/beta/tagOperations/:id","status":499`) {
		t.Errorf("want the PATCH logged with status 499 and no ERROR line, log:\n%s", log)
	}
	if got := scrape(t, s)[`caseops_http_requests_total{method="PATCH",route="/beta/tagOperations/:id",status="499"}`]; got != "1" {
		t.Errorf("caseops_http_requests_total for the PATCH with status 499 = %q, want 1", got)
	}
}
