package graphsdk

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

// server is a caseops serve process in development mode on a database of its own.
type server struct {
	url   string // http://127.0.0.1:port
	token string // the development token it printed
}

// startServer builds caseops from the parent module, starts `caseops serve` on a fresh database and a free
// loopback port, and waits for /readyz. Cleanup stops it, drops the database and, when the test failed,
// shows everything the server wrote on standard error.
func startServer(t *testing.T) *server {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "go.mod")); err != nil || !bytes.Contains(b, []byte("module github.com/caseops/caseops\n")) {
		t.Fatalf("the caseops module is not at %s: %v", root, err)
	}
	bin := filepath.Join(t.TempDir(), "caseops")
	build := exec.Command("go", "build", "-o", bin, "./cmd/caseops")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/caseops: %v\n%s", err, out)
	}

	dbURL := createDatabase(t)

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", "--addr", "127.0.0.1:0", "--database-url", dbURL, "--log-format", "json")
	cmd.Env = serverEnv()
	// SIGTERM, as an orchestrator stops it: a graceful shutdown.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 25 * time.Second
	log := &serverLog{found: make(chan serverFound, 1)}
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

	var s server
	select {
	case f := <-log.found:
		s = server{url: "http://" + f.addr, token: f.token}
	case err := <-done:
		done <- err
		t.Fatalf("caseops serve exited before listening: %v", err)
	case <-time.After(90 * time.Second):
		t.Fatal("caseops serve printed no development token and listening address within 90 s")
	}
	if s.token == "" {
		t.Fatal("caseops serve listened without printing a development token: is a JWT setting in the environment?")
	}
	waitReady(t, s.url)
	return &s
}

// createDatabase returns a URL for a database that does not exist yet (serve creates it) and drops it at cleanup.
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
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	name := "caseops_graphsdk_" + hex.EncodeToString(b)

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

// serverEnv is this process's environment without caseops settings, so serve runs in development mode.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "CASEOPS_") || strings.HasPrefix(kv, "DATABASE_URL=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

var jwtLine = regexp.MustCompile(`^eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$`)

type serverFound struct{ addr, token string }

// serverLog keeps everything serve writes on standard error and reports, once, the development token
// and the address of the "caseops listening" line.
type serverLog struct {
	mu       sync.Mutex
	all      bytes.Buffer
	partial  []byte
	token    string
	reported bool
	found    chan serverFound
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
		if l.reported {
			continue
		}
		if jwtLine.MatchString(line) {
			l.token = line
			continue
		}
		var entry struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "caseops listening" {
			l.found <- serverFound{entry.Addr, l.token}
			l.reported = true
		}
	}
}

func (l *serverLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all.String()
}

func waitReady(t *testing.T, base string) {
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
