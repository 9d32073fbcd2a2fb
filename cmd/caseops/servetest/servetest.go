// Package servetest runs caseops as its users do, for the acceptance tests that live in modules of their own
// (the Graph SDK's, the dashboard's browser tests): it builds ./cmd/caseops once, starts `caseops serve` on a
// free loopback port and a database of its own, and reads what serve prints: its address, the development
// token and the dashboard's sign-in link.
package servetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a running `caseops serve`.
type Server struct {
	URL        string // http://127.0.0.1:port
	DevToken   string // development mode only: the token serve printed
	SignInLink string // development mode only: the dashboard link serve printed
	log        *serverLog
}

// Log is everything serve has written on standard error so far.
func (s *Server) Log() string { return s.log.String() }

// Start starts `caseops serve --database-url databaseURL` with args on a free loopback port and waits until
// /readyz answers 200. env adds to this process's environment less its caseops settings: without a JWT setting
// serve runs in development mode, and Start waits for its token and sign-in link too. Cleanup stops serve with
// SIGTERM, as an orchestrator does, and shows its standard error when the test failed.
func Start(t testing.TB, databaseURL string, env []string, args ...string) *Server {
	t.Helper()
	bin, err := build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--database-url", databaseURL,
		"--log-format", "json"}, args...)...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 25 * time.Second
	log := &serverLog{found: make(chan struct{}), dev: !hasJWTSetting(env)}
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start caseops serve: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		// Exit status 0 after SIGTERM comes back as the cancelled context: a clean stop.
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("caseops serve did not stop cleanly: %v", err)
		}
		if t.Failed() {
			t.Logf("caseops serve standard error:\n%s", log.String())
		}
	})
	select {
	case <-log.found:
	case err := <-done:
		done <- err
		t.Fatalf("caseops serve exited before listening: %v\n%s", err, log.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("caseops serve did not start listening within 90 s:\n%s", log.String())
	}
	s := &Server{log: log}
	log.mu.Lock()
	s.URL, s.DevToken, s.SignInLink = "http://"+log.addr, log.token, log.link
	log.mu.Unlock()
	waitReady(t, s.URL)
	return s
}

// build builds caseops from the module that holds this package, once per test binary.
var build = sync.OnceValues(func() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "caseops-servetest-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "caseops")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/caseops")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/caseops: %v\n%s", err, out)
	}
	return bin, nil
})

// moduleRoot is the nearest folder above the working directory whose go.mod is caseops's.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module github.com/caseops/caseops\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no folder above the working directory holds the caseops module")
		}
		dir = parent
	}
}

// NewDatabaseURL names a database that does not exist yet, on the Postgres the tests use
// (CASEOPS_TEST_DATABASE_URL, by default postgres@127.0.0.1:5432): serve creates it. It is dropped at cleanup.
func NewDatabaseURL(t testing.TB, prefix string) string {
	t.Helper()
	admin := os.Getenv("CASEOPS_TEST_DATABASE_URL")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("CASEOPS_TEST_DATABASE_URL: %v", err)
	}
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	name := prefix + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("the tests need a Postgres at CASEOPS_TEST_DATABASE_URL (%s): %v", u.Redacted(), err)
	}
	conn.Close(ctx)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// cleanEnv is this process's environment without caseops settings.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CASEOPS_") && !strings.HasPrefix(kv, "DATABASE_URL=") {
			env = append(env, kv)
		}
	}
	return env
}

func hasJWTSetting(env []string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, "CASEOPS_JWT_SECRET=") || strings.HasPrefix(kv, "CASEOPS_JWKS_URL=") {
			return true
		}
	}
	return false
}

var (
	jwtLine    = regexp.MustCompile(`^eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$`)
	signInLine = regexp.MustCompile(`^http://\S+/#code=[A-Za-z0-9_-]+$`)
)

// serverLog keeps what serve writes on standard error, and closes found once serve listens (and, in
// development mode, has printed its token and sign-in link).
type serverLog struct {
	mu       sync.Mutex
	all      bytes.Buffer
	partial  []byte
	dev      bool
	addr     string
	token    string
	link     string
	reported bool
	found    chan struct{}
}

func (l *serverLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all.Write(p)
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := strings.TrimSpace(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
		var entry struct{ Msg, Addr string }
		switch {
		case jwtLine.MatchString(line):
			l.token = line
		case signInLine.MatchString(line):
			l.link = line
		case json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "caseops listening":
			l.addr = entry.Addr
		}
		if !l.reported && l.addr != "" && (!l.dev || l.token != "" && l.link != "") {
			l.reported = true
			close(l.found)
		}
	}
}

func (l *serverLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all.String()
}

func waitReady(t testing.TB, base string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /readyz did not answer 200 within 30 s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Command is caseops with args, built as Start builds it, in this process's environment less its caseops
// settings, plus env.
func Command(t testing.TB, env []string, args ...string) *exec.Cmd {
	t.Helper()
	bin, err := build()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(cleanEnv(), env...)
	return cmd
}
