package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawConn is one TCP connection to the server, written and read byte for byte, so the test controls framing.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialRaw(t *testing.T, base string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, conn: c, r: bufio.NewReader(c)}
}

func (c *rawConn) write(s string) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatal(err)
	}
}

// read reads one response and its whole body.
func (c *rawConn) read() (*http.Response, string, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	res, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return nil, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res, string(b), err
}

// closed reports whether the server has closed the connection: the next read ends without a byte.
func (c *rawConn) closed() bool {
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := c.r.Read(make([]byte, 1))
	return n == 0 && (errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(fmt.Sprint(err), "reset"))
}

var guidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// assertGraphError checks a whole error answer: status, the Graph error body with its request ids, and the
// headers that go with them.
func assertGraphError(t *testing.T, res *http.Response, body string, status int, code, message string) {
	t.Helper()
	if res.StatusCode != status {
		t.Errorf("status %d, want %d: %s", res.StatusCode, status, body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	id := res.Header.Get("request-id")
	if !guidPattern.MatchString(id) {
		t.Errorf("request-id %q is not a GUID", id)
	}
	if cid := res.Header.Get("client-request-id"); cid != id {
		t.Errorf("client-request-id %q, want the request-id %q", cid, id)
	}
	var got struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("body is not JSON: %v: %q", err, body)
	}
	inner, _ := got.Error["innerError"].(map[string]any)
	date, _ := inner["date"].(string)
	if _, err := time.Parse(time.RFC3339, date); err != nil {
		t.Errorf("innerError.date %q: %v", date, err)
	}
	want := map[string]any{"code": code, "message": message,
		"innerError": map[string]any{"date": date, "request-id": id, "client-request-id": id}}
	if g, w := mustMarshal(got.Error), mustMarshal(want); g != w {
		t.Errorf("error body\n got %s\nwant %s", g, w)
	}
}

func mustMarshal(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// RFC 9112 §6.1: a request with both Content-Length and Transfer-Encoding is refused with 400 and its
// connection closed, so that what follows it, which a proxy that reads Content-Length would take for the
// request's body, is never served as a request of its own.
func TestContentLengthWithTransferEncodingIsRefused(t *testing.T) {
	t.Parallel()
	s := serve(t, map[string]string{"DATABASE_URL": newDatabaseURL(t), "CASEOPS_JWT_SECRET": opsTestSecret, "CASEOPS_DB_MAX_CONNS": "2"})
	token := opsToken(t)
	st, body, err := send("POST", s.base+"/beta/tagOperations", token, `{"status": "running", "percentProgress": 5}`)
	if err != nil || st != 201 {
		t.Fatalf("create: %d %s %v", st, body, err)
	}
	id := body[strings.Index(body, `"id":"`)+6:][:36]

	patch := `{"percentProgress": 77}`
	smuggled := "PATCH /beta/tagOperations/" + id + " HTTP/1.1\r\nHost: caseops\r\nAuthorization: Bearer " + token +
		"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(patch)) + "\r\n\r\n" + patch
	// Read by Content-Length, the body is the chunked terminator and the PATCH; read as chunked, it is empty
	// and the PATCH is a second request.
	chunkedBody := "0\r\n\r\n"
	for _, tc := range []struct{ name, headers string }{
		{"Content-Length first", "Content-Length: " + strconv.Itoa(len(chunkedBody)+len(smuggled)) + "\r\nTransfer-Encoding: chunked\r\n"},
		{"Transfer-Encoding first", "transfer-encoding: chunked\r\ncontent-length: " + strconv.Itoa(len(chunkedBody)+len(smuggled)) + "\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, s.base)
			c.write("POST /beta/tagOperations HTTP/1.1\r\nHost: caseops\r\nAuthorization: Bearer " + token +
				"\r\nContent-Type: application/json\r\n" + tc.headers + "\r\n" + chunkedBody + smuggled)
			res, body, err := c.read()
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			assertGraphError(t, res, body, 400, "badRequest", "The request has both Content-Length and Transfer-Encoding, "+
				"so its length is ambiguous (RFC 9112, section 6.1); the connection is closed.")
			if !res.Close {
				t.Error("the answer does not say Connection: close")
			}
			if res, body, err := c.read(); err == nil {
				t.Errorf("the request that followed was served: %d %s", res.StatusCode, body)
			}
		})
	}
	st, body, err = send("GET", s.base+"/beta/tagOperations/"+id, token, "")
	if err != nil || st != 200 || !strings.Contains(body, `"percentProgress":5,`) {
		t.Errorf("after the smuggled PATCH: %d %s %v, want percentProgress 5 still", st, body, err)
	}
}

// Requests whose framing is not ambiguous are served as before, pipelined or not: a chunked body (with an
// extension and a trailer), then a Content-Length body whose bytes look like a header block with both fields
// (not JSON, so it is refused for that, and its connection stays open).
func TestPipelinedRequestsAreServed(t *testing.T) {
	t.Parallel()
	s := serve(t, map[string]string{"DATABASE_URL": newDatabaseURL(t), "CASEOPS_JWT_SECRET": opsTestSecret, "CASEOPS_DB_MAX_CONNS": "2"})
	token := opsToken(t)
	head := "POST /beta/tagOperations HTTP/1.1\r\nHost: caseops\r\nAuthorization: Bearer " + token + "\r\nContent-Type: application/json\r\n"
	first := `{"percentProgress": 1}`
	second := "\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
	c := dialRaw(t, s.base)
	c.write(head + "Transfer-Encoding: chunked\r\n\r\n" +
		strconv.FormatInt(int64(len(first)-5), 16) + ";name=value\r\n" + first[:len(first)-5] + "\r\n" +
		"5\r\n" + first[len(first)-5:] + "\r\n0\r\nX-Checksum: none\r\n\r\n" +
		head + "Content-Length: " + strconv.Itoa(len(second)) + "\r\n\r\n" + second +
		"GET /beta/tagOperations?$top=2 HTTP/1.1\r\nHost: caseops\r\nAuthorization: Bearer " + token + "\r\n\r\n")
	for i, want := range []struct {
		status int
		has    string
	}{{201, `"percentProgress":1,`}, {400, `"message":"The request body is not valid JSON: at line 3, column 1 (byte offset 4), it has 'P' where a value was expected: a string in double quotes, a number, true, false, null, an object or an array."`}, {200, `"value":[{`}} {
		res, body, err := c.read()
		if err != nil {
			t.Fatalf("request %d: no answer: %v", i+1, err)
		}
		if res.StatusCode != want.status || !strings.Contains(body, want.has) || res.Close {
			t.Errorf("request %d: %d (close %v) %s, want %d with %s", i+1, res.StatusCode, res.Close, body, want.status, want.has)
		}
	}
}
