package bench

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caseops/caseops/cmd/caseops/internal/settings"
	"github.com/caseops/caseops/store"
	"github.com/caseops/caseops/store/redact"
)

//go:embed patch.pgbench
var patchScript []byte

//go:embed seed.sql
var seedSQL string

const (
	// serviceDatabase and pgbenchDatabase begin the names of the fresh databases a run creates on the server
	// that --database-url names (see runDatabases): one for the service under test, one for pgbench, so
	// neither run sees the other's rows.
	serviceDatabase = "caseops_bench"
	pgbenchDatabase = "caseops_pgbench"

	defaultBaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
)

// pgbenchFlags are the settings of a pgbench run, shared by pgbench and pairs.
type pgbenchFlags struct {
	databaseURL *string
	binary      *string
	threads     *int
}

func addPgbenchFlags(s *settings.Set) pgbenchFlags {
	return pgbenchFlags{
		databaseURL: s.URL("database-url", "CASEOPS_BENCH_DATABASE_URL", defaultBaseURL,
			"Postgres server to benchmark on, as a URL; its database is only used to create the run's own databases, "+
				pgbenchDatabase+"_<run> (and for pairs "+serviceDatabase+"_<run>), which the run drops when it ends, "+
				"also on Ctrl-C or SIGTERM; it never touches a database it did not create"),
		binary:  s.String("pgbench", "CASEOPS_BENCH_PGBENCH", "pgbench", "the pgbench program"),
		threads: s.Int("pgbench-threads", "CASEOPS_BENCH_PGBENCH_THREADS", 2, "pgbench worker threads (-j)"),
	}
}

func (f pgbenchFlags) validate() error {
	if *f.threads < 1 {
		return fmt.Errorf("--pgbench-threads must be at least 1, not %d", *f.threads)
	}
	if _, err := exec.LookPath(*f.binary); err != nil {
		return fmt.Errorf("--pgbench %q: %w", *f.binary, err)
	}
	_, err := withDatabase(*f.databaseURL, pgbenchDatabase)
	return err
}

// withDatabase returns the Postgres URL base with its database replaced by name.
func withDatabase(base, name string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("--database-url must be a postgres:// URL, not %q", redact.URL(base))
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

// connect opens one connection to dbURL, bounded as the service's are when the URL sets no connect_timeout.
func connect(ctx context.Context, dbURL string) (*pgx.Conn, error) {
	cfg, err := store.ParseConfig(dbURL)
	if err != nil {
		return nil, err
	}
	return pgx.ConnectConfig(ctx, cfg.ConnConfig)
}

// migrateWithChild runs "caseops migrate up" on dbURL as a child process, as an operator would.
func migrateWithChild(ctx context.Context, exe, dbURL string) error {
	cmd := exec.CommandContext(ctx, exe, "migrate", "up")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("caseops migrate up: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// seedPgbenchDatabase creates the operations patch.pgbench updates and settles the tables' statistics.
func seedPgbenchDatabase(ctx context.Context, dbURL string, n int) error {
	conn, err := connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, seedSQL, n); err != nil {
		return fmt.Errorf("seed %d operations: %w", n, err)
	}
	return vacuumAnalyze(ctx, conn)
}

// vacuumAnalyze gives both databases the same start after seeding: fresh statistics, no dead rows.
func vacuumAnalyze(ctx context.Context, conn *pgx.Conn) error {
	for _, table := range []string{"case_operations", "case_operation_events"} {
		if _, err := conn.Exec(ctx, "VACUUM (ANALYZE) "+table); err != nil {
			return fmt.Errorf("vacuum %s: %w", table, err)
		}
	}
	return nil
}

// preparePgbenchDatabase makes the run's database for patch.pgbench, migrated by exe, with n operations.
func preparePgbenchDatabase(ctx context.Context, exe string, dbs *runDatabases, n int, log io.Writer) (name, dbURL string, err error) {
	if name, dbURL, err = dbs.create(ctx, pgbenchDatabase); err != nil {
		return "", "", err
	}
	fmt.Fprintf(log, "bench: preparing %s with %d operations\n", name, n)
	if err := migrateWithChild(ctx, exe, dbURL); err != nil {
		return "", "", err
	}
	return name, dbURL, seedPgbenchDatabase(ctx, dbURL, n)
}

// pgbenchConfig is one pgbench run of patch.pgbench.
type pgbenchConfig struct {
	binary      string
	databaseURL string
	operations  int
	clients     int
	threads     int
	duration    time.Duration
	workDir     string // holds the script and, during the run, the per-transaction logs
}

// pgbenchSummary is what pgbench prints at the end of a run.
type pgbenchSummary struct {
	tps            float64 // without initial connection time
	latencyAverage time.Duration
	processed      int64
	failed         int64
}

// pgbenchResult is a pgbench run: its own summary, and latencies from its per-transaction log.
type pgbenchResult struct {
	pgbenchSummary
	samples []time.Duration
	cpu     cpuUse // generator: pgbench itself
}

// runPgbench runs patch.pgbench with cfg.clients connections for cfg.duration (whole seconds, as -T takes).
func runPgbench(ctx context.Context, cfg pgbenchConfig) (*pgbenchResult, error) {
	script := filepath.Join(cfg.workDir, "patch.pgbench")
	if err := os.WriteFile(script, patchScript, 0o644); err != nil {
		return nil, err
	}
	logDir, err := os.MkdirTemp(cfg.workDir, "pgbench-log-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(logDir)
	seconds := max(1, int(math.Ceil(cfg.duration.Seconds())))
	args := []string{
		"--no-vacuum", // there are no pgbench_* tables to vacuum
		"--client=" + strconv.Itoa(cfg.clients),
		"--jobs=" + strconv.Itoa(min(cfg.threads, cfg.clients)),
		"--time=" + strconv.Itoa(seconds),
		"--protocol=prepared",
		"--define=operations=" + strconv.Itoa(cfg.operations),
		"--file=" + script,
		"--log", "--log-prefix=" + filepath.Join(logDir, "tx"),
		cfg.databaseURL,
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, cfg.binary, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	meter := startCPUMeter(0)
	err = cmd.Run()
	cpu := meter.stop()
	if ctx.Err() != nil {
		return nil, ctx.Err() // interrupted: pgbench was killed, which is no failure of its own
	}
	if err != nil {
		return nil, fmt.Errorf("pgbench: %w: %s", err, lastLines(out.String(), 20))
	}
	if cmd.ProcessState != nil {
		cpu.generator = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds() / float64(seconds)
	}
	summary, err := parsePgbenchOutput(out.String())
	if err != nil {
		return nil, err
	}
	samples, logFailed, err := readPgbenchLogs(logDir)
	if err != nil {
		return nil, err
	}
	if logFailed != summary.failed {
		return nil, fmt.Errorf("pgbench reported %d failed transactions but its log has %d", summary.failed, logFailed)
	}
	return &pgbenchResult{pgbenchSummary: summary, samples: samples, cpu: cpu}, nil
}

var (
	tpsLine       = regexp.MustCompile(`(?m)^tps = ([0-9.]+) \(without initial connection time\)`)
	latencyLine   = regexp.MustCompile(`(?m)^latency average = ([0-9.]+) ms`)
	processedLine = regexp.MustCompile(`(?m)^number of transactions actually processed: ([0-9]+)`)
	failedLine    = regexp.MustCompile(`(?m)^number of failed transactions: ([0-9]+)`)
)

// parsePgbenchOutput reads the summary pgbench prints: tps, average latency, transactions and failures.
func parsePgbenchOutput(out string) (pgbenchSummary, error) {
	var s pgbenchSummary
	tps := tpsLine.FindStringSubmatch(out)
	lat := latencyLine.FindStringSubmatch(out)
	processed := processedLine.FindStringSubmatch(out)
	if tps == nil || lat == nil || processed == nil {
		return s, fmt.Errorf("pgbench printed no tps, latency or transaction count: %s", lastLines(out, 10))
	}
	var errs [4]error
	s.tps, errs[0] = strconv.ParseFloat(tps[1], 64)
	var latMS float64
	latMS, errs[1] = strconv.ParseFloat(lat[1], 64)
	s.latencyAverage = time.Duration(math.Round(latMS * float64(time.Millisecond)))
	s.processed, errs[2] = strconv.ParseInt(processed[1], 10, 64)
	if failed := failedLine.FindStringSubmatch(out); failed != nil { // pgbench 15 and later
		s.failed, errs[3] = strconv.ParseInt(failed[1], 10, 64)
	}
	if err := errors.Join(errs[:]...); err != nil {
		return s, fmt.Errorf("pgbench output: %w", err)
	}
	return s, nil
}

// parsePgbenchLog reads one per-transaction log (--log): "client_id transaction_no time script_no time_epoch
// time_us [schedule_lag] [retries]", where time is the transaction's latency in microseconds, or "failed" or
// "skipped". It returns the latencies and the number of failed transactions.
func parsePgbenchLog(r io.Reader) (samples []time.Duration, failed int64, err error) {
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 6 {
			return nil, 0, fmt.Errorf("pgbench log line %d: %q has fewer than 6 fields", line, sc.Text())
		}
		switch f[2] {
		case "failed":
			failed++
			continue
		case "skipped": // only with --rate and --latency-limit, which the benchmark does not use
			continue
		}
		us, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil || us < 0 {
			return nil, 0, fmt.Errorf("pgbench log line %d: latency %q is not a number of microseconds", line, f[2])
		}
		samples = append(samples, time.Duration(us)*time.Microsecond)
	}
	return samples, failed, sc.Err()
}

// readPgbenchLogs reads every per-transaction log in dir: pgbench writes one per thread.
func readPgbenchLogs(dir string) ([]time.Duration, int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, 0, err
	}
	var all []time.Duration
	var failed int64
	for _, e := range entries {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, 0, err
		}
		samples, n, err := parsePgbenchLog(f)
		f.Close()
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", e.Name(), err)
		}
		all = append(all, samples...)
		failed += n
	}
	if len(all) == 0 {
		return nil, 0, errors.New("pgbench wrote no per-transaction log")
	}
	return all, failed, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func (r *pgbenchResult) report(w io.Writer) {
	l := summarize(r.samples)
	fmt.Fprintf(w, "transactions %d (%d failed)\n", r.processed, r.failed)
	fmt.Fprintf(w, "tps          %.1f\n", r.tps)
	fmt.Fprintf(w, "average      %s\n", ms(r.latencyAverage))
	fmt.Fprintf(w, "p50          %s\n", ms(l.p50))
	fmt.Fprintf(w, "p95          %s\n", ms(l.p95))
	fmt.Fprintf(w, "p99          %s\n", ms(l.p99))
	fmt.Fprintf(w, "max          %s\n", ms(l.max))
	fmt.Fprintf(w, "CPU          pgbench %.2f cores, whole machine %.2f of %d cores\n", r.cpu.generator, r.cpu.machine, numCPU())
}

// runPgbenchCommand is "caseops bench pgbench": a fresh database of N operations, migrated by exe, then one
// pgbench run.
func runPgbenchCommand(ctx context.Context, exe string, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	s := newSettings("pgbench", "pgbench [flags]", getenv, stdout, stderr)
	pf := addPgbenchFlags(s)
	operations := s.Int("operations", "CASEOPS_BENCH_OPERATIONS", 1000, "operations to create; each transaction updates one at random")
	concurrency := s.Int("concurrency", "CASEOPS_BENCH_CONCURRENCY", 32, "pgbench clients (-c)")
	duration := s.Duration("duration", "CASEOPS_BENCH_DURATION", 20*time.Second, "how long the run lasts (rounded up to whole seconds)")
	if err := s.Parse(args); err != nil {
		return err
	}
	if err := s.Invalid(pf.validate(), atLeastOne(s, "operations", *operations), atLeastOne(s, "concurrency", *concurrency),
		positiveDuration(s, "duration", *duration)); err != nil {
		return err
	}
	workDir, err := os.MkdirTemp("", "caseops-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(workDir)
	dbs, err := newRunDatabases(*pf.databaseURL, stderr)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, dbs.drop(ctx)) }()

	name, dbURL, err := preparePgbenchDatabase(ctx, exe, dbs, *operations, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "bench: running pgbench for %s\n", *duration)
	r, err := runPgbench(ctx, pgbenchConfig{binary: *pf.binary, databaseURL: dbURL, operations: *operations,
		clients: *concurrency, threads: *pf.threads, duration: *duration, workDir: workDir})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "caseops bench pgbench: %s, %d operations, %d clients, %d threads, %s\n",
		name, *operations, *concurrency, min(*pf.threads, *concurrency), *duration)
	r.report(stdout)
	return nil
}

func atLeastOne(s *settings.Set, name string, n int) error {
	if n < 1 {
		return fmt.Errorf("%s must be at least 1, not %d", s.Source(name), n)
	}
	return nil
}

func positiveDuration(s *settings.Set, name string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%s must be more than 0s, not %s", s.Source(name), d)
	}
	return nil
}
