package bench

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"math"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caseops/caseops/handlers"
	"github.com/caseops/caseops/handlers/auth"
	"github.com/caseops/caseops/store"
	"github.com/caseops/caseops/store/storetest"
)

func millis(ns ...int) []time.Duration {
	out := make([]time.Duration, len(ns))
	for i, n := range ns {
		out[i] = time.Duration(n) * time.Millisecond
	}
	return out
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	oneToHundred := make([]int, 100)
	for i := range oneToHundred {
		oneToHundred[i] = 100 - i // descending: summarize must sort
	}
	tests := []struct {
		name    string
		samples []time.Duration
		want    latencies
	}{
		{"none", nil, latencies{}},
		{"one", millis(7), latencies{count: 1, p50: 7 * time.Millisecond, p95: 7 * time.Millisecond,
			p99: 7 * time.Millisecond, max: 7 * time.Millisecond}},
		{"five", millis(50, 10, 40, 20, 30), latencies{count: 5, p50: 30 * time.Millisecond, p95: 50 * time.Millisecond,
			p99: 50 * time.Millisecond, max: 50 * time.Millisecond}},
		{"1 to 100", millis(oneToHundred...), latencies{count: 100, p50: 50 * time.Millisecond, p95: 95 * time.Millisecond,
			p99: 99 * time.Millisecond, max: 100 * time.Millisecond}},
		{"outlier in 200", append(millis(make([]int, 197)...), 5*time.Millisecond, 5*time.Millisecond, time.Second),
			latencies{count: 200, p50: 0, p95: 0, p99: 5 * time.Millisecond, max: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := summarize(tt.samples); got != tt.want {
				t.Errorf("summarize = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	t.Parallel()
	sorted := millis(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	for p, want := range map[float64]int{0: 1, 10: 1, 11: 2, 50: 5, 90: 9, 90.5: 10, 99: 10, 100: 10} {
		if got := percentile(sorted, p); got != time.Duration(want)*time.Millisecond {
			t.Errorf("percentile(1..10 ms, %v) = %v, want %d ms", p, got, want)
		}
	}
}

func TestMedian(t *testing.T) {
	t.Parallel()
	odd := []float64{0.9, 0.5, 0.7}
	if got := median(odd); got != 0.7 {
		t.Errorf("median(%v) = %v, want 0.7", odd, got)
	}
	if !slices.Equal(odd, []float64{0.9, 0.5, 0.7}) {
		t.Errorf("median reordered its argument: %v", odd)
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median(4 1 3 2) = %v, want 2.5", got)
	}
	if got := median(nil); !math.IsNaN(got) {
		t.Errorf("median(nil) = %v, want NaN", got)
	}
}

func TestJudge(t *testing.T) {
	t.Parallel()
	p := func(rate, tps float64, p99, pgP99 int, errs int, rssMB int64) pair {
		return pair{serviceRate: rate, pgbenchTPS: tps, serviceP99: time.Duration(p99) * time.Millisecond,
			pgbenchP99: time.Duration(pgP99) * time.Millisecond, serviceErrors: errs, peakRSSKB: rssMB * 1024}
	}
	pairs := []pair{
		p(1600, 1000, 30, 20, 0, 40), // 1.6, 1.5
		p(1200, 1000, 40, 20, 0, 41), // 1.2, 2.0
		p(3600, 2000, 20, 20, 0, 39), // 1.8, 1.0
		p(1400, 1000, 35, 20, 0, 42), // 1.4, 1.75
		p(3000, 2000, 25, 20, 0, 40), // 1.5, 1.25
	}
	v := judge(pairs)
	want := verdict{throughputRatio: 1.5, p99Ratio: 1.5, peakRSSMB: 42}
	if v != want {
		t.Errorf("judge = %+v, want %+v", v, want)
	}
	if m := v.missed(); len(m) != 0 {
		t.Errorf("missed = %q, want none", m)
	}

	pairs[0].serviceErrors, pairs[1].peakRSSKB = 3, 64*1024
	pairs[0].serviceRate, pairs[1].serviceRate, pairs[2].serviceRate = 800, 600, 1000 // ratios 0.8 0.6 0.5 1.4 1.5
	pairs[2].serviceP99 = 60 * time.Millisecond                                       // p99 ratios 1.5 2.0 3.0 1.75 1.25
	got := judge(pairs).missed()
	wantMissed := []string{"throughput ratio 0.80 < 1.00", "p99 ratio 1.75 > 1.50", "3 service errors", "server RSS 64.0 MB >= 64 MB"}
	if !slices.Equal(got, wantMissed) {
		t.Errorf("missed = %q, want %q", got, wantMissed)
	}
}

// A pgbench 15 run's output, as printed.
const pgbenchOutput = `pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: /tmp/caseops-bench-1/patch.pgbench
scaling factor: 1
query mode: prepared
number of clients: 32
number of threads: 2
maximum number of tries: 1
duration: 15 s
number of transactions actually processed: 30451
number of failed transactions: 0 (0.000%)
latency average = 15.759 ms
initial connection time = 31.027 ms
tps = 2030.566441 (without initial connection time)
`

func TestParsePgbenchOutput(t *testing.T) {
	t.Parallel()
	got, err := parsePgbenchOutput(pgbenchOutput)
	if err != nil {
		t.Fatal(err)
	}
	want := pgbenchSummary{tps: 2030.566441, latencyAverage: 15759 * time.Microsecond, processed: 30451, failed: 0}
	if got != want {
		t.Errorf("parsePgbenchOutput = %+v, want %+v", got, want)
	}
	withFailures := strings.Replace(pgbenchOutput, "failed transactions: 0 (0.000%)", "failed transactions: 12 (0.039%)", 1)
	if got, _ := parsePgbenchOutput(withFailures); got.failed != 12 {
		t.Errorf("failed = %d, want 12", got.failed)
	}
	if _, err := parsePgbenchOutput("pgbench: error: connection to server failed\n"); err == nil {
		t.Error("parsePgbenchOutput accepted output with no summary")
	}
}

func TestParsePgbenchLog(t *testing.T) {
	t.Parallel()
	log := "0 1 2046 0 1795880500 773369\n" +
		"0 2 249 0 1795880500 773632\n" +
		"1 1 failed 0 1795880500 773700\n" +
		"1 2 15000 0 1795880500 788700 0 2\n" + // with schedule lag and retries
		"\n"
	samples, failed, err := parsePgbenchLog(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{2046 * time.Microsecond, 249 * time.Microsecond, 15 * time.Millisecond}
	if !slices.Equal(samples, want) || failed != 1 {
		t.Errorf("parsePgbenchLog = %v, %d failed; want %v, 1 failed", samples, failed, want)
	}
	for _, bad := range []string{"0 1 2046\n", "0 1 abc 0 1795880500 773369\n", "0 1 -5 0 1795880500 773369\n"} {
		if _, _, err := parsePgbenchLog(strings.NewReader(bad)); err == nil {
			t.Errorf("parsePgbenchLog(%q) succeeded, want an error", bad)
		}
	}
}

func TestReadPgbenchLogsReadsEveryThread(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, text := range map[string]string{"tx.4242": "0 1 1000 0 1 1\n", "tx.4242.1": "1 1 3000 0 1 1\n1 2 failed 0 1 1\n"} {
		if err := os.WriteFile(dir+"/"+name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	samples, failed, err := readPgbenchLogs(dir)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(samples)
	if !slices.Equal(samples, millis(1, 3)) || failed != 1 {
		t.Errorf("readPgbenchLogs = %v, %d failed; want [1ms 3ms], 1 failed", samples, failed)
	}
}

func TestProcParsing(t *testing.T) {
	t.Parallel()
	status := "Name:\tcaseops\nVmPeak:\t 1300000 kB\nVmHWM:\t   41000 kB\nVmRSS:\t   38912 kB\nRssAnon:\t 20000 kB\n"
	if kb, err := vmRSSKB([]byte(status)); err != nil || kb != 38912 {
		t.Errorf("vmRSSKB = %d, %v; want 38912", kb, err)
	}
	if _, err := vmRSSKB([]byte("Name:\tkworker\n")); err == nil {
		t.Error("vmRSSKB found a VmRSS where there is none")
	}
	// The command name may hold spaces and parentheses; utime and stime are fields 14 and 15, in ticks.
	stat := "4242 (case ops (x)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 130 0 0 20 0 9 0 100 1300000000 9500 ..."
	if d, err := processCPU([]byte(stat)); err != nil || d != 3800*time.Millisecond {
		t.Errorf("processCPU = %v, %v; want 3.8s", d, err)
	}
}

func TestWorkersDrawDifferentSequences(t *testing.T) {
	t.Parallel()
	draw := func(i int) []int {
		r := workerRand(42, i)
		out := make([]int, 20)
		for j := range out {
			out[j] = r.IntN(1000)
		}
		return out
	}
	if a, b := draw(0), draw(1); slices.Equal(a, b) {
		t.Errorf("workers 0 and 1 draw the same sequence %v", a)
	}
	if a, b := draw(3), draw(3); !slices.Equal(a, b) {
		t.Errorf("one worker's sequence is not reproducible from the seed: %v, %v", a, b)
	}
}

func TestTokenFor(t *testing.T) {
	t.Parallel()
	if tok, err := tokenFor("", ""); tok != "" || err != nil {
		t.Errorf("no secret, no token: %q, %v; want none", tok, err)
	}
	if tok, err := tokenFor(testSecret, "given"); tok != "given" || err != nil {
		t.Errorf("secret and token: %q, %v; want the given token", tok, err)
	}
	tok, err := tokenFor(testSecret, "")
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(context.Background(), auth.Config{Secret: []byte(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(context.Background(), "Bearer "+tok)
	if err != nil || p.TenantID != "bench" || !p.CanWrite() {
		t.Errorf("minted token: %+v, %v", p, err)
	}
	// --help says so.
	for _, cmd := range []string{"patch", "pairs"} {
		var help strings.Builder
		if err := Run(context.Background(), []string{cmd, "--help"}, func(string) string { return "" }, &help, io.Discard); !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("bench %s --help: %v", cmd, err)
		}
		_, token, _ := strings.Cut(help.String(), "--token")
		token, _, _ = strings.Cut(token, "\n  --")
		if !strings.Contains(token, "for a development-mode serve, the token it prints at start") ||
			!strings.Contains(token, "when empty, one is minted") || !strings.Contains(token, "CASEOPS_JWT_SECRET") {
			t.Errorf("bench %s --help on --token:%s", cmd, token)
		}
	}
}

const testSecret = "bench-test-secret-of-at-least-32-bytes"

func TestWithDatabase(t *testing.T) {
	t.Parallel()
	got, err := withDatabase("postgres://u:p@db:5433/postgres?sslmode=disable", "caseops_bench")
	if want := "postgres://u:p@db:5433/caseops_bench?sslmode=disable"; got != want || err != nil {
		t.Errorf("withDatabase = %q, %v; want %q", got, err, want)
	}
	if _, err := withDatabase("host=db dbname=postgres", "caseops_bench"); err == nil {
		t.Error("withDatabase accepted a keyword/value string it cannot rewrite")
	}
}

// TestPatchAgainstServer runs the whole patch command for two seconds against the real API on a real database.
func TestPatchAgainstServer(t *testing.T) {
	t.Parallel()
	verifier, err := auth.NewVerifier(context.Background(), auth.Config{Secret: []byte(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(storetest.NewPool(t))
	api := handlers.NewServer(slog.New(slog.DiscardHandler), handlers.Config{RequestTimeout: 5 * time.Second}, verifier, st, st, nil)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)

	var stdout, stderr bytes.Buffer
	getenv := func(name string) string {
		// A variable is read like its flag; the token is minted from the secret.
		return map[string]string{"CASEOPS_BENCH_MIX": "0.8", "CASEOPS_JWT_SECRET": testSecret}[name]
	}
	err = Run(context.Background(), []string{"patch", "--url", srv.URL, "--operations", "20", "--concurrency", "4",
		"--duration", "2s", "--server-pid", strconv.Itoa(os.Getpid())}, getenv, &stdout, &stderr)
	if err != nil {
		t.Fatalf("bench patch: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	out := stdout.String()
	t.Logf("stdout:\n%s", out)

	m := regexp.MustCompile(`(?m)^throughput +([0-9.]+) req/s$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no throughput line")
	}
	if rate, _ := strconv.ParseFloat(m[1], 64); !(rate > 0) {
		t.Errorf("throughput %s req/s, want more than 0", m[1])
	}
	for _, line := range []string{`errors +0`, `p50 +[0-9.]+ ms`, `p95 +[0-9.]+ ms`, `p99 +[0-9.]+ ms`,
		`PATCH +[0-9]+ requests, p50 .*`, `GET +[0-9]+ requests, p50 .*`, `server RSS +peak [0-9.]+ MB`} {
		if !regexp.MustCompile(`(?m)^` + line + `$`).MatchString(out) {
			t.Errorf("no line matching %q", line)
		}
	}
	if !strings.Contains(out, "80% PATCH / 20% GET") {
		t.Errorf("the mix from $CASEOPS_BENCH_MIX is not in the header")
	}
	if !regexp.MustCompile(`(?m)^bench: +1s .* req/s`).MatchString(stderr.String()) {
		t.Errorf("no progress line on stderr:\n%s", &stderr)
	}
}

// Load settings out of range are refused before anything is sent; NaN is out of every range.
func TestLoadFlagsRefuseNonsense(t *testing.T) {
	t.Parallel()
	for _, mix := range []string{"NaN", "-0.1", "1.5"} {
		err := Run(context.Background(), []string{"patch", "--mix", mix, "--url", "http://127.0.0.1:1"},
			func(string) string { return "" }, io.Discard, io.Discard)
		want := "caseops bench patch: --mix must be from 0 to 1, not " + mix + "; run 'caseops bench patch --help' for the settings"
		if err == nil || err.Error() != want {
			t.Errorf("--mix %s: %v, want %q", mix, err, want)
		}
	}
	// The server's pid and URL are checked before any operation is created (nothing listens at port 1).
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--server-pid", "999999999", "--url", "http://127.0.0.1:1"}, "caseops bench patch: --server-pid 999999999: no such process to measure here"},
		{[]string{"--url", "127.0.0.1:8080"}, `caseops bench patch: --url must be an absolute http or https URL such as http://127.0.0.1:8080, not "127.0.0.1:8080"; run 'caseops bench patch --help' for the settings`},
	} {
		err := Run(context.Background(), append([]string{"patch"}, tc.args...), func(string) string { return "" }, io.Discard, io.Discard)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("bench patch %v: %v, want %q", tc.args, err, tc.want)
		}
	}
	env := map[string]string{"CASEOPS_BENCH_CONCURRENCY": "0"}
	err := Run(context.Background(), []string{"patch", "--url", "http://127.0.0.1:1"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
	if want := "caseops bench patch: $CASEOPS_BENCH_CONCURRENCY must be from 1 to 10000, not 0; run 'caseops bench patch --help' for the settings"; err == nil || err.Error() != want {
		t.Errorf("concurrency 0 from the environment: %v, want %q", err, want)
	}
}

// The server pairs starts runs with the defaults, whatever the operator set for their own server.
func TestServiceEnvironDropsCaseopsSettings(t *testing.T) {
	t.Parallel()
	got := serviceEnviron([]string{"PATH=/bin", "CASEOPS_JWT_ISSUER=https://login.example/", "DATABASE_URL=postgres://x/y",
		"CASEOPS_REQUEST_TIMEOUT=1ns", "HOME=/root", "MY_CASEOPS_NOTE=kept"})
	if want := []string{"PATH=/bin", "HOME=/root", "MY_CASEOPS_NOTE=kept"}; !slices.Equal(got, want) {
		t.Errorf("serviceEnviron = %q, want %q", got, want)
	}
}

// With --streams, bench patch holds streams open through the load and reports the delay from PATCH to event.
func TestPatchWithStreams(t *testing.T) {
	t.Parallel()
	verifier, err := auth.NewVerifier(context.Background(), auth.Config{Secret: []byte(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(storetest.NewPool(t))
	w := store.NewWatcher(st, slog.New(slog.DiscardHandler), 64)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	api := handlers.NewServer(slog.New(slog.DiscardHandler), handlers.Config{RequestTimeout: 5 * time.Second, Streams: w}, verifier, st, st, nil)
	srv := httptest.NewServer(api)
	t.Cleanup(func() { stop(); <-done; srv.Close() })

	var stdout, stderr bytes.Buffer
	getenv := func(name string) string { return map[string]string{"CASEOPS_JWT_SECRET": testSecret}[name] }
	err = Run(context.Background(), []string{"patch", "--url", srv.URL, "--operations", "20", "--concurrency", "4",
		"--duration", "2s", "--streams", "20"}, getenv, &stdout, &stderr)
	if err != nil {
		t.Fatalf("bench patch --streams: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	out := stdout.String()
	t.Logf("stdout:\n%s", out)
	m := regexp.MustCompile(`(?m)^streams +20 open; commit to event: from the PATCH.s answer p50 [0-9.]+ ms, p99 [0-9.]+ ms, max [0-9.]+ ms; from its request p50 [0-9.]+ ms, p99 [0-9.]+ ms, max [0-9.]+ ms \(([0-9]+) events; ([0-9]+) PATCHes overtaken in their round\)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no streams line")
	}
	if m[1] == "0" || strings.Contains(out, "stream error") {
		t.Errorf("the measuring stream received no event, or a stream failed")
	}
}

// Batch sizes are what the histogram gained during a run: its mean, and the bucket that holds the 99th percentile.
func TestBatchSizesSince(t *testing.T) {
	t.Parallel()
	before := batchSizes{buckets: map[float64]float64{1: 10, 8: 10, 32: 10, math.Inf(1): 10}, sum: 10, count: 10}
	after := batchSizes{buckets: map[float64]float64{1: 20, 8: 108, 32: 110, math.Inf(1): 110}, sum: 10 + 10 + 500 + 30, count: 110}
	d := after.since(before)
	if d.count != 100 || d.mean() != 5.4 || d.p99() != 32 {
		t.Errorf("count %v, mean %v, p99 %v: want 100, 5.4 and 32", d.count, d.mean(), d.p99())
	}
	if (batchSizes{}).mean() != 0 || (batchSizes{}).p99() != 0 {
		t.Error("a server that coalesced nothing should read as 0")
	}
}
