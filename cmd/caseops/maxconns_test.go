package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Past --max-conns, a new connection is answered 503 in the Graph shape with Retry-After and closed, at once;
// once the connections it holds are idle, one of them is closed to make room for the next client.
func TestMaxConnsShedsTheExcess(t *testing.T) {
	t.Parallel()
	const maxConns, excess = 50, 250
	s := serve(t, map[string]string{"DATABASE_URL": newDatabaseURL(t), "CASEOPS_MAX_CONNS": strconv.Itoa(maxConns), "CASEOPS_DB_MAX_CONNS": "2"})

	// Connections that have begun a request but not finished its headers: open, and not idle.
	held := make([]*rawConn, maxConns)
	for i := range held {
		held[i] = dialRaw(t, s.base)
		held[i].write("GET /healthz HTTP/1.1\r\nHost: caseops\r\n")
	}

	start := time.Now()
	var wg sync.WaitGroup
	failures := make(chan string, excess)
	next := make(chan int, excess)
	for i := range excess {
		next <- i
	}
	close(next)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if msg := shedOne(s.base, i); msg != "" {
					failures <- msg
				}
			}
		}()
	}
	wg.Wait()
	close(failures)
	for msg := range failures {
		t.Error(msg)
	}
	t.Logf("shed %d connections in %s", excess, time.Since(start))
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("shedding %d connections took %s", excess, took)
	}

	for _, c := range held {
		c.write("\r\n")
		if res, body, err := c.read(); err != nil || res.StatusCode != 200 {
			t.Fatalf("a connection within the cap: %v %s", err, body)
		}
	}
	// All are idle now: the next client gets one's place.
	late := dialRaw(t, s.base)
	late.write("GET /healthz HTTP/1.1\r\nHost: caseops\r\n\r\n")
	if res, body, err := late.read(); err != nil || res.StatusCode != 200 {
		t.Fatalf("a client past the cap of idle connections: %v %v %s, want 200", res, err, body)
	}
	// Each is read at once, with a short deadline: a closed one ends at once, an open one at the deadline.
	var closed atomic.Int32
	var reads sync.WaitGroup
	for _, c := range held {
		reads.Go(func() {
			_ = c.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if _, err := c.r.ReadByte(); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				closed.Add(1)
			}
		})
	}
	reads.Wait()
	if closed.Load() != 1 {
		t.Errorf("%d idle connections were closed for the late client, want 1", closed.Load())
	}
}

// shedOne connects past the cap and checks the whole answer; it returns what was wrong, or "".
func shedOne(base string, i int) string {
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 5*time.Second)
	if err != nil {
		return fmt.Sprintf("connection %d: %v", i, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	clientID := "excess-" + strconv.Itoa(i)
	fmt.Fprintf(c, "GET /beta/tagOperations HTTP/1.1\r\nHost: caseops\r\nclient-request-id: %s\r\n\r\n", clientID)
	r := bufio.NewReader(c)
	res, err := http.ReadResponse(r, nil)
	if err != nil {
		return fmt.Sprintf("connection %d: no answer: %v", i, err)
	}
	b := make([]byte, res.ContentLength)
	if _, err := io.ReadFull(r, b); err != nil {
		return fmt.Sprintf("connection %d: body: %v", i, err)
	}
	id := res.Header.Get("request-id")
	want := `{"error":{"code":"serviceUnavailable","message":"The service has too many open connections; retry after a few seconds.",` +
		`"innerError":{"date":"` + time.Now().UTC().Format("2006-01-02T15:04") // the seconds may have turned
	if res.StatusCode != 503 || res.Header.Get("Retry-After") != "5" || !res.Close || !guidPattern.MatchString(id) ||
		res.Header.Get("client-request-id") != clientID || res.Header.Get("Content-Type") != "application/json" ||
		!strings.HasPrefix(string(b), want) || !strings.HasSuffix(string(b), `Z","request-id":"`+id+`","client-request-id":"`+clientID+`"}}}`) {
		return fmt.Sprintf("connection %d: %d %v %s", i, res.StatusCode, res.Header, b)
	}
	if n, err := r.Read(make([]byte, 1)); n != 0 || err == nil {
		return fmt.Sprintf("connection %d stayed open after the 503", i)
	}
	return ""
}

// After a burst of keep-alive connections closes, the server's resident memory falls back: Go's runtime,
// left alone, keeps it for minutes. Measured on the real binary, through /proc.
func TestMemoryIsGivenBackAfterABurst(t *testing.T) {
	t.Parallel()
	bin := buildCaseops(t)
	addr := freeAddr(t)
	log := &syncBuffer{}
	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{"DATABASE_URL=" + newDatabaseURL(t), "CASEOPS_ADDR=" + addr, "CASEOPS_DB_MAX_CONNS=2",
		"CASEOPS_JWT_SECRET=" + opsTestSecret, "CASEOPS_MAX_CONNS=1000"}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	waitReady(t, "http://"+addr, exited, log)
	before := residentKB(t, cmd.Process.Pid)

	const burst = 800
	conns := make([]*rawConn, burst)
	for i := range conns {
		conns[i] = dialRaw(t, "http://"+addr)
		conns[i].write("GET /healthz HTTP/1.1\r\nHost: caseops\r\n\r\n")
	}
	for i, c := range conns {
		if res, body, err := c.read(); err != nil || res.StatusCode != 200 {
			t.Fatalf("connection %d: %v %s", i, err, body)
		}
	}
	peak := residentKB(t, cmd.Process.Pid)
	if peak-before < 4<<10 {
		t.Fatalf("%d connections took only %d kB (from %d kB): too little to tell", burst, peak-before, before)
	}
	for _, c := range conns {
		c.conn.Close()
	}
	target := before + (peak-before)/3
	deadline := time.Now().Add(20 * time.Second)
	for now := residentKB(t, cmd.Process.Pid); now > target; now = residentKB(t, cmd.Process.Pid) {
		if time.Now().After(deadline) {
			t.Fatalf("resident memory %d kB before the burst, %d kB at its peak, still %d kB 20s after it (want at most %d)", before, peak, now, target)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func residentKB(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
