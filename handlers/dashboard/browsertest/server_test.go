package browsertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
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

// buildCaseops builds caseops from the module three folders up, once per test binary.
var buildCaseops = sync.OnceValues(func() (string, error) {
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		return "", err
	}
	if b, err := os.ReadFile(filepath.Join(root, "go.mod")); err != nil || !bytes.Contains(b, []byte("module github.com/caseops/caseops\n")) {
		return "", fmt.Errorf("the caseops module is not at %s: %v", root, err)
	}
	dir, err := os.MkdirTemp("", "caseops-browsertest-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "caseops")
	build := exec.Command("go", "build", "-o", bin, "./cmd/caseops")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/caseops: %v\n%s", err, out)
	}
	return bin, nil
})

// server is a caseops serve process on a loopback port.
type server struct {
	url        string // http://127.0.0.1:port
	signInLink string // development mode only: the dashboard link serve printed
	log        *serverLog
}

// startServer starts `caseops serve` with args on databaseURL and waits until it answers /readyz. Without a JWT
// setting in env it runs in development mode and prints a sign-in link, which it returns.
func startServer(t *testing.T, databaseURL string, env []string, args ...string) *server {
	t.Helper()
	bin, err := buildCaseops()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--database-url", databaseURL,
		"--log-format", "json"}, args...)...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 25 * time.Second
	log := &serverLog{found: make(chan string, 1), dev: len(env) == 0}
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start caseops serve: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("caseops serve did not stop cleanly: %v", err)
		}
		if t.Failed() {
			t.Logf("caseops serve standard error:\n%s", log.String())
		}
	})
	s := &server{log: log}
	select {
	case s.url = <-log.found:
	case err := <-done:
		done <- err
		t.Fatalf("caseops serve exited before listening: %v\n%s", err, log.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("caseops serve did not start listening within 90 s:\n%s", log.String())
	}
	s.signInLink = log.link
	waitFor(t, 30*time.Second, "GET /readyz to answer 200", func() bool {
		resp, err := http.Get(s.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return s
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

var (
	listeningLine = regexp.MustCompile(`"msg":"caseops listening","addr":"([^"]+)"`)
	signInLine    = regexp.MustCompile(`^http://\S+/#code=[A-Za-z0-9_-]+$`)
)

// serverLog keeps what serve writes on standard error, and reports its address once it listens (and, in
// development mode, has printed the sign-in link).
type serverLog struct {
	mu       sync.Mutex
	all      bytes.Buffer
	partial  []byte
	dev      bool
	addr     string
	link     string
	reported bool
	found    chan string
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
		if m := listeningLine.FindStringSubmatch(line); m != nil {
			l.addr = m[1]
		}
		if signInLine.MatchString(line) {
			l.link = line
		}
		if !l.reported && l.addr != "" && (!l.dev || l.link != "") {
			l.reported = true
			l.found <- "http://" + l.addr
		}
	}
}

func (l *serverLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all.String()
}

// createDatabase returns the URL of a database that does not exist yet (serve creates it), dropped at cleanup.
func createDatabase(t *testing.T) string {
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
	rand.Read(b)
	name := "caseops_browser_" + hex.EncodeToString(b)
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

// dbProxy forwards TCP connections to Postgres until cut: then it closes every connection and refuses new
// ones, as a database that went away; restore lets them through again.
type dbProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]bool
}

func startDBProxy(t *testing.T, target string) *dbProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dbProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.setCut(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
	return p
}

// viaProxy is databaseURL with its host replaced by a proxy to it.
func viaProxy(t *testing.T, databaseURL string) (string, *dbProxy) {
	t.Helper()
	u, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	p := startDBProxy(t, u.Host)
	u.Host = p.ln.Addr().String()
	return u.String(), p
}

func (p *dbProxy) pipe(client net.Conn) {
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		client.Close()
		return
	}
	p.mu.Unlock()
	upstream, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		client.Close()
		upstream.Close()
		return
	}
	p.conns[client], p.conns[upstream] = true, true
	p.mu.Unlock()
	go func() { io.Copy(upstream, client); upstream.Close(); client.Close() }()
	io.Copy(client, upstream)
	client.Close()
	upstream.Close()
}

func (p *dbProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

// client calls the caseops API as a worker would.
type client struct {
	t     *testing.T
	base  string
	token string
}

// do sends a request and decodes a JSON answer into out (when not nil), failing the test unless the status is want.
func (c client) do(method, path string, body any, want int, out any, headers ...string) http.Header {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.Header
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
