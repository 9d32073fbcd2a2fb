package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// SIGTERM closes at once the connections whose requests are not being worked on: an idle keep-alive
// connection, and a client trickling its body a byte a second (answered 503). A request whose handler is
// working past its body (a PATCH waiting on a row lock) still finishes, and serve returns nil promptly.
func TestShutdownIsNotHeldBySlowClients(t *testing.T) {
	t.Parallel()
	dbURL := newDatabaseURL(t)
	s := serve(t, map[string]string{"DATABASE_URL": dbURL, "CASEOPS_JWT_SECRET": opsTestSecret, "CASEOPS_DB_MAX_CONNS": "3",
		"CASEOPS_SHUTDOWN_TIMEOUT": "15s", "CASEOPS_REQUEST_TIMEOUT": "60s"})
	token := opsToken(t)
	st, body, err := send("POST", s.base+"/beta/tagOperations", token, `{"status": "running"}`)
	if err != nil || st != 201 {
		t.Fatalf("create: %d %s %v", st, body, err)
	}
	id := body[strings.Index(body, `"id":"`)+6:][:36]

	idle := dialRaw(t, s.base)
	idle.write("GET /healthz HTTP/1.1\r\nHost: caseops\r\n\r\n")
	if res, body, err := idle.read(); err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz: %v %s", err, body)
	}

	trickler := dialRaw(t, s.base)
	trickler.write("POST /beta/tagOperations HTTP/1.1\r\nHost: caseops\r\nAuthorization: Bearer " + token +
		"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	stopTrickle := make(chan struct{})
	defer close(stopTrickle)
	go func() {
		for range 99 {
			select {
			case <-stopTrickle:
				return
			case <-time.After(time.Second):
			}
			if _, err := trickler.conn.Write([]byte(" ")); err != nil {
				return
			}
		}
	}()

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
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT FROM case_operations WHERE id = $1 FOR UPDATE`, id); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		status int
		body   string
		err    error
	}
	working := make(chan answer, 1)
	go func() {
		st, body, err := send("PATCH", s.base+"/beta/tagOperations/"+id, token, `{"percentProgress": 42}`)
		working <- answer{st, body, err}
	}()
	waitFor(t, 20*time.Second, func() bool {
		var waiting int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
		return err == nil && waiting == 1
	}, "the PATCH to wait on the row lock")

	stopped := make(chan error, 1)
	signalled := time.Now()
	go func() { stopped <- s.stop() }()

	res, body, err := trickler.read()
	if err != nil {
		t.Fatalf("the trickling client got no answer: %v", err)
	}
	if took := time.Since(signalled); took > 5*time.Second {
		t.Errorf("the trickling client was answered %s after the shutdown began", took)
	}
	assertGraphError(t, res, body, 503, "serviceUnavailable", "The service is shutting down; retry the request.")
	if res.Header.Get("Retry-After") != "5" || !res.Close {
		t.Errorf("Retry-After %q, close %v: want 5 and Connection: close", res.Header.Get("Retry-After"), res.Close)
	}
	if !trickler.closed() {
		t.Error("the trickling client's connection stayed open")
	}
	if !idle.closed() {
		t.Error("the idle connection stayed open")
	}
	select {
	case err := <-stopped:
		t.Fatalf("serve returned %v while a request was being worked on", err)
	case a := <-working:
		t.Fatalf("the PATCH finished while its row was locked: %+v", a)
	default:
	}

	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-working:
		if a.err != nil || a.status != 200 || !strings.Contains(a.body, `"percentProgress":42,`) {
			t.Errorf("the PATCH being worked on: %d %s %v, want 200 with its change", a.status, a.body, a.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the PATCH being worked on did not finish")
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("serve returned %v, want nil (exit 0)\n%s", err, s.stderr)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("serve did not return within 5s of its last request:\n%s", s.stderr)
	}
}
