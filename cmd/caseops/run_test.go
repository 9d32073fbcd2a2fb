package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caseops/caseops/handlers/auth"
	"github.com/caseops/caseops/migrations"
	"github.com/caseops/caseops/store"
	"github.com/caseops/caseops/store/storetest"
)

// syncBuffer collects what the program writes from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newDatabaseURL names a database that does not exist yet on the test server, and drops it afterwards.
func newDatabaseURL(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "caseops_cmd_" + hex.EncodeToString(b)
	u, err := url.Parse(storetest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	admin := u.String()
	u.Path = "/" + name
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			t.Errorf("drop %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	return u.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

type served struct {
	base   string
	stderr *syncBuffer
	stop   func() error
}

// serve runs `caseops serve` in-process, as main would, and waits until it answers.
func serve(t *testing.T, env map[string]string) served {
	t.Helper()
	addr := freeAddr(t)
	env["CASEOPS_ADDR"] = addr
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, envOf(env), io.Discard, stderr) }()
	base := "http://" + addr
	deadline := time.Now().Add(60 * time.Second) // serve's default --startup-timeout
	for {
		res, err := http.Get(base + "/beta/tagOperations")
		if err == nil {
			res.Body.Close()
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v\n%s", err, stderr)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not answer: %s", stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not stop")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	return served{base: base, stderr: stderr, stop: stop}
}

func request(t *testing.T, method, u, token, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, u, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// The README's run command: serve creates its database, migrates it, prints a development token that works,
// still refuses requests without one, and stops cleanly when asked.
func TestServeDevelopmentMode(t *testing.T) {
	t.Parallel()
	s := serve(t, map[string]string{"DATABASE_URL": newDatabaseURL(t)})
	out := s.stderr.String()
	if !strings.Contains(out, "DEVELOPMENT MODE") || !strings.Contains(out, `"created database"`) || !strings.Contains(out, `"applied migration"`) {
		t.Errorf("startup log:\n%s", out)
	}
	token := developmentToken(t, out)
	if st, body := request(t, "POST", s.base+"/beta/tagOperations", "", `{}`); st != 401 {
		t.Errorf("without a token: %d %s", st, body)
	}
	if st, body := request(t, "POST", s.base+"/beta/tagOperations", token, `{"percentProgress": 3}`); st != 201 || !strings.Contains(body, `"percentProgress":3`) {
		t.Errorf("with the development token: %d %s", st, body)
	}
	// A token from an earlier run was signed with that run's secret: the 401 says why it no longer works.
	earlier, err := auth.Mint([]byte("the-random-secret-of-an-earlier-run"), auth.MintOptions{Tenant: "dev", Scopes: auth.PermissionReadWrite, UserID: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	st, body := request(t, "POST", s.base+"/beta/tagOperations", earlier, `{}`)
	var answer struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	const why = "The bearer token's signature is not valid. caseops serve runs in development mode (no JWT secret or JWKS URL is set), " +
		"whose signing secret changes at every restart: use the development token it printed when it last started."
	if err := json.Unmarshal([]byte(body), &answer); err != nil || st != 401 || answer.Error.Code != "unauthorized" || answer.Error.Message != why {
		t.Errorf("a token of an earlier run: %d %s (%v), want 401 unauthorized %q", st, body, err, why)
	}
	if strings.Contains(s.stderr.String(), `"percentProgress"`) {
		t.Errorf("a request body reached the log")
	}
	if err := s.stop(); err != nil {
		t.Errorf("serve returned %v after cancellation, want nil", err)
	}
	if log := s.stderr.String(); !strings.Contains(log, `"stopped"`) || strings.Count(log, token) != 1 {
		t.Errorf("shutdown log, or the token was logged again:\n%s", log)
	}
}

// caseops token prints a token that a server configured with the same secret accepts.
func TestTokenCommand(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": newDatabaseURL(t), "CASEOPS_JWT_SECRET": "a-shared-secret-of-at-least-32-bytes", "CASEOPS_JWT_AUDIENCE": "api://caseops"}
	s := serve(t, env)
	if strings.Contains(s.stderr.String(), "DEVELOPMENT MODE") {
		t.Errorf("development mode with a secret configured")
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"token", "--tenant", "contoso", "--app-id", "worker", "--app-name", "Worker", "--roles", "eDiscovery.ReadWrite.All"}, envOf(env), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(out.String())
	st, body := request(t, "POST", s.base+"/beta/tagOperations", token, `{}`)
	if st != 201 || !strings.Contains(body, `"createdBy":{"application":{"id":"worker","displayName":"Worker"},"device":null,"user":null}`) {
		t.Errorf("minted token: %d %s", st, body)
	}
	out.Reset()
	if err := run(context.Background(), []string{"token", "--tenant", "contoso", "--scopes", "eDiscovery.Read.All", "--user-id", "u1"}, envOf(env), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if st, _ := request(t, "POST", s.base+"/beta/tagOperations", strings.TrimSpace(out.String()), `{}`); st != 403 {
		t.Errorf("a read-only token wrote: %d", st)
	}
	if err := run(context.Background(), []string{"token", "--tenant", "x"}, envOf(map[string]string{}), io.Discard, io.Discard); err == nil {
		t.Errorf("token without a secret succeeded")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--ttl", "0s"}, settingsLine("token", "--ttl must be more than 0, such as 1h, not 0s")},
		{[]string{"--ttl", "-5m"}, settingsLine("token", "--ttl must be more than 0, such as 1h, not -5m0s")},
		{[]string{"--scopes", ""}, settingsLine("token", "--scopes and --roles are both empty: such a token could read and write nothing")},
		{[]string{"--scopes", " ", "--roles", " "}, settingsLine("token", "--scopes and --roles are both empty: such a token could read and write nothing")},
		{[]string{"--jwt-secret", "short"}, settingsLine("token", "--jwt-secret is 5 bytes long; an HS256 secret must be at least 32 bytes")},
	} {
		out.Reset()
		err := run(context.Background(), append([]string{"token", "--tenant", "contoso"}, tc.args...), envOf(env), &out, io.Discard)
		if err == nil || err.Error() != tc.want || out.Len() != 0 {
			t.Errorf("token %v: error %v, printed %q; want %q and no token", tc.args, err, out.String(), tc.want)
		}
	}
}

func TestMigrateCommands(t *testing.T) {
	t.Parallel()
	env := envOf(map[string]string{"DATABASE_URL": newDatabaseURL(t)})
	runOut := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := run(context.Background(), append([]string{"migrate"}, args...), env, &out, io.Discard); err != nil {
			t.Fatalf("migrate %v: %v", args, err)
		}
		return out.String()
	}
	if got := runOut("up"); !strings.HasPrefix(got, "applied 00001_case_operations.sql") {
		t.Errorf("up: %q", got)
	}
	if got := runOut("up"); got != "no pending migrations\n" {
		t.Errorf("second up: %q", got)
	}
	files, _ := fs.Glob(migrations.Files(), "*.sql")
	latest, previous := files[len(files)-1], len(files)-1 // the files are numbered from 1, one by one
	if got := runOut("version"); got != fmt.Sprintf("%d\n", len(files)) {
		t.Errorf("version: %q", got)
	}
	if got := runOut("status"); !strings.Contains(got, "1        applied") && !strings.Contains(got, "applied") {
		t.Errorf("status: %q", got)
	}
	if got := runOut("down"); !strings.HasPrefix(got, "rolled back "+latest) {
		t.Errorf("down: %q", got)
	}
	if got := runOut("version"); got != fmt.Sprintf("%d\n", previous) {
		t.Errorf("version after down: %q", got)
	}
	if err := run(context.Background(), []string{"migrate", "sideways"}, env, io.Discard, io.Discard); err == nil {
		t.Errorf("an unknown migrate command succeeded")
	}
}

func TestHelpListsFlagsAndVariables(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"serve", "migrate", "token", "seed", "bench-query"} {
		var help, stderr bytes.Buffer // help asked for goes to standard output
		err := run(context.Background(), []string{cmd, "--help"}, envOf(map[string]string{"CASEOPS_JWT_SECRET": "s3cret-value-that-must-not-show-up"}), &help, &stderr)
		if err == nil || !strings.Contains(err.Error(), "help requested") || stderr.Len() != 0 {
			t.Errorf("%s --help: %v; stderr %q", cmd, err, stderr.String())
		}
		if !strings.Contains(help.String(), "--database-url") && cmd != "token" || !strings.Contains(help.String(), "[$") {
			t.Errorf("%s --help:\n%s", cmd, help.String())
		}
		if strings.Contains(help.String(), "s3cret") {
			t.Errorf("%s --help prints the secret", cmd)
		}
	}
	var usage bytes.Buffer
	if err := run(context.Background(), []string{"help"}, envOf(nil), &usage, io.Discard); err != nil || !strings.Contains(usage.String(), "bench-query [--tenant T]          time list and delta requests") {
		t.Errorf("caseops help: %v\n%s", err, usage.String())
	}
	// Help after a migrate command is help too, and touches no database (none listens at this one).
	closed := envOf(map[string]string{"DATABASE_URL": "postgres://postgres@" + freeAddr(t) + "/caseops?sslmode=disable"})
	for _, verb := range []string{"up", "down", "status", "version"} {
		var help bytes.Buffer
		err := run(context.Background(), []string{"migrate", verb, "--help"}, closed, &help, io.Discard)
		if !errors.Is(err, flag.ErrHelp) || !strings.Contains(help.String(), "--database-url") {
			t.Errorf("migrate %s --help: %v, want flag.ErrHelp (exit 0) after the usage:\n%s", verb, err, help.String())
		}
	}
	if err := run(context.Background(), []string{"migrate", "up", "down"}, closed, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "exactly one") {
		t.Errorf("migrate up down: %v", err)
	}
	if err := run(context.Background(), []string{"serve", "--log-format", "xml"}, envOf(nil), io.Discard, io.Discard); err == nil {
		t.Errorf("a bad --log-format was accepted")
	}
	if err := run(context.Background(), []string{"serve"}, envOf(map[string]string{"CASEOPS_REQUEST_TIMEOUT": "soon"}), io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "CASEOPS_REQUEST_TIMEOUT") {
		t.Errorf("a bad CASEOPS_REQUEST_TIMEOUT: %v", err)
	}
}

// A word left over after the flags is refused before anything is done: the flag package stops at the
// first one, so everything after it would otherwise be dropped without a word ("--migrate false" left
// migrations on, and "--user-name Ada Lovelace" minted a token for "Ada" with the default lifetime).
func TestCommandsRefuseStrayWords(t *testing.T) {
	t.Parallel()
	// No database is reachable here: a command that went ahead would fail differently, or hang.
	env := envOf(map[string]string{"DATABASE_URL": "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=1",
		"CASEOPS_JWT_SECRET": strings.Repeat("s", 32)})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--migrate", "false", "--addr", "127.0.0.1:0"},
			`unexpected argument "false": a true/false flag takes its value after =, as in --flag=false`},
		{[]string{"serve", "help"}, `unexpected argument "help" (quote a value that has spaces)`},
		{[]string{"token", "--tenant", "t", "--user-id", "u", "--user-name", "Ada", "Lovelace", "--ttl", "8h"},
			`unexpected argument "Lovelace" (quote a value that has spaces)`},
		{[]string{"seed", "--count", "100", "extra"}, `unexpected argument "extra" (quote a value that has spaces)`},
		{[]string{"bench-query", "extra", "--requests", "5"}, `unexpected argument "extra" (quote a value that has spaces)`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tc.args, env, &stdout, &stderr)
			if want := settingsLine(tc.args[0], tc.want); err == nil || err.Error() != want {
				t.Errorf("error %v, want %q", err, want)
			}
			if stdout.Len() != 0 || stderr.Len() != 0 {
				t.Errorf("stdout %q, stderr %q; want nothing done, and the error alone", stdout.String(), stderr.String())
			}
		})
	}
}

// serve refuses settings no one means, before it touches the database: every message names the flag.
func TestServeRefusesNonsensicalSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--request-timeout", "0s"}, "--request-timeout must be at least 10ms, not 0s"},
		{[]string{"--request-timeout", "1ns"}, "--request-timeout must be at least 10ms, not 1ns"},
		{[]string{"--shutdown-timeout", "0s"}, "--shutdown-timeout must be at least 1ms, not 0s"},
		{[]string{"--startup-timeout", "-5s"}, "--startup-timeout must be at least 1ms, not -5s"},
		{[]string{"--db-max-conns", "0"}, "--db-max-conns must be from 1 to 10000, not 0"},
		{[]string{"--max-conns", "0"}, "--max-conns must be from 1 to 100000, not 0"},
		{[]string{"--max-body-bytes", "0"}, "--max-body-bytes must be from 1 to 67108864, not 0"},
		{[]string{"--log-format", "xml"}, `--log-format must be json or text, not "xml"`},
		{[]string{"--pprof"}, "--pprof needs --metrics-addr: the profiler is never served on the API's address"},
		{[]string{"--addr", "notanaddr"}, `--addr "notanaddr": must be host:port or :port, such as :8080`},
		{[]string{"--addr", ":99999"}, `--addr ":99999": has no valid port: "99999"`},
		{[]string{"--metrics-addr", "127.0.0.1"}, `--metrics-addr "127.0.0.1": must be host:port or :port, such as :8080`},
		{[]string{"--addr", ":9090", "--metrics-addr", ":9090"}, "--metrics-addr must differ from --addr: /metrics has its own listener when it is set"},
		{[]string{"--jwt-max-lifetime", "0s"}, "--jwt-max-lifetime must be at least 1s, not 0s"},
	} {
		_, _, err := parseServe(tc.args, envOf(nil), io.Discard, io.Discard)
		if want := settingsLine("serve", tc.want); err == nil || err.Error() != want {
			t.Errorf("serve %v: %v, want %q", tc.args, err, want)
		}
	}
	if _, _, err := parseServe([]string{"--request-timeout", "10ms", "--shutdown-timeout", "1ms", "--startup-timeout", "1ms"}, envOf(nil), io.Discard, io.Discard); err != nil {
		t.Errorf("the least settings allowed: %v", err)
	}
}

// status, version and down only look: on a database no migration ever touched they answer without
// creating goose's table. And a schema newer than the binary is pointed out, not passed over.
func TestMigrateCommandsThatOnlyLook(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := newDatabaseURL(t)
	if _, err := store.EnsureDatabase(ctx, url); err != nil {
		t.Fatal(err)
	}
	env := envOf(map[string]string{"DATABASE_URL": url})
	migrate := func(verb string) (string, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if err := run(ctx, []string{"migrate", verb}, env, &stdout, &stderr); err != nil {
			t.Fatalf("migrate %s: %v", verb, err)
		}
		return stdout.String(), stderr.String()
	}
	if out, _ := migrate("version"); out != "0\n" {
		t.Errorf("version: %q", out)
	}
	if out, _ := migrate("down"); out != "no migrations to roll back\n" {
		t.Errorf("down: %q", out)
	}
	out, _ := migrate("status")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != int(migrations.LatestVersion())+1 ||
		!regexp.MustCompile(`^1\s+pending\s+-\s+00001_case_operations\.sql$`).MatchString(lines[1]) {
		t.Errorf("status:\n%s", out)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var tables int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables); err != nil || tables != 0 {
		t.Errorf("%d tables after looking (%v), want none", tables, err)
	}

	migrate("up")
	if _, err := conn.Exec(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (99, true)`); err != nil {
		t.Fatal(err)
	}
	newer := fmt.Sprintf("caseops: the database's schema is at version 99, newer than this binary's %d: use the caseops that migrated it\n",
		migrations.LatestVersion())
	for verb, want := range map[string]string{"up": "no pending migrations\n", "version": "99\n"} {
		if out, errOut := migrate(verb); out != want || errOut != newer {
			t.Errorf("%s: %q and %q, want %q and %q", verb, out, errOut, want, newer)
		}
	}
}

// A message about a setting names where its value came from: the flag when it was given, else the
// variable. And a flag overrides its variable entirely, a variable that does not parse included.
func TestSettingsErrorsNameTheirSource(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"CASEOPS_DB_MAX_CONNS": "0"}, nil, "$CASEOPS_DB_MAX_CONNS must be from 1 to 10000, not 0"},
		{map[string]string{"CASEOPS_DB_MAX_CONNS": "5"}, []string{"--db-max-conns", "0"}, "--db-max-conns must be from 1 to 10000, not 0"},
		{map[string]string{"CASEOPS_LOG_FORMAT": "xml"}, nil, `$CASEOPS_LOG_FORMAT must be json or text, not "xml"`},
		{map[string]string{"CASEOPS_ADDR": "notanaddr"}, nil, `$CASEOPS_ADDR "notanaddr": must be host:port or :port, such as :8080`},
		{map[string]string{"CASEOPS_REQUEST_TIMEOUT": "10x"}, nil, `$CASEOPS_REQUEST_TIMEOUT "10x" is not a duration such as 90s, 15m or 2h`},
		{map[string]string{"CASEOPS_REQUEST_TIMEOUT": "10x", "CASEOPS_LOG_FORMAT": "xml"}, []string{"--request-timeout", "5s"},
			`$CASEOPS_LOG_FORMAT must be json or text, not "xml"`}, // the flag stands in for the bad variable
	} {
		_, _, err := parseServe(tc.args, envOf(tc.env), io.Discard, io.Discard)
		if want := settingsLine("serve", tc.want); err == nil || err.Error() != want {
			t.Errorf("serve %v with %v: %v, want %q", tc.args, tc.env, err, want)
		}
	}
	err := run(context.Background(), []string{"seed"}, envOf(map[string]string{"CASEOPS_SEED_COUNT": "100", "CASEOPS_SEED_TENANTS": "0"}), io.Discard, io.Discard)
	if want := settingsLine("seed", "$CASEOPS_SEED_TENANTS must be from 1 to 1000, not 0"); err == nil || err.Error() != want {
		t.Errorf("seed: %v, want %q", err, want)
	}
}

// --jwt-max-lifetime (CASEOPS_JWT_MAX_LIFETIME) is the longest a token may still have to live, 24 h unless set;
// the development token never lives longer than it.
func TestServeMaxTokenLifetime(t *testing.T) {
	t.Parallel()
	const secret = "a-shared-secret-of-at-least-32-bytes"
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want time.Duration
	}{
		{name: "default", want: 24 * time.Hour},
		{name: "variable", env: map[string]string{"CASEOPS_JWT_MAX_LIFETIME": "2h"}, want: 2 * time.Hour},
		{name: "flag wins", args: []string{"--jwt-max-lifetime", "30m"}, env: map[string]string{"CASEOPS_JWT_MAX_LIFETIME": "2h"}, want: 30 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"CASEOPS_JWT_SECRET": secret}
			maps.Copy(env, tc.env)
			c, _, err := parseServe(tc.args, envOf(env), io.Discard, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			v, _, err := newVerifier(t.Context(), c.jwt, slog.New(slog.DiscardHandler), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			for _, ttl := range []time.Duration{tc.want, tc.want + 2*time.Minute} {
				tok, err := auth.Mint([]byte(secret), auth.MintOptions{Tenant: "t", Scopes: auth.PermissionRead, TTL: ttl})
				if err != nil {
					t.Fatal(err)
				}
				_, err = v.Verify(t.Context(), "Bearer "+tok)
				if ttl == tc.want && err != nil {
					t.Errorf("a token living %s: %v, want it accepted", ttl, err)
				}
				if ttl > tc.want && (err == nil || !strings.Contains(err.Error(), "; this service accepts tokens that expire within ")) {
					t.Errorf("a token living %s: %v, want it refused for its lifetime", ttl, err)
				}
			}
		})
	}

	var stderr bytes.Buffer
	v, _, err := newVerifier(t.Context(), jwtConfig{maxLifetime: time.Hour}, slog.New(slog.DiscardHandler), &stderr)
	if err != nil {
		t.Fatal(err)
	}
	_, after, _ := strings.Cut(stderr.String(), "valid 1h0m0s):")
	if _, err := v.Verify(t.Context(), "Bearer "+strings.TrimSpace(after)); err != nil {
		t.Errorf("the development token under a 1h maximum: %v\n%s", err, stderr.String())
	}
}
