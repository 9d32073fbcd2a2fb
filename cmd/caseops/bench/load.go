package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caseops/caseops/store/redact"
)

const operationsPath = "/beta/tagOperations"

// api is the caseops HTTP API as the load generator sees it.
type api struct {
	baseURL string
	token   string
	client  *http.Client
}

// newAPI returns a client whose transport keeps one idle connection per worker, so that no request waits
// for a new TCP connection and the generator is not what limits the rate.
func newAPI(baseURL, token string, concurrency int, requestTimeout time.Duration) *api {
	transport := &http.Transport{
		Proxy:               nil, // a benchmark measures the server, never a proxy from the environment
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &api{
		baseURL: strings.TrimRight(baseURL, "/"),
		token:   token,
		client:  &http.Client{Transport: transport, Timeout: requestTimeout},
	}
}

func (a *api) close() { a.client.CloseIdleConnections() }

func (a *api) newRequest(ctx context.Context, method, url string, body []byte) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	return req, nil
}

// statusError is an answer the benchmark did not expect, with the start of its body for the report.
type statusError struct {
	method, url string
	status      int
	body        string
	message     string // the Graph error's message, when the body is one
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.method, e.url, e.status, e.body)
}

// do sends one request and reads the whole answer, so that the connection goes back to the pool.
// Any status of 400 or more is a *statusError.
func (a *api) do(req *http.Request) (*http.Response, []byte, error) {
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode >= 400 {
		var graph struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(body, &graph) // any body will do: the message is only for a person
		return resp, body, &statusError{method: req.Method, url: req.URL.Path, status: resp.StatusCode,
			body: string(body[:min(len(body), 300)]), message: graph.Error.Message}
	}
	return resp, body, nil
}

// explainUnauthorized turns a 401 into what to pass instead of the token the benchmark sent, which came
// from tokenFrom: a flag or variable, or "" when it sent none. Any other error is returned as it is.
func explainUnauthorized(err error, baseURL, tokenFrom string) error {
	var se *statusError
	if !errors.As(err, &se) || se.status != http.StatusUnauthorized {
		return err
	}
	reason := se.message
	if reason == "" {
		reason = strings.TrimSpace(se.body)
	}
	const devToken = "serve prints a development token at start"
	refused := fmt.Sprintf("the server at %s answered 401 Unauthorized (%s) to ", baseURL, reason)
	switch tokenFrom {
	case "":
		return errors.New(refused + "a request without a token: pass --token (" + devToken +
			"), or set CASEOPS_JWT_SECRET to the server's secret for bench to mint one")
	case "$CASEOPS_JWT_SECRET":
		return errors.New(refused + "the token bench minted with $CASEOPS_JWT_SECRET: set it to the server's secret, or pass --token (" + devToken + ")")
	}
	return errors.New(refused + "the token from " + tokenFrom + ": pass --token a token this server accepts (" + devToken + ")")
}

var createBody = []byte(`{"status":"running","percentProgress":0}`)

// create makes one running operation at 0% and returns its id.
func (a *api) create(ctx context.Context) (string, error) {
	req, err := a.newRequest(ctx, http.MethodPost, a.baseURL+operationsPath, createBody)
	if err != nil {
		return "", err
	}
	resp, body, err := a.do(req)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("POST %s: %d, not 201", operationsPath, resp.StatusCode)
	}
	var op struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &op); err != nil || op.ID == "" {
		return "", fmt.Errorf("POST %s: no id in the answer: %.200s", operationsPath, body)
	}
	return op.ID, nil
}

// seed creates n operations with up to concurrency requests in flight and returns their ids.
// The first failure stops it.
func (a *api) seed(ctx context.Context, n, concurrency int) ([]string, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ids := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(concurrency, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				id, err := a.create(ctx)
				if err != nil {
					cancel(err)
					return
				}
				ids[i] = id
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, fmt.Errorf("create %d operations: %w", n, err)
	}
	return ids, nil
}

// ready waits until the server answers a GET with 200, for at most timeout; alive reports whether the
// server process still runs, so that a server that died is reported at once.
func (a *api) ready(ctx context.Context, timeout time.Duration, alive func() error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if err := alive(); err != nil {
			return err
		}
		req, err := a.newRequest(ctx, http.MethodGet, a.baseURL+operationsPath+"?$top=1", nil)
		if err != nil {
			return err
		}
		_, _, err = a.do(req)
		var se *statusError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &se):
			return fmt.Errorf("server at %s is up but refuses the benchmark: %w", a.baseURL, err)
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("server at %s did not answer within %s: %w", a.baseURL, timeout, last)
}

// loadConfig is one load run.
type loadConfig struct {
	concurrency    int
	duration       time.Duration
	mix            float64 // share of PATCH requests; the rest are GET
	maxRequests    int64
	requestTimeout time.Duration
	serverPID      int  // when positive, the server's resident memory and CPU are sampled
	etags          bool // record each PATCH answer's ETag and time, for the stream delays
}

// loadResult is what a load run measured. Latency samples are of successful requests only.
type loadResult struct {
	elapsed    time.Duration
	patch, get []time.Duration
	errors     map[string]int // by status code, or "transport"
	firstError string
	peakRSSKB  int64
	cpu        cpuUse
	etags      []etagAt // with loadConfig.etags
}

func (r *loadResult) requests() int { return len(r.patch) + len(r.get) }

func (r *loadResult) errorCount() int {
	n := 0
	for _, c := range r.errors {
		n += c
	}
	return n
}

// throughput is successful requests per second of wall time.
func (r *loadResult) throughput() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests()) / r.elapsed.Seconds()
}

func (r *loadResult) all() latencies {
	return summarize(slices.Concat(r.patch, r.get))
}

// worker is one goroutine of a run: its own random source, so no two workers send the same sequence,
// and its own samples, so recording costs no lock.
type worker struct {
	rng        *rand.Rand
	patch, get []time.Duration
	errors     map[string]int
	firstError string
	etags      []etagAt
}

// drive sends requests for cfg.duration from cfg.concurrency workers, each to a random operation of paths,
// and prints a progress line to progress about once a second. Requests in flight at the end finish
// (within the request timeout); a cancelled ctx stops the run early and is its error.
func (a *api) drive(ctx context.Context, paths []string, cfg loadConfig, progress io.Writer) (*loadResult, error) {
	conns := make([]*wireConn, cfg.concurrency)
	for i := range conns {
		var err error
		if conns[i], err = newWireConn(a.baseURL, a.token, cfg.requestTimeout); err != nil {
			return nil, err
		}
	}
	var rss *rssSampler
	if cfg.serverPID > 0 {
		var err error
		if rss, err = sampleRSS(ctx, cfg.serverPID, 50*time.Millisecond); err != nil {
			return nil, err
		}
	}
	var issued, completed, failed atomic.Int64
	workers := make([]*worker, cfg.concurrency)
	seed := rand.Uint64() // from the runtime's random source: each run differs from the last
	start := time.Now()
	deadline := start.Add(cfg.duration)
	meter := startCPUMeter(cfg.serverPID)

	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		printProgress(progress, start, &completed, &failed, rss, stopProgress)
	}()

	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{rng: workerRand(seed, i), errors: map[string]int{},
			patch: make([]time.Duration, 0, 4096)}
		workers[i] = w
		conn := conns[i]
		wg.Go(func() {
			defer conn.Close()
			body := make([]byte, 0, 32)
			for ctx.Err() == nil && time.Now().Before(deadline) && issued.Add(1) <= cfg.maxRequests {
				path := paths[w.rng.IntN(len(paths))]
				method, send := http.MethodGet, []byte(nil)
				if w.rng.Float64() < cfg.mix {
					body = append(body[:0], `{"percentProgress":`...)
					body = strconv.AppendInt(body, int64(w.rng.IntN(101)), 10)
					body = append(body, '}')
					method, send = http.MethodPatch, body
				}
				began := time.Now()
				status, answer, err := conn.roundTrip(method, path, send)
				took := time.Since(began)
				switch {
				case err != nil && ctx.Err() != nil:
					return // interrupted: not the server's error
				case err != nil:
					w.fail("transport", fmt.Errorf("%s %s: %w", method, path, err))
					failed.Add(1)
					continue
				case status != http.StatusOK:
					w.fail(strconv.Itoa(status), &statusError{method: method, url: path, status: status,
						body: string(answer[:min(len(answer), 300)])})
					failed.Add(1)
					continue
				}
				if method == http.MethodPatch {
					w.patch = append(w.patch, took)
					if cfg.etags {
						w.etags = append(w.etags, etagAt{etag: revisionKey(path[strings.LastIndexByte(path, '/')+1:], etagOf(answer)),
							sent: began, at: began.Add(took)})
					}
				} else {
					w.get = append(w.get, took)
				}
				completed.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := meter.stop()
	close(stopProgress)
	<-progressDone

	r := &loadResult{elapsed: elapsed, errors: map[string]int{}, cpu: cpu}
	for _, w := range workers {
		r.patch = append(r.patch, w.patch...)
		r.get = append(r.get, w.get...)
		r.etags = append(r.etags, w.etags...)
		for k, n := range w.errors {
			r.errors[k] += n
		}
		if r.firstError == "" {
			r.firstError = w.firstError
		}
	}
	if rss != nil {
		peak, err := rss.Stop()
		if err != nil {
			return nil, err
		}
		r.peakRSSKB = peak
	}
	if err := ctx.Err(); err != nil {
		return r, err
	}
	return r, nil
}

// workerRand is worker i's own random source: the run's seed with the worker's number as PCG's second word,
// so that every worker draws a different sequence of operations and progress values.
func workerRand(seed uint64, i int) *rand.Rand { return rand.New(rand.NewPCG(seed, uint64(i))) }

func (w *worker) fail(key string, err error) {
	w.errors[key]++
	if w.firstError == "" {
		w.firstError = err.Error()
	}
}

func printProgress(w io.Writer, start time.Time, completed, failed *atomic.Int64, rss *rssSampler, stop <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last, lastAt := int64(0), start
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			n := completed.Load()
			line := fmt.Sprintf("bench: %4.0fs  %8d requests  %8.1f req/s  %d errors",
				now.Sub(start).Seconds(), n, float64(n-last)/now.Sub(lastAt).Seconds(), failed.Load())
			if rss != nil {
				line += fmt.Sprintf("  server RSS peak %.1f MB", mb(rss.Peak()))
			}
			fmt.Fprintln(w, line)
			last, lastAt = n, now
		}
	}
}

// mb converts kB to MB (2^20 bytes).
func mb(kb int64) float64 { return float64(kb) / 1024 }

// operationPaths turns ids into the request paths the workers address, built once so the loop does no
// string work.
func (a *api) operationPaths(ids []string) ([]string, error) {
	u, err := url.Parse(a.baseURL)
	if err != nil {
		return nil, err
	}
	paths := make([]string, len(ids))
	for i, id := range ids {
		paths[i] = u.Path + operationsPath + "/" + id
	}
	return paths, nil
}

// report prints a load run's figures: throughput, latency percentiles, errors by status and server memory.
func (r *loadResult) report(w io.Writer) {
	all := r.all()
	fmt.Fprintf(w, "requests     %d in %.3fs\n", r.requests(), r.elapsed.Seconds())
	fmt.Fprintf(w, "throughput   %.1f req/s\n", r.throughput())
	fmt.Fprintf(w, "p50          %s\n", ms(all.p50))
	fmt.Fprintf(w, "p95          %s\n", ms(all.p95))
	fmt.Fprintf(w, "p99          %s\n", ms(all.p99))
	fmt.Fprintf(w, "max          %s\n", ms(all.max))
	if len(r.get) > 0 {
		for _, m := range []struct {
			name    string
			samples []time.Duration
		}{{"PATCH", r.patch}, {"GET", r.get}} {
			l := summarize(m.samples)
			fmt.Fprintf(w, "%-12s %d requests, p50 %s, p95 %s, p99 %s\n", m.name, l.count, ms(l.p50), ms(l.p95), ms(l.p99))
		}
	}
	fmt.Fprintf(w, "errors       %d\n", r.errorCount())
	keys := make([]string, 0, len(r.errors))
	for k := range r.errors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %-10s %d\n", k, r.errors[k])
	}
	if r.firstError != "" {
		fmt.Fprintf(w, "first error  %s\n", r.firstError)
	}
	if r.peakRSSKB > 0 {
		fmt.Fprintf(w, "server RSS   peak %.1f MB\n", mb(r.peakRSSKB))
		fmt.Fprintf(w, "CPU          server %.2f cores, generator %.2f cores, whole machine %.2f of %d cores\n",
			r.cpu.server, r.cpu.generator, r.cpu.machine, numCPU())
	} else {
		fmt.Fprintf(w, "CPU          generator %.2f cores, whole machine %.2f of %d cores\n",
			r.cpu.generator, r.cpu.machine, numCPU())
	}
}

// runPatch is "caseops bench patch": seed operations on a running server, then load it.
func runPatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	s := newSettings("patch", "patch [flags]", getenv, stdout, stderr)
	baseURL := s.String("url", "CASEOPS_BENCH_URL", "http://127.0.0.1:8080", "base URL of the running caseops server")
	serverPID := s.Int("server-pid", "CASEOPS_BENCH_SERVER_PID", 0, "pid of the server process, to report its peak resident memory (VmRSS) and CPU; 0: do not")
	streams := s.Int("streams", "CASEOPS_BENCH_STREAMS", 0, "change streams to hold open during the load: one receives every change and reports the delay from commit to event, the others watch a case the load never touches (each holds one of the server's --max-conns)")
	lf := addLoadFlags(s)
	if err := s.Parse(args); err != nil {
		return err
	}
	if err := lf.validate(); err != nil {
		return err
	}
	if *streams < 0 || *streams > 100_000 {
		return s.Errorf("%s must be from 0 to 100000, not %d", s.Source("streams"), *streams)
	}
	if *serverPID < 0 {
		return s.Errorf("%s must be a process id, not %d", s.Source("server-pid"), *serverPID)
	}
	// Both are checked before any operation is created on the server.
	if *serverPID > 0 {
		if _, err := readVmRSSKB(*serverPID); err != nil {
			return s.Errorf("%s %d: no such process to measure here (%v)", s.Source("server-pid"), *serverPID, err)
		}
	}
	if u, err := url.Parse(*baseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return s.Errorf("%s must be an absolute http or https URL such as http://127.0.0.1:8080, not %q", s.Source("url"), redact.URL(*baseURL))
	}
	token, err := tokenFor(getenv("CASEOPS_JWT_SECRET"), *lf.token)
	if err != nil {
		return err
	}
	var tokenFrom string // for the advice on a 401
	switch {
	case *lf.token != "":
		tokenFrom = s.Source("token")
	case token != "":
		tokenFrom = "$CASEOPS_JWT_SECRET"
	}
	cfg := lf.config(*serverPID)
	cfg.etags = *streams > 0
	a := newAPI(*baseURL, token, cfg.concurrency, cfg.requestTimeout)
	defer a.close()

	fmt.Fprintf(stderr, "bench: creating %d operations at %s\n", *lf.operations, a.baseURL)
	ids, err := a.seed(ctx, *lf.operations, cfg.concurrency)
	if err != nil {
		return explainUnauthorized(err, a.baseURL, tokenFrom)
	}
	fmt.Fprintf(stdout, "caseops bench patch: %s, %d operations, concurrency %d, %s, %s\n",
		a.baseURL, len(ids), cfg.concurrency, cfg.duration, mixLabel(cfg.mix))
	paths, err := a.operationPaths(ids)
	if err != nil {
		return err
	}
	var sw *streamWatch
	if *streams > 0 {
		fmt.Fprintf(stderr, "bench: opening %d change streams\n", *streams)
		if sw, err = a.openStreams(ctx, *streams); err != nil {
			return err
		}
		defer sw.stop()
	}
	r, err := a.drive(ctx, paths, cfg, stderr)
	if err != nil {
		return err
	}
	r.report(stdout)
	if sw != nil {
		time.Sleep(time.Second) // the last answers' events are still on their way
		sw.stop()
		d := sw.delays(r.etags)
		a, q := summarize(d.fromAnswer), summarize(d.fromRequest)
		// A PATCH commits after it is sent and before it is answered: the delay from its commit to its event
		// lies between these two.
		fmt.Fprintf(stdout, "streams      %d open; commit to event: from the PATCH's answer p50 %s, p99 %s, max %s; "+
			"from its request p50 %s, p99 %s, max %s (%d events; %d PATCHes overtaken in their round)\n",
			*streams, ms(a.p50), ms(a.p99), ms(a.max), ms(q.p50), ms(q.p99), ms(q.max), a.count, d.missing)
		fmt.Fprintf(stdout, "slowest      sent %.1f s into the load; %d events over 1 s\n", d.slowestAt.Seconds(), d.overASecond)
		for _, err := range sw.errs {
			fmt.Fprintf(stdout, "stream error %v\n", err)
		}
	}
	return nil
}

func mixLabel(mix float64) string {
	return fmt.Sprintf("%.0f%% PATCH / %.0f%% GET", mix*100, (1-mix)*100)
}
