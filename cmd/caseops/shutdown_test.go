package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caseops/caseops/handlers/auth"
)

const opsTestSecret = "caseops-ops-test-secret-of-32-bytes-at-least"

// opsToken is a full-permission token for tenant ops, signed with opsTestSecret.
func opsToken(t *testing.T) string {
	t.Helper()
	tok, err := auth.Mint([]byte(opsTestSecret), auth.MintOptions{Tenant: "ops", Scopes: auth.PermissionReadWrite, UserID: "u1", UserName: "Operator"})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// buildCaseops builds the real binary, as an operator runs it, into a temporary directory.
func buildCaseops(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "caseops")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// waitReady polls base/readyz until it answers 200.
func waitReady(t *testing.T, base string, exited <-chan error, log *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("caseops exited: %v\n%s", err, log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("caseops never became ready:\n%s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func send(method, url, token, body string) (int, string, error) {
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	// A connection of its own: the point is what happens to each request, not to a shared keep-alive pool.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	res, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), nil
}

// SIGTERM stops the listeners at once (new connections are refused, the metrics listener's too), lets every
// request already in flight finish with its answer, closes the pool and exits 0. The in-flight requests are
// PATCHes held in Postgres by a row lock the test takes, so they are truly mid-work when the signal comes.
func TestSIGTERMFinishesInFlightRequests(t *testing.T) {
	t.Parallel()
	bin := buildCaseops(t)
	dbURL := newDatabaseURL(t)
	addr, metricsAddr := freeAddr(t), freeAddr(t)
	base := "http://" + addr

	log := &syncBuffer{}
	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{"DATABASE_URL=" + dbURL, "CASEOPS_ADDR=" + addr, "CASEOPS_METRICS_ADDR=" + metricsAddr,
		"CASEOPS_JWT_SECRET=" + opsTestSecret, "CASEOPS_DB_MAX_CONNS=8", "CASEOPS_REQUEST_TIMEOUT=30s"}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // a no-op once it has exited
	})
	waitReady(t, base, exited, log)

	token := opsToken(t)
	st, body, err := send("POST", base+"/beta/tagOperations", token, `{"status": "running"}`)
	if err != nil || st != 201 {
		t.Fatalf("create: %d %s %v", st, body, err)
	}
	id := body[strings.Index(body, `"id":"`)+6:][:36]

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT FROM case_operations WHERE id = $1 FOR UPDATE`, id); err != nil {
		t.Fatal(err)
	}

	const inFlight = 5
	type answer struct {
		status int
		body   string
		err    error
	}
	answers := make(chan answer, inFlight)
	for i := range inFlight {
		go func() {
			st, body, err := send("PATCH", base+"/beta/tagOperations/"+id, token, `{"percentProgress": `+strconv.Itoa(10+i)+`}`)
			answers <- answer{st, body, err}
		}()
	}
	// Every PATCH has reached Postgres and waits there for the lock: the first alone, the others coalesced
	// into batches, each batch one backend.
	waitFor(t, 30*time.Second, func() bool {
		_, body, err := send("GET", "http://"+metricsAddr+"/metrics", "", "")
		if err != nil {
			return false
		}
		sent, batches := metricValue(body, "caseops_db_write_batch_size_sum"), metricValue(body, "caseops_db_write_batch_size_count")
		var waiting int
		err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
		return err == nil && sent == inFlight && float64(waiting) == batches
	}, "the PATCHes to wait on the row lock")

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool { return refused(addr) && refused(metricsAddr) }, "both listeners to refuse connections")
	select {
	case a := <-answers:
		t.Fatalf("a request finished while its row was still locked: %+v", a)
	case err := <-exited:
		t.Fatalf("caseops exited with requests in flight: %v\n%s", err, log)
	default:
	}

	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for range inFlight {
		select {
		case a := <-answers:
			if a.err != nil || a.status != 200 {
				t.Errorf("an in-flight PATCH got %d %s %v", a.status, a.body, a.err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("in-flight PATCHes did not finish")
		}
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("caseops exited with %v, want 0\n%s", err, log)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("caseops did not exit after SIGTERM:\n%s", log)
	}

	var version int64
	if err := conn.QueryRow(ctx, `SELECT version FROM case_operations WHERE id = $1`, id).Scan(&version); err != nil || version != 1+inFlight {
		t.Errorf("version %d (%v): want %d, one per acknowledged PATCH", version, err, 1+inFlight)
	}
	out := log.String()
	for _, want := range []string{`"msg":"shutting down"`, `"msg":"stopped"`} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in the log:\n%s", want, out)
		}
	}
}

// metricValue is the value of the series name in a /metrics body; -1 when it has none.
func metricValue(body, name string) float64 {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// refused reports whether a TCP connection to addr is refused.
func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

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

// With --metrics-addr, /metrics is served there and only there, and that listener stops with the API.
func TestMetricsOnTheirOwnAddress(t *testing.T) {
	t.Parallel()
	metricsAddr := freeAddr(t)
	s := serve(t, map[string]string{"DATABASE_URL": newDatabaseURL(t), "CASEOPS_METRICS_ADDR": metricsAddr, "CASEOPS_DB_MAX_CONNS": "3"})
	if st, body := request(t, "GET", s.base+"/metrics", "", ""); st != 404 || !strings.Contains(body, `"notFound"`) {
		t.Errorf("/metrics on the API address: %d %s", st, body)
	}
	st, body := request(t, "GET", "http://"+metricsAddr+"/metrics", "", "")
	if st != 200 {
		t.Fatalf("/metrics on its own address: %d %s", st, body)
	}
	for _, want := range []string{
		`caseops_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		"caseops_db_pool_max_conns 3", "go_goroutines ", "process_cpu_seconds_total ",
		"caseops_db_write_batch_size_count 0", "caseops_db_write_coalesce_wait_seconds_count 0",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q in the scrape", want)
		}
	}
	if st, _ := request(t, "GET", "http://"+metricsAddr+"/beta/tagOperations", "", ""); st != 404 {
		t.Errorf("the metrics listener serves the API: %d", st)
	}
	if st, _ := request(t, "GET", "http://"+metricsAddr+"/debug/pprof/", "", ""); st != 404 {
		t.Errorf("the profiler is served without --pprof: %d", st)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if !refused(metricsAddr) {
		t.Error("the metrics listener outlived the API")
	}
}

// With --pprof, Go's profiler is served on the metrics listener, never on the API's address.
func TestProfilerOnTheMetricsAddress(t *testing.T) {
	t.Parallel()
	metricsAddr := freeAddr(t)
	s := serve(t, map[string]string{"DATABASE_URL": newDatabaseURL(t), "CASEOPS_METRICS_ADDR": metricsAddr, "CASEOPS_PPROF": "true"})
	if st, body := request(t, "GET", s.base+"/debug/pprof/", "", ""); st != 404 || !strings.Contains(body, `"notFound"`) {
		t.Errorf("/debug/pprof/ on the API address: %d %s", st, body)
	}
	for path, want := range map[string]string{
		"/debug/pprof/":                        "goroutine",
		"/debug/pprof/cmdline":                 "caseops", // the test binary here, as os.Args
		"/debug/pprof/goroutine?debug=1":       "goroutine profile: total",
		"/debug/pprof/heap?debug=1":            "heap profile:",
		"/debug/pprof/profile?seconds=1":       "", // a binary profile
		"/debug/pprof/symbol":                  "num_symbols",
		"/debug/pprof/trace?seconds=0.1":       "",
		"/debug/pprof/allocs?debug=1":          "heap profile:",
		"/debug/pprof/mutex?debug=1":           "mutex",
		"/debug/pprof/threadcreate?debug=1":    "threadcreate profile:",
		"/debug/pprof/block?debug=1":           "contention",
		"/debug/pprof/goroutine?debug=2&x=ign": "goroutine ",
	} {
		st, body := request(t, "GET", "http://"+metricsAddr+path, "", "")
		if st != 200 || len(body) == 0 || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d, %d bytes, want 200 with %q", path, st, len(body), want)
		}
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := parseServe([]string{"--pprof"}, envOf(nil), io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--metrics-addr") {
		t.Errorf("--pprof without --metrics-addr: %v, want an error naming --metrics-addr", err)
	}
}

func TestServeSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		args         []string
		env          map[string]string
		maxBody      int
		metricsAddr  string
		wantErrorFor string
	}{
		{name: "defaults", maxBody: 65536},
		{name: "environment", env: map[string]string{"CASEOPS_MAX_BODY_BYTES": "1000", "CASEOPS_METRICS_ADDR": ":9090"}, maxBody: 1000, metricsAddr: ":9090"},
		{name: "flags win", args: []string{"--max-body-bytes", "2000", "--metrics-addr", "127.0.0.1:9091"},
			env: map[string]string{"CASEOPS_MAX_BODY_BYTES": "1000", "CASEOPS_METRICS_ADDR": ":9090"}, maxBody: 2000, metricsAddr: "127.0.0.1:9091"},
		{name: "zero body", args: []string{"--max-body-bytes", "0"}, wantErrorFor: "--max-body-bytes"},
		{name: "not a number", env: map[string]string{"CASEOPS_MAX_BODY_BYTES": "64k"}, wantErrorFor: "CASEOPS_MAX_BODY_BYTES"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _, err := parseServe(tc.args, envOf(tc.env), io.Discard, io.Discard)
			if tc.wantErrorFor != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrorFor) {
					t.Errorf("error %v, want one naming %s", err, tc.wantErrorFor)
				}
				return
			}
			if err != nil || c.maxBodyBytes != tc.maxBody || c.metricsAddr != tc.metricsAddr {
				t.Errorf("max body %d, metrics addr %q, %v; want %d, %q", c.maxBodyBytes, c.metricsAddr, err, tc.maxBody, tc.metricsAddr)
			}
		})
	}
}

// A database that stops answering (a stalled network path, not a refused connection) cannot hold serve past
// --shutdown-timeout: with a request stuck on it, SIGTERM ends serve at about the deadline with its error,
// which main turns into exit 1, instead of waiting for the database to come back.
func TestShutdownTimeoutWithAHungDatabase(t *testing.T) {
	t.Parallel()
	_, u, proxy := proxiedDatabase(t)
	const shutdownTimeout = time.Second
	s := serve(t, map[string]string{"DATABASE_URL": u.String(), "CASEOPS_JWT_SECRET": opsTestSecret,
		"CASEOPS_SHUTDOWN_TIMEOUT": shutdownTimeout.String(), "CASEOPS_REQUEST_TIMEOUT": "60s", "CASEOPS_DB_MAX_CONNS": "2"})
	token := opsToken(t)

	proxy.Hang()
	defer proxy.Resume() // lets the stuck request, and the pool close that serve stopped waiting for, finish
	go func() { _, _, _ = send("GET", s.base+"/beta/tagOperations", token, "") }()
	waitFor(t, 30*time.Second, func() bool { return proxy.HeldChunks() > 0 }, "the request's query to be held by the hung database")

	start := time.Now()
	err := s.stop()
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("serve returned %v, want the shutdown deadline's error (exit 1)", err)
	}
	// Waiting for the stuck request would take its 60 s timeout; the margin is for a busy machine.
	if took < shutdownTimeout || took > shutdownTimeout+10*time.Second {
		t.Errorf("serve stopped %s after it was told to, want about the %s shutdown timeout:\n%s", took, shutdownTimeout, s.stderr)
	}
}
