package bench

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The load's own HTTP/1.1 client sends what net/http's server expects, reads every kind of answer
// (fixed length, chunked, closing the connection) and carries on on a new connection after a close.
func TestWireConnRoundTrips(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got := r.Method + " " + r.URL.Path + " auth=" + r.Header.Get("Authorization") +
			" type=" + r.Header.Get("Content-Type") + " body=" + string(body)
		switch r.URL.Path {
		case "/prefix/chunked":
			w.(http.Flusher).Flush() // a flush before the end forces chunked encoding
			io.WriteString(w, got)
		case "/prefix/close":
			w.Header().Set("Connection", "close")
			io.WriteString(w, got)
		case "/prefix/missing":
			http.Error(w, "no such operation", http.StatusNotFound)
		default:
			io.WriteString(w, got)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	w, err := newWireConn(srv.URL+"/prefix", "tok", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, c := range []struct {
		method, path, body string
		status             int
		answer             string
		conns              int32
	}{
		{"PATCH", "/prefix/a", `{"percentProgress":7}`, 200, `PATCH /prefix/a auth=Bearer tok type=application/json body={"percentProgress":7}`, 1},
		{"GET", "/prefix/b", "", 200, "GET /prefix/b auth=Bearer tok type= body=", 1},
		{"GET", "/prefix/chunked", "", 200, "GET /prefix/chunked auth=Bearer tok type= body=", 1},
		{"GET", "/prefix/missing", "", 404, "no such operation\n", 1},
		{"GET", "/prefix/close", "", 200, "GET /prefix/close auth=Bearer tok type= body=", 1},
		{"PATCH", "/prefix/c", `{}`, 200, "PATCH /prefix/c auth=Bearer tok type=application/json body={}", 2},
	} {
		var body []byte
		if c.body != "" {
			body = []byte(c.body)
		}
		status, answer, err := w.roundTrip(c.method, c.path, body)
		if err != nil || status != c.status || string(answer) != c.answer {
			t.Errorf("%s %s = %d %q, %v; want %d %q", c.method, c.path, status, answer, err, c.status, c.answer)
		}
		if n := conns.Load(); n != c.conns {
			t.Errorf("after %s %s: %d connections, want %d", c.method, c.path, n, c.conns)
		}
	}

	srv.CloseClientConnections()
	if _, _, err := w.roundTrip("GET", "/prefix/d", nil); err == nil {
		t.Errorf("a request on a connection the server closed reported no error")
	}
	if status, answer, err := w.roundTrip("GET", "/prefix/e", nil); err != nil || status != 200 || !strings.HasPrefix(string(answer), "GET /prefix/e") {
		t.Errorf("the next request, on a new connection: %d %q, %v", status, answer, err)
	}

	if _, err := newWireConn("ftp://example.com", "", time.Second); err == nil {
		t.Errorf("an ftp URL was accepted")
	}
}
