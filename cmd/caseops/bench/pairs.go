package bench

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/caseops/caseops/handlers/auth"
)

// The targets for the service against pgbench at the same concurrency.
const (
	targetThroughputRatio = 1.0  // median service req/s / pgbench tps, at least
	targetP99Ratio        = 1.5  // median service p99 / pgbench p99, at most
	targetRSSMB           = 64.0 // server peak resident memory, below
)

// tokenFor returns the bearer token the benchmark sends: the one given, or else one minted with the
// secret the service verifies tokens with (tenant "bench", eDiscovery.ReadWrite.All, as a worker application).
func tokenFor(jwtSecret, given string) (string, error) {
	if given != "" || jwtSecret == "" {
		return given, nil
	}
	return auth.Mint([]byte(jwtSecret), auth.MintOptions{Tenant: benchTenant, Roles: auth.PermissionReadWrite,
		AppID: "caseops-bench", AppName: "caseops bench", TTL: 24 * time.Hour})
}

// benchTenant is the tenant of every operation the benchmark creates, through the API and in pgbench's database.
const benchTenant = "bench"

// service is "caseops serve" running as a child process, so that its memory and CPU are its own.
type service struct {
	url     string
	pid     int
	logPath string
	cancel  context.CancelFunc
	exited  chan struct{}
	waitErr error
}

// serviceEnviron is the benchmark's environment without the caseops settings an operator may have set for
// their own server (an issuer, a request timeout, a pool size): the server measured runs with the defaults.
func serviceEnviron(environ []string) []string {
	return slices.DeleteFunc(slices.Clone(environ), func(kv string) bool {
		return strings.HasPrefix(kv, "CASEOPS_") || strings.HasPrefix(kv, "DATABASE_URL=")
	})
}

// startService starts exe serve on a free loopback port over dbURL, logging JSON to logPath as in production.
func startService(ctx context.Context, exe, dbURL, jwtSecret, logPath string, coalesce bool) (*service, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(ctx, exe, "serve")
	cmd.Env = append(serviceEnviron(os.Environ()),
		"DATABASE_URL="+dbURL,
		"CASEOPS_ADDR="+addr,
		"CASEOPS_LOG_FORMAT=json",
		"CASEOPS_COALESCE="+strconv.FormatBool(coalesce),
	)
	if jwtSecret != "" {
		cmd.Env = append(cmd.Env, "CASEOPS_JWT_SECRET="+jwtSecret)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Stop it as an orchestrator would, with SIGTERM and time to drain; and never outlive the benchmark.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		cancel()
		logFile.Close()
		return nil, fmt.Errorf("start caseops serve: %w", err)
	}
	s := &service{url: "http://" + addr, pid: cmd.Process.Pid, logPath: logPath, cancel: cancel, exited: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		logFile.Close()
		close(s.exited)
	}()
	return s, nil
}

// alive is nil while the service runs, else why it stopped, with the end of its log.
func (s *service) alive() error {
	select {
	case <-s.exited:
		log, _ := os.ReadFile(s.logPath)
		return fmt.Errorf("caseops serve exited (%v): %s", s.waitErr, lastLines(string(log), 10))
	default:
		return nil
	}
}

// stop sends SIGTERM and waits for the service to drain and exit.
func (s *service) stop() {
	s.cancel()
	<-s.exited
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// pair is one service run and the pgbench run after it.
type pair struct {
	serviceRate   float64
	serviceP99    time.Duration
	serviceErrors int
	peakRSSKB     int64
	serviceCPU    cpuUse
	pgbenchTPS    float64
	pgbenchP99    time.Duration
	pgbenchFailed int64
	pgbenchCPU    cpuUse
	batches       batchSizes // PATCHes per transaction during the service run
}

func (p pair) ratio() float64    { return p.serviceRate / p.pgbenchTPS }
func (p pair) p99Ratio() float64 { return float64(p.serviceP99) / float64(p.pgbenchP99) }

// verdict is the pairs' medians against the targets.
type verdict struct {
	throughputRatio, p99Ratio float64
	serviceErrors             int
	pgbenchFailed             int64
	peakRSSMB                 float64
}

func judge(pairs []pair) verdict {
	var v verdict
	ratios := make([]float64, len(pairs))
	p99Ratios := make([]float64, len(pairs))
	for i, p := range pairs {
		ratios[i], p99Ratios[i] = p.ratio(), p.p99Ratio()
		v.serviceErrors += p.serviceErrors
		v.pgbenchFailed += p.pgbenchFailed
		v.peakRSSMB = max(v.peakRSSMB, mb(p.peakRSSKB))
	}
	v.throughputRatio, v.p99Ratio = median(ratios), median(p99Ratios)
	return v
}

// missed names the targets the verdict does not meet; none means every target holds.
func (v verdict) missed() []string {
	var m []string
	if !(v.throughputRatio >= targetThroughputRatio) {
		m = append(m, fmt.Sprintf("throughput ratio %.2f < %.2f", v.throughputRatio, targetThroughputRatio))
	}
	if !(v.p99Ratio <= targetP99Ratio) {
		m = append(m, fmt.Sprintf("p99 ratio %.2f > %.2f", v.p99Ratio, targetP99Ratio))
	}
	if v.serviceErrors != 0 {
		m = append(m, fmt.Sprintf("%d service errors", v.serviceErrors))
	}
	if !(v.peakRSSMB < targetRSSMB) {
		m = append(m, fmt.Sprintf("server RSS %.1f MB >= %.0f MB", v.peakRSSMB, targetRSSMB))
	}
	return m
}

const pairHeader = "pair  service req/s  pgbench tps  ratio  service p99  pgbench p99  p99 ratio  errors  server RSS  batch mean  batch p99\n"

func (p pair) row(n int) string {
	return fmt.Sprintf("%4d  %13.1f  %11.1f  %5.2f  %11s  %11s  %9.2f  %6d  %7.1f MB  %10.1f  %9.0f\n", n,
		p.serviceRate, p.pgbenchTPS, p.ratio(), ms(p.serviceP99), ms(p.pgbenchP99), p.p99Ratio(), p.serviceErrors, mb(p.peakRSSKB),
		p.batches.mean(), p.batches.p99())
}

func printVerdict(w io.Writer, pairs []pair, v verdict) {
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	fmt.Fprintf(w, "\nCPU, in cores busy on average (%d cores; \"rest\" is mostly Postgres):\n", numCPU())
	fmt.Fprintf(w, "pair  service run: server  generator   rest   pgbench run: pgbench   rest\n")
	for i, p := range pairs {
		fmt.Fprintf(w, "%4d  %19.2f  %9.2f  %5.2f  %20.2f  %5.2f\n", i+1, p.serviceCPU.server, p.serviceCPU.generator,
			max(0, p.serviceCPU.machine-p.serviceCPU.server-p.serviceCPU.generator),
			p.pgbenchCPU.generator, max(0, p.pgbenchCPU.machine-p.pgbenchCPU.generator))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "median throughput ratio  %6.2f     target >= %.2f   %s\n", v.throughputRatio, targetThroughputRatio,
		met(v.throughputRatio >= targetThroughputRatio))
	fmt.Fprintf(w, "median p99 ratio         %6.2f     target <= %.2f   %s\n", v.p99Ratio, targetP99Ratio,
		met(v.p99Ratio <= targetP99Ratio))
	fmt.Fprintf(w, "service errors           %6d     target 0         %s\n", v.serviceErrors, met(v.serviceErrors == 0))
	fmt.Fprintf(w, "server peak RSS          %6.1f MB  target < %.0f MB  %s\n", v.peakRSSMB, targetRSSMB,
		met(v.peakRSSMB < targetRSSMB))
	if v.pgbenchFailed > 0 {
		fmt.Fprintf(w, "pgbench failed transactions: %d (the comparison is suspect)\n", v.pgbenchFailed)
	}
}

// runPairs is "caseops bench pairs": the service as a child process (exe serve) and pgbench on the same
// machine, alternating, so that each pair sees the same machine speed and the ratio between them is fair.
func runPairs(ctx context.Context, exe string, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	s := newSettings("pairs", "pairs [flags]", getenv, stdout, stderr)
	pairCount := s.Int("pairs", "CASEOPS_BENCH_PAIRS", 5, "service/pgbench pairs to run, alternating")
	coalesce := s.Bool("coalesce", "CASEOPS_BENCH_COALESCE", true, "run the service with --coalesce (false: one transaction per PATCH, for comparison)")
	lf := addLoadFlags(s)
	pf := addPgbenchFlags(s)
	if err := s.Parse(args); err != nil {
		return err
	}
	if err := s.Invalid(lf.validate(), pf.validate(), atLeastOne(s, "pairs", *pairCount)); err != nil {
		return err
	}
	jwtSecret := getenv("CASEOPS_JWT_SECRET")
	if jwtSecret == "" {
		// The child must not start in development mode, whose secret we could not know: give it one.
		secret, err := auth.NewDevSecret()
		if err != nil {
			return err
		}
		jwtSecret = hex.EncodeToString(secret)
	}
	token, err := tokenFor(jwtSecret, *lf.token)
	if err != nil {
		return err
	}
	workDir, err := os.MkdirTemp("", "caseops-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(workDir)
	n := *lf.operations
	dbs, err := newRunDatabases(*pf.databaseURL, stderr)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, dbs.drop(ctx)) }() // after the service has stopped

	// (a) The service, on a fresh database that it migrates itself, seeded through its API.
	_, serviceURL, err := dbs.create(ctx, serviceDatabase)
	if err != nil {
		return err
	}
	svc, err := startService(ctx, exe, serviceURL, jwtSecret, filepath.Join(workDir, "serve.log"), *coalesce)
	if err != nil {
		return err
	}
	defer svc.stop()
	fmt.Fprintf(stderr, "bench: started caseops serve (pid %d) at %s\n", svc.pid, svc.url)
	cfg := lf.config(svc.pid)
	a := newAPI(svc.url, token, cfg.concurrency, cfg.requestTimeout)
	defer a.close()
	if err := a.ready(ctx, time.Minute, svc.alive); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "bench: creating %d operations through the API\n", n)
	ids, err := a.seed(ctx, n, cfg.concurrency)
	if err != nil {
		return err
	}
	pgVersion, err := settle(ctx, serviceURL)
	if err != nil {
		return err
	}

	// (b) pgbench's database: the same schema, migrated by caseops migrate up, with the same number of operations.
	_, pgbenchURL, err := preparePgbenchDatabase(ctx, exe, dbs, n, stderr)
	if err != nil {
		return err
	}
	pc := pgbenchConfig{binary: *pf.binary, databaseURL: pgbenchURL, operations: n, clients: cfg.concurrency,
		threads: *pf.threads, duration: cfg.duration, workDir: workDir}

	// (c) Alternate.
	fmt.Fprintf(stdout, "caseops bench pairs: %d pairs of %s each, concurrency %d, %d operations, %s, coalesce %t\n",
		*pairCount, cfg.duration, cfg.concurrency, n, mixLabel(cfg.mix), *coalesce)
	fmt.Fprintf(stdout, "machine: %d cores; PostgreSQL %s; pgbench -c %d -j %d -M prepared %s\n\n",
		numCPU(), pgVersion, pc.clients, min(pc.threads, pc.clients), "patch.pgbench")
	fmt.Fprint(stdout, pairHeader)
	paths, err := a.operationPaths(ids)
	if err != nil {
		return err
	}
	var pairs []pair
	for i := 1; i <= *pairCount; i++ {
		fmt.Fprintf(stderr, "bench: pair %d/%d: service\n", i, *pairCount)
		batchesBefore, err := a.readBatchSizes(ctx)
		if err != nil {
			return err
		}
		lr, err := a.drive(ctx, paths, cfg, stderr)
		if err != nil {
			return err
		}
		batchesAfter, err := a.readBatchSizes(ctx)
		if err != nil {
			return err
		}
		if err := svc.alive(); err != nil {
			return err
		}
		if lr.firstError != "" {
			fmt.Fprintf(stderr, "bench: pair %d: first service error: %s\n", i, lr.firstError)
		}
		fmt.Fprintf(stderr, "bench: pair %d/%d: pgbench\n", i, *pairCount)
		pr, err := runPgbench(ctx, pc)
		if err != nil {
			return err
		}
		p := pair{serviceRate: lr.throughput(), serviceP99: lr.all().p99, serviceErrors: lr.errorCount(),
			peakRSSKB: lr.peakRSSKB, serviceCPU: lr.cpu,
			pgbenchTPS: pr.tps, pgbenchP99: summarize(pr.samples).p99, pgbenchFailed: pr.failed, pgbenchCPU: pr.cpu,
			batches: batchesAfter.since(batchesBefore)}
		pairs = append(pairs, p)
		fmt.Fprint(stdout, p.row(i))
	}
	v := judge(pairs)
	printVerdict(stdout, pairs, v)
	if m := v.missed(); len(m) > 0 {
		return fmt.Errorf("targets missed: %s", strings.Join(m, "; "))
	}
	return nil
}

// settle vacuums and analyzes the service's freshly seeded tables, as preparePgbenchDatabase does pgbench's,
// and returns the server's version for the report.
func settle(ctx context.Context, dbURL string) (string, error) {
	conn, err := connect(ctx, dbURL)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var version string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
		return "", err
	}
	version, _, _ = strings.Cut(version, " ")
	return version, vacuumAnalyze(ctx, conn)
}
