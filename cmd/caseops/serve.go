package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/caseops/caseops/cmd/caseops/internal/settings"
	"github.com/caseops/caseops/handlers"
	"github.com/caseops/caseops/handlers/auth"
	"github.com/caseops/caseops/handlers/dashboard"
	"github.com/caseops/caseops/migrations"
	"github.com/caseops/caseops/store"
	"github.com/caseops/caseops/store/redact"
)

type serveConfig struct {
	databaseURL     string
	addr            string
	migrate         bool
	requestTimeout  time.Duration
	shutdownTimeout time.Duration
	startupTimeout  time.Duration
	maxConns        int
	maxBodyBytes    int
	maxHTTPConns    int
	maxStreams      int
	coalescing      store.Coalescing
	metricsAddr     string
	pprof           bool
	logFormat       string
	jwt             jwtConfig
	addrSource      string // --addr or $CASEOPS_ADDR when one gave the address, "" when it is the default
}

// devAddr is where development mode listens unless --addr or CASEOPS_ADDR says otherwise: loopback, IPv4
// only (a client that resolves localhost to ::1 first falls back to it).
const devAddr = "127.0.0.1:8080"

// streamBuffer is how many rounds of changes a stream may have waiting to be written before its client is dropped as
// too slow (it reconnects with Last-Event-ID and catches up from the history): a bound on each stream's memory.
const streamBuffer = 64

// maxMaxBodyBytes caps --max-body-bytes: the largest valid body is a few KiB, so more only invites abuse.
const maxMaxBodyBytes = 64 << 20

// maxCoalesceWait caps --coalesce-wait: coalescing pays for waits of a few milliseconds, and a longer one
// only delays every PATCH under load.
const maxCoalesceWait = 100 * time.Millisecond

// maxCoalesceMax caps --coalesce-max: Postgres tracks a transaction's locks and undo in memory, and a batch
// that large already costs a commit next to nothing.
const maxCoalesceMax = 1000

// maxMaxHTTPConns caps --max-conns: past it the cap no longer protects the server's memory.
const maxMaxHTTPConns = 100000

// jwtConfig says how bearer tokens are checked; with none of it set, serve runs in development mode.
type jwtConfig struct {
	secret, jwksURL, issuer, audience string
	maxLifetime                       time.Duration
}

// development reports whether no JWT setting is given at all, so that serve runs in development mode.
func (j jwtConfig) development() bool { return j.secret == "" && j.jwksURL == "" }

func jwtFlags(s *settings.Set) func() jwtConfig {
	secret := s.Secret("jwt-secret", "CASEOPS_JWT_SECRET", "HS256 key for bearer tokens (at least 32 bytes)")
	jwks := s.String("jwks-url", "CASEOPS_JWKS_URL", "", "URL of a JWKS with the RS256/ES256 keys of bearer tokens")
	issuer := s.String("jwt-issuer", "CASEOPS_JWT_ISSUER", "", "required iss of bearer tokens (unchecked when empty)")
	audience := s.String("jwt-audience", "CASEOPS_JWT_AUDIENCE", "", "required aud of bearer tokens (unchecked when empty)")
	maxLifetime := jwtMaxLifetimeFlag(s)
	return func() jwtConfig { return jwtConfig{*secret, *jwks, *issuer, *audience, *maxLifetime} }
}

// jwtMaxLifetimeFlag is shared by serve, which refuses longer-lived tokens, and token, which will not mint them.
func jwtMaxLifetimeFlag(s *settings.Set) *time.Duration {
	return s.Duration("jwt-max-lifetime", "CASEOPS_JWT_MAX_LIFETIME", auth.DefaultMaxLifetime,
		"longest a bearer token may have left to live (exp minus now): serve refuses tokens that expire later, token mints none")
}

func parseServe(args []string, getenv func(string) string, stdout, stderr io.Writer) (serveConfig, *settings.Set, error) {
	s := newSettings("serve", "serve [flags]", getenv, stdout, stderr).NoArguments()
	var c serveConfig
	dbURL := databaseURLFlag(s)
	addr := s.String("addr", "CASEOPS_ADDR", ":8080", "address the HTTP API listens on; in development mode (no JWT setting) "+devAddr+" unless given")
	migrate := s.Bool("migrate", "CASEOPS_MIGRATE", true, "create the database if missing and apply pending migrations at start")
	requestTimeout := s.Duration("request-timeout", "CASEOPS_REQUEST_TIMEOUT", 10*time.Second, "longest a request may work before it is answered 503")
	shutdownTimeout := s.Duration("shutdown-timeout", "CASEOPS_SHUTDOWN_TIMEOUT", 20*time.Second, "how long in-flight requests may finish after SIGTERM")
	startupTimeout := s.Duration("startup-timeout", "CASEOPS_STARTUP_TIMEOUT", 60*time.Second, "how long to keep retrying an unreachable database at start")
	maxConns := s.Int("db-max-conns", "CASEOPS_DB_MAX_CONNS", 16, "most connections in the Postgres pool")
	maxBodyBytes := s.Int("max-body-bytes", "CASEOPS_MAX_BODY_BYTES", handlers.DefaultMaxBodyBytes, "largest POST or PATCH body accepted, in bytes; larger ones are answered 413")
	maxHTTPConns := s.Int("max-conns", "CASEOPS_MAX_CONNS", handlers.DefaultMaxConns, "most HTTP connections open at once (each listener); past it an idle one is closed, or the new one is answered 503 (not the Postgres pool: see --db-max-conns)")
	maxStreams := s.Int("max-streams", "CASEOPS_MAX_STREAMS", handlers.DefaultMaxStreams, "most change streams (.../operations/stream) open at once; past it a new one is answered 503 (each also holds one of --max-conns)")
	coalesce := s.Bool("coalesce", "CASEOPS_COALESCE", true, "apply PATCHes that are in flight together in one transaction, each answered as if alone (false: one transaction per PATCH)")
	coalesceWait := s.Duration("coalesce-wait", "CASEOPS_COALESCE_WAIT", store.DefaultCoalescing.MaxWait, "longest a PATCH waits for others to join its transaction while another is in the database (a PATCH alone never waits)")
	coalesceMax := s.Int("coalesce-max", "CASEOPS_COALESCE_MAX", store.DefaultCoalescing.MaxBatch, "most PATCHes in one coalesced transaction; a full one goes at once")
	metricsAddr := s.String("metrics-addr", "CASEOPS_METRICS_ADDR", "", "address of a separate listener for /metrics (empty: /metrics is served on --addr)")
	pprof := s.Bool("pprof", "CASEOPS_PPROF", false, "also serve Go's profiler at /debug/pprof/ on --metrics-addr (which must be set: never on the API's address)")
	logFormat := s.String("log-format", "CASEOPS_LOG_FORMAT", "json", "log format: json or text")
	jwt := jwtFlags(s)
	if err := s.Parse(args); err != nil {
		return c, s, err
	}
	c = serveConfig{databaseURL: *dbURL, addr: *addr, migrate: *migrate, requestTimeout: *requestTimeout,
		shutdownTimeout: *shutdownTimeout, startupTimeout: *startupTimeout, maxConns: *maxConns,
		maxBodyBytes: *maxBodyBytes, maxHTTPConns: *maxHTTPConns, maxStreams: *maxStreams,
		coalescing: store.Coalescing{Off: !*coalesce, MaxWait: *coalesceWait, MaxBatch: *coalesceMax}, metricsAddr: *metricsAddr, pprof: *pprof, logFormat: *logFormat, jwt: jwt()}
	if err := checkJWT(s, c.jwt); err != nil {
		return c, s, err
	}
	// Development mode prints a token with every right: unless told otherwise, only this machine can use it.
	if s.Given("addr") {
		c.addrSource = s.Source("addr")
	} else if c.jwt.development() {
		c.addr = devAddr
	}
	if c.logFormat != "json" && c.logFormat != "text" {
		return c, s, s.Errorf("%s must be json or text, not %q", s.Source("log-format"), c.logFormat)
	}
	if c.pprof && c.metricsAddr == "" {
		return c, s, s.Errorf("--pprof needs --metrics-addr: the profiler is never served on the API's address")
	}
	if c.maxConns < 1 || c.maxConns > 10000 {
		return c, s, s.Errorf("%s must be from 1 to 10000, not %d", s.Source("db-max-conns"), c.maxConns)
	}
	if strings.Contains(c.databaseURL, "pool_max_conns") && !isFlagSet(s, "db-max-conns") && getenv("CASEOPS_DB_MAX_CONNS") == "" {
		c.maxConns = 0 // the URL's pool_max_conns stands unless --db-max-conns is given
	}
	if c.maxHTTPConns < 1 || c.maxHTTPConns > maxMaxHTTPConns {
		return c, s, s.Errorf("%s must be from 1 to %d, not %d", s.Source("max-conns"), maxMaxHTTPConns, c.maxHTTPConns)
	}
	if c.maxStreams < 1 || c.maxStreams > maxMaxHTTPConns {
		return c, s, s.Errorf("%s must be from 1 to %d, not %d", s.Source("max-streams"), maxMaxHTTPConns, c.maxStreams)
	}
	if c.coalescing.MaxWait < 0 || c.coalescing.MaxWait > maxCoalesceWait {
		return c, s, s.Errorf("%s must be from 0s to %s, not %s", s.Source("coalesce-wait"), maxCoalesceWait, c.coalescing.MaxWait)
	}
	if c.coalescing.MaxBatch < 1 || c.coalescing.MaxBatch > maxCoalesceMax {
		return c, s, s.Errorf("%s must be from 1 to %d, not %d", s.Source("coalesce-max"), maxCoalesceMax, c.coalescing.MaxBatch)
	}
	if c.maxBodyBytes < 1 || c.maxBodyBytes > maxMaxBodyBytes {
		return c, s, s.Errorf("%s must be from 1 to %d, not %d", s.Source("max-body-bytes"), maxMaxBodyBytes, c.maxBodyBytes)
	}
	// A listen address is checked now, not after the database has been created and migrated.
	for _, a := range []struct{ flag, value string }{{"addr", c.addr}, {"metrics-addr", c.metricsAddr}} {
		if a.value == "" && a.flag == "metrics-addr" {
			continue
		}
		if err := checkListenAddr(a.value); err != nil {
			return c, s, s.Errorf("%s %q: %w", s.Source(a.flag), a.value, err)
		}
	}
	if c.metricsAddr != "" && c.metricsAddr == c.addr {
		return c, s, s.Errorf("--metrics-addr must differ from --addr: /metrics has its own listener when it is set")
	}
	// Zero or less would remove the limit, make every shutdown fail, or allow no try at all: none is a
	// setting anyone means. A request timeout under 10ms would answer every request 503.
	for _, d := range []struct {
		flag         string
		value, least time.Duration
	}{
		{"request-timeout", c.requestTimeout, 10 * time.Millisecond},
		{"shutdown-timeout", c.shutdownTimeout, time.Millisecond},
		{"startup-timeout", c.startupTimeout, time.Millisecond},
		{"jwt-max-lifetime", c.jwt.maxLifetime, time.Second},
	} {
		if d.value < d.least {
			return c, s, s.Errorf("%s must be at least %s, not %s", s.Source(d.flag), d.least, d.value)
		}
	}
	return c, s, nil
}

// warnDevelopmentAddr says where development mode listens: on loopback unless told otherwise, and when told
// otherwise, that whoever reads the log can use its token from wherever the address can be reached.
func warnDevelopmentAddr(logger *slog.Logger, cfg serveConfig) {
	host, _, _ := net.SplitHostPort(cfg.addr)
	ip := net.ParseIP(host)
	switch {
	case cfg.addrSource == "":
		logger.Warn("development mode listens on " + devAddr + ", this machine only: give --addr or CASEOPS_ADDR (such as :8080) " +
			"to be reachable from elsewhere, as from outside a container")
	case host == "localhost" || ip != nil && ip.IsLoopback():
	default:
		logger.Warn("development mode listens on "+cfg.addr+", which other machines may reach: anyone who reads this log can use its token there",
			"source", cfg.addrSource)
	}
}

// checkJWT refuses a JWT setting the verifier would refuse, naming the one setting that is wrong.
func checkJWT(s *settings.Set, j jwtConfig) error {
	switch {
	case j.secret != "" && j.jwksURL != "":
		return s.Errorf("%s and %s are both set: give one, the secret for HS256 tokens or the JWKS URL for RS256 and ES256",
			s.Source("jwt-secret"), s.Source("jwks-url"))
	case j.secret != "" && len(j.secret) < auth.MinSecretBytes:
		// The value of a secret is never printed, not even a short one.
		return s.Errorf("%s is %d bytes long; an HS256 secret must be at least %d bytes", s.Source("jwt-secret"), len(j.secret), auth.MinSecretBytes)
	case j.jwksURL != "":
		if u, err := url.Parse(j.jwksURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return s.Errorf("%s must be an absolute http or https URL, not %q", s.Source("jwks-url"), redact.URL(j.jwksURL))
		}
	}
	return nil
}

// checkListenAddr reports what is wrong with a host:port to listen on, without resolving the host.
func checkListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("must be host:port or :port, such as :8080")
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("has no valid port: %q", port)
	}
	return nil
}

func newLogger(format string, w io.Writer) *slog.Logger {
	return slog.New(newLogHandler(format, w))
}

func newLogHandler(format string, w io.Writer) slog.Handler {
	if format == "text" {
		return slog.NewTextHandler(w, nil)
	}
	return slog.NewJSONHandler(w, nil)
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, _, err := parseServe(args, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	logger := newLogger(cfg.logFormat, stderr)
	verifier, devToken, err := newVerifier(ctx, cfg.jwt, logger, stderr)
	if err != nil {
		return err
	}
	var signIn *dashboard.SignIn
	var signInCode string
	if devToken != "" {
		if signIn, signInCode, err = dashboard.NewSignIn(devToken, time.Now); err != nil {
			return err
		}
	}
	if cfg.jwt.development() {
		warnDevelopmentAddr(logger, cfg)
	}

	pool, err := store.Connect(ctx, cfg.databaseURL, store.PoolConfig{MaxConns: int32(cfg.maxConns),
		StatementTimeout: statementTimeout(cfg.requestTimeout)})
	if err != nil {
		return err
	}
	serving := false
	defer func() {
		if !serving { // from then on serveUntilDone closes it, within the shutdown deadline
			pool.Close()
		}
	}()
	// Every database step before listening ends at the startup deadline, even one whose connection hangs.
	startupDeadline := time.Now().Add(cfg.startupTimeout)
	if cfg.migrate {
		err := retryUntil(ctx, startupDeadline, logger, func(ctx context.Context) error {
			if created, err := store.EnsureDatabase(ctx, cfg.databaseURL); err != nil {
				return err
			} else if created {
				logger.Info("created database", "database", pool.Config().ConnConfig.Database)
			}
			// Migrations and index builds may take longer than any request: their connections have no statement timeout.
			migrationPool, err := store.Connect(ctx, cfg.databaseURL, store.PoolConfig{MaxConns: int32(cfg.maxConns)})
			if err != nil {
				return err
			}
			defer migrationPool.Close()
			return migrateUp(ctx, migrationPool, logger)
		})
		if err != nil {
			return err
		}
	}

	// Connections opened before the schema existed could not prepare the hot statements: start afresh,
	// and open the whole pool now so the first burst of requests does not stall on connection setup.
	pool.Reset()
	warmCtx, cancelWarm := context.WithDeadline(ctx, later(startupDeadline, time.Now().Add(minTry)))
	err = store.Warm(warmCtx, pool, int(pool.Config().MaxConns))
	cancelWarm()
	if err != nil {
		logger.Warn("could not open the connection pool yet; connections will open on demand", "error", err.Error())
	}

	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		store.NewPoolCollector(pool))
	operations := store.NewWith(pool, cfg.coalescing)
	metrics.MustRegister(operations.CoalescingCollectors()...)
	// The change streams' watcher outlives the requests until shutdown begins; stopping it ends every stream.
	watcher := store.NewWatcher(operations, logger, streamBuffer)
	watchCtx, stopWatching := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWatching()
	go watcher.Run(watchCtx)
	// The request log is buffered (see logBuffer); startup and shutdown messages are written at once.
	requestLog := newLogBuffer(stderr)
	stopRequestLog := requestLog.start(logFlushInterval)
	defer stopRequestLog()
	api := handlers.NewServer(slog.New(requestLog.handler(cfg.logFormat)), handlers.Config{
		RequestTimeout: cfg.requestTimeout,
		MaxBodyBytes:   int64(cfg.maxBodyBytes),
		SchemaVersion:  migrations.LatestVersion(),
		ServeMetrics:   cfg.metricsAddr == "",
		Streams:        watcher,
		MaxStreams:     cfg.maxStreams,
		SignIn:         signIn,
	}, verifier, operations, operations, metrics)

	servers := []*http.Server{newHTTPServer(api, logger)}
	// Shutdown waits for handlers, and a stream's lasts while its client stays: stopping the watcher ends every
	// stream as shutdown begins, and their clients reconnect elsewhere with Last-Event-ID.
	servers[0].RegisterOnShutdown(stopWatching)
	addrs := []string{cfg.addr}
	if cfg.metricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", handlers.MetricsHandler(logger, metrics))
		if cfg.pprof {
			mux.HandleFunc("GET /debug/pprof/", pprof.Index)
			mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
			mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
			mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
		}
		servers = append(servers, newHTTPServer(mux, logger))
		addrs = append(addrs, cfg.metricsAddr)
	}
	serving = true
	// The pool closes after the servers, when in-flight requests have released their connections.
	listen := handlers.ListenerConfig{MaxConns: cfg.maxHTTPConns, Logger: logger}
	listening := func(addr net.Addr) {
		if signIn != nil {
			// The code rides in the fragment, which a browser never sends: no server or proxy logs it.
			fmt.Fprintf(stderr, "\nDashboard sign-in link (works once, within %s):\n\n%s/#code=%s\n\n",
				dashboard.SignInTTL, dashboardURL(addr), signInCode)
		}
	}
	err = serveUntilDone(ctx, logger, cfg.shutdownTimeout, listen, servers, addrs, listening, pool.Close)
	stopRequestLog() // its last lines before "stopped"
	if err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

// statementTimeout bounds each statement inside Postgres, a fifth below the request timeout: a request that
// waited on a lock or a slow database is told 503 after Postgres has rolled its write back, so the 503 means
// that nothing was written.
func statementTimeout(requestTimeout time.Duration) time.Duration {
	return requestTimeout - requestTimeout/5
}

func newHTTPServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// A hard stop well above the API's own limit (handlers.DefaultMaxHeaderBytes), which answers in Graph's shape.
		MaxHeaderBytes: 1 << 20,
		ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// serveUntilDone serves servers[i] on addrs[i] until ctx ends or one of them fails, then shuts all of them
// down together: each stops accepting at once, connections without a request being worked on are closed
// at once (a client trickling its body holds nothing up), and requests being worked on get until the
// timeout to finish. Each listener guards its connections as listen says (see handlers.Listener).
// Then release runs (it closes the database pool) within the same deadline: a database that stopped
// answering, which would keep a connection busy and the pool open, cannot hold the process past it.
func serveUntilDone(ctx context.Context, logger *slog.Logger, timeout time.Duration, listen handlers.ListenerConfig,
	servers []*http.Server, addrs []string, listening func(net.Addr), release func()) error {
	listeners := make([]*handlers.Listener, 0, len(addrs))
	for i, addr := range addrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			release()
			return err
		}
		listeners = append(listeners, handlers.NewListener(ln, listen))
		listeners[i].Attach(servers[i])
	}
	logger.Info("caseops listening", "addr", listeners[0].Addr().String())
	listening(listeners[0].Addr())
	if len(listeners) > 1 {
		logger.Info("metrics listening", "addr", listeners[1].Addr().String())
	}

	serveErr := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { serveErr <- srv.Serve(listeners[i]) }()
	}
	var failed error
	running := len(servers)
	select {
	case failed = <-serveErr:
		running--
	case <-ctx.Done():
	}

	logger.Info("shutting down", "deadline", timeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	for _, l := range listeners {
		l.StopUnworked()
	}
	shutdownErr := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { shutdownErr <- srv.Shutdown(shutdownCtx) }()
	}
	for range servers {
		if err := <-shutdownErr; err != nil {
			failed = errors.Join(failed, fmt.Errorf("shutdown: %w", err))
		}
	}
	for ; running > 0; running-- {
		if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
			failed = errors.Join(failed, err)
		}
	}

	released := make(chan struct{})
	go func() {
		release()
		close(released)
	}()
	select {
	case <-released:
	case <-shutdownCtx.Done():
		if !errors.Is(failed, context.DeadlineExceeded) { // else the requests that hold the pool open are reported
			failed = errors.Join(failed, fmt.Errorf("shutdown: closing the database pool: %w", shutdownCtx.Err()))
		}
	}
	return failed
}

// newVerifier builds the bearer-token check. With no JWT setting at all it enters development mode:
// a random secret for this run only, a loud warning, and a ready-to-use token on stderr.
// In development mode it also returns that token, for the dashboard's sign-in link.
func newVerifier(ctx context.Context, j jwtConfig, logger *slog.Logger, stderr io.Writer) (*auth.Verifier, string, error) {
	cfg := auth.Config{Secret: []byte(j.secret), JWKSURL: j.jwksURL, Issuer: j.issuer, Audience: j.audience, Logger: logger,
		MaxLifetime: j.maxLifetime}
	if j.secret != "" || j.jwksURL != "" {
		v, err := auth.NewVerifier(ctx, cfg)
		if err != nil {
			return nil, "", fmt.Errorf("--jwt-secret/--jwks-url (CASEOPS_JWT_SECRET/CASEOPS_JWKS_URL): %w", err)
		}
		return v, "", nil
	}
	secret, err := auth.NewDevSecret()
	if err != nil {
		return nil, "", err
	}
	cfg.Secret, cfg.Development = secret, true
	ttl := devTokenTTL
	if j.maxLifetime > 0 {
		ttl = min(ttl, j.maxLifetime) // else the token printed would be refused
	}
	token, err := auth.Mint(secret, auth.MintOptions{Tenant: devTenant, Scopes: auth.PermissionReadWrite,
		UserID: "dev", UserName: "Development user", TTL: ttl, Issuer: j.issuer, Audience: j.audience})
	if err != nil {
		return nil, "", err
	}
	logger.Warn("DEVELOPMENT MODE: no CASEOPS_JWT_SECRET or CASEOPS_JWKS_URL is set, so tokens are signed " +
		"with a random secret that lasts until this process exits. Never run like this in production.")
	fmt.Fprintf(stderr, "\nDevelopment token (tenant %q, %s, valid %s):\n\n%s\n\n", devTenant, auth.PermissionReadWrite, ttl, token)
	v, err := auth.NewVerifier(ctx, cfg)
	return v, token, err
}

// dashboardURL is where a browser on this machine reaches the dashboard of a server listening on addr.
func dashboardURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

const (
	devTenant   = "dev"
	devTokenTTL = 12 * time.Hour
)

// minTry is the least time a try gets to connect: the last one, made at the deadline, gets this much past it.
const minTry = 500 * time.Millisecond

// retryUntil calls f until it succeeds, ctx ends or the deadline passes; only an unavailable database is retried.
// The waits between tries grow, but the last one is cut short so that a last try comes at the deadline.
// Each try gets a context that ends at the deadline (or minTry after it starts, when that is later), so a try
// that hangs, on a server that accepts connections but never answers, cannot hold startup past it.
func retryUntil(ctx context.Context, deadline time.Time, logger *slog.Logger, f func(context.Context) error) error {
	backoff := 250 * time.Millisecond
	for {
		tryCtx, cancel := context.WithDeadline(ctx, later(deadline, time.Now().Add(minTry)))
		err := f(tryCtx)
		cancel()
		left := time.Until(deadline)
		if err == nil || !errors.Is(err, store.ErrUnavailable) || left <= 0 {
			return err
		}
		wait := min(backoff, left)
		logger.Warn("database not reachable yet; retrying", "error", err.Error(), "retry-in", wait.String())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
