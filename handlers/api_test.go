package handlers_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

func TestCreate(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)

	r := s.do("POST", "/beta/tagOperations", `{"@odata.type": "#microsoft.graph.tagOperation", "percentProgress": 0, "status": "running",
		"resultInfo": {"code": 0}, "createdBy": {"application": {"id": "app-1", "displayName": "Tagger"}}}`)
	op := assertEntity(t, r, 201, map[string]any{"@odata.etag": etagVersion(1), "percentProgress": 0, "status": "running",
		"resultInfo": map[string]any{"code": 0, "message": nil, "subcode": nil},
		"createdBy":  map[string]any{"application": map[string]any{"id": "app-1", "displayName": "Tagger"}, "device": nil, "user": nil}})
	if loc := r.header.Get("Location"); loc != s.url+"/beta/tagOperations/"+op["id"].(string) {
		t.Errorf("Location %q", loc)
	}
	if r.header.Get("ETag") != etagOf(t, op["createdDateTime"].(string), 1) {
		t.Errorf("ETag %q", r.header.Get("ETag"))
	}
	if got := s.events(op["id"]); len(got) != 1 || !strings.HasPrefix(got[0], `created {"action": {"new": "applyTags", "old": null}, "status": {"new": "running", "old": null}, "createdBy": {"new": {"application": {"id": "app-1", "displayName": "Tagger"}}, "old": null}`) {
		t.Errorf("history %q", got)
	}

	// A client-chosen id is kept; using it again is a conflict; the body's terminal status completes it now.
	const id = "05de44a5-44a5-05de-a544-de05a544de05"
	r = s.do("POST", "/beta/tagOperations", `{"id": "`+id+`", "status": "succeeded", "action": "index"}`)
	got := r.json(t)
	assertEntity(t, r, 201, map[string]any{"id": id, "status": "succeeded", "action": "index", "@odata.etag": etagVersion(1),
		"completedDateTime": got["createdDateTime"]})
	r = s.do("POST", "/beta/tagOperations", `{"id": "`+id+`"}`)
	assertError(t, r, 409, "conflict", "")

	for _, c := range []struct{ body, target string }{
		{`{"createdDateTime": "2026-01-01T00:00:00Z"}`, "createdDateTime"},
		{`{"action": "unknownFutureValue"}`, "action"},
		{`{"id": "not-a-guid"}`, "id"},
		{`{"id": "{05de44a5-44a5-05de-a544-de05a544de05}"}`, "id"},
		{`{"percentProgress": 101}`, "percentProgress"},
		{`{"completedDateTime": "2026-01-01T00:00:00Z"}`, "completedDateTime"},
		{`{"status": "running", "completedDateTime": "2026-01-01T00:00:00Z"}`, "completedDateTime"},
		{`{"status": "failed", "completedDateTime": "2000-01-01T00:00:00Z"}`, "completedDateTime"},
		{`{"status": "failed", "completedDateTime": null}`, "completedDateTime"}, // as a PATCH of a running one is
		{`{"id": "00000000-0000-0000-0000-000000000000"}`, "id"},
	} {
		r = s.do("POST", "/beta/tagOperations", c.body)
		assertError(t, r, 400, "badRequest", c.target, c.target)
	}
	r = s.do("POST", "/beta/tagOperations", `{}`, "Content-Type", "text/plain")
	assertError(t, r, 415, "unsupportedMediaType", "")
	for _, c := range []struct {
		encodings []string
		message   string
	}{
		{[]string{"deflate"}, "The Content-Encoding 'deflate' is not supported; send the body uncompressed or compressed with gzip."},
		{[]string{"identity", "br"}, "The Content-Encoding 'br' is not supported; send the body uncompressed or compressed with gzip."},
		{[]string{"gzip, gzip"}, "The Content-Encoding 'gzip, gzip' is not supported: compress the body once, with gzip, or not at all."},
		{[]string{"gzip", "deflate"}, "The Content-Encoding 'gzip, deflate' is not supported: compress the body once, with gzip, or not at all."},
	} {
		var headers []string
		for _, e := range c.encodings {
			headers = append(headers, "Content-Encoding", e)
		}
		e := assertError(t, s.do("POST", "/beta/tagOperations", `{}`, headers...), 415, "unsupportedMediaType", "")
		if e["message"] != c.message {
			t.Errorf("Content-Encoding %q: %v", c.encodings, e["message"])
		}
	}

	var n int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM case_operations`).Scan(&n); err != nil || n != 2 {
		t.Errorf("%d rows after refused creates (err %v), want 2", n, err)
	}
}

func TestGetAndDelete(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	op := s.create(`{"percentProgress": 12}`)
	id := op["id"].(string)

	r := s.do("GET", "/beta/tagOperations/"+id, "")
	assertEntity(t, r, 200, map[string]any{"id": id, "percentProgress": 12, "@odata.etag": etagVersion(1), "createdDateTime": op["createdDateTime"]})
	r = s.do("GET", "/beta/tagOperations/"+strings.ToUpper(id), "")
	assertEntity(t, r, 200, map[string]any{"id": id, "percentProgress": 12, "@odata.etag": etagVersion(1)})

	for _, missing := range []string{"00000000-0000-0000-0000-000000000000", "not-a-guid", "1", id + "0"} {
		assertError(t, s.do("GET", "/beta/tagOperations/"+missing, ""), 404, "notFound", "")
		assertError(t, s.do("PATCH", "/beta/tagOperations/"+missing, `{}`), 404, "notFound", "")
		assertError(t, s.do("DELETE", "/beta/tagOperations/"+missing, ""), 404, "notFound", "")
	}

	r = s.do("DELETE", "/beta/tagOperations/"+id, "")
	if r.status != 204 || len(r.body) != 0 {
		t.Fatalf("DELETE %d %s", r.status, r.body)
	}
	assertError(t, s.do("GET", "/beta/tagOperations/"+id, ""), 404, "notFound", "")
	assertError(t, s.do("DELETE", "/beta/tagOperations/"+id, ""), 404, "notFound", "")
	ev := s.events(id)
	if len(ev) != 2 || !strings.HasPrefix(ev[1], `deleted {"action": {"new": null, "old": "applyTags"}, "status": {"new": null, "old": "notStarted"}`) {
		t.Errorf("history %q", ev)
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	var ids []string
	for i := range 7 {
		ids = append(ids, s.create(fmt.Sprintf(`{"percentProgress": %d}`, i))["id"].(string))
	}
	// Newest first, paged by $top, following @odata.nextLink as it is.
	var seen []string
	next := s.url + "/beta/tagOperations?$top=3"
	pages := 0
	for next != "" {
		r := s.do("GET", strings.TrimPrefix(next, s.url), "")
		if r.status != 200 {
			t.Fatalf("%s: %d %s", next, r.status, r.body)
		}
		body := r.json(t)
		if body["@odata.context"] != s.url+"/beta/$metadata#tagOperations" {
			t.Errorf("@odata.context %v", body["@odata.context"])
		}
		for k := range body {
			if k != "@odata.context" && k != "value" && k != "@odata.nextLink" {
				t.Errorf("unexpected member %q", k)
			}
		}
		for _, v := range body["value"].([]any) {
			e := v.(map[string]any)
			if _, has := e["@odata.context"]; has {
				t.Errorf("collection members carry no @odata.context")
			}
			seen = append(seen, e["id"].(string))
		}
		next, _ = body["@odata.nextLink"].(string)
		pages++
	}
	if pages != 3 || len(seen) != 7 {
		t.Fatalf("%d pages, %d operations", pages, len(seen))
	}
	for i, id := range seen {
		if id != ids[len(ids)-1-i] {
			t.Fatalf("order %v, want newest first of %v", seen, ids)
		}
	}
	r := s.do("GET", "/beta/tagOperations?top=2", "")
	if body := r.json(t); r.status != 200 || len(body["value"].([]any)) != 2 {
		t.Errorf("top without $: %d %s", r.status, r.body)
	}
	for _, q := range []string{"$top=0", "$top=1001", "$top=abc", "$top=1&$top=2", "$top=1&top=2", "$skiptoken=abc", "$frobnicate=1", "pretty"} {
		r := s.do("GET", "/beta/tagOperations?"+q, "")
		if r.status != 400 {
			t.Errorf("%s: %d %s", q, r.status, r.body)
			continue
		}
		e := assertError(t, r, 400, "badRequest", r.json(t)["error"].(map[string]any)["target"].(string))
		if e["target"] == "" {
			t.Errorf("%s: no target", q)
		}
	}
}

// Section 3: every answer carries request-id and client-request-id; unknown routes and methods get Graph errors.
func TestErrorsAndRequestIDs(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	r := s.do("GET", "/beta/tagOperations", "", "client-request-id", "my-trace-42")
	if r.status != 200 || r.header.Get("client-request-id") != "my-trace-42" || !guidPattern.MatchString(r.header.Get("request-id")) {
		t.Errorf("ids: %v", r.header)
	}
	r = s.do("GET", "/nowhere", "", "client-request-id", "abc")
	e := assertError(t, r, 404, "notFound", "")
	if e["innerError"].(map[string]any)["client-request-id"] != "abc" {
		t.Errorf("client-request-id not echoed in innerError")
	}
	r = s.do("PUT", "/beta/tagOperations", `{}`)
	assertError(t, r, 405, "methodNotAllowed", "")
	if r.header.Get("Allow") == "" {
		t.Errorf("405 without Allow")
	}
	assertError(t, s.do("POST", "/beta/tagOperations/"+"05de44a5-44a5-05de-a544-de05a544de05", `{}`), 405, "methodNotAllowed", "")
	r = s.do("GET", "/beta/tagOperations", "", "client-request-id", "trace 42 / worker 7")
	if got := r.header.Get("client-request-id"); got != "trace 42 / worker 7" {
		t.Errorf("client-request-id with spaces: %q, want it echoed", got)
	}
	for _, unusable := range []string{strings.Repeat("x", 201), "naïve", "tab\there"} {
		r = s.do("GET", "/beta/tagOperations", "", "client-request-id", unusable)
		if r.header.Get("client-request-id") != r.header.Get("request-id") {
			t.Errorf("client-request-id %q: %q, want the request-id %q", unusable, r.header.Get("client-request-id"), r.header.Get("request-id"))
		}
	}
}

// A database that cannot be reached is a 503 with Retry-After, never a 500 or a hang.
func TestDatabaseUnavailable(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s := newTestServerOn(t, pool)
	for _, req := range [][2]string{{"GET", "/beta/tagOperations"}, {"POST", "/beta/tagOperations"},
		{"GET", "/beta/tagOperations/05de44a5-44a5-05de-a544-de05a544de05"},
		{"PATCH", "/beta/tagOperations/05de44a5-44a5-05de-a544-de05a544de05"},
		{"DELETE", "/beta/tagOperations/05de44a5-44a5-05de-a544-de05a544de05"}} {
		body := ""
		if req[0] == "POST" || req[0] == "PATCH" {
			body = `{"percentProgress": 1}`
		}
		start := time.Now()
		r := s.do(req[0], req[1], body)
		assertError(t, r, http.StatusServiceUnavailable, "serviceUnavailable", "")
		if r.header.Get("Retry-After") == "" {
			t.Errorf("%s %s: no Retry-After", req[0], req[1])
		}
		if d := time.Since(start); d > 4*time.Second {
			t.Errorf("%s %s took %s", req[0], req[1], d)
		}
	}
}

// Oversized headers are refused in Graph's shape before any work is done.
func TestHeaderLimit(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	r := s.do("GET", "/beta/tagOperations", "", "X-Padding", strings.Repeat("p", 40<<10))
	assertError(t, r, http.StatusRequestHeaderFieldsTooLarge, "requestHeaderFieldsTooLarge", "")
	r = s.do("GET", "/beta/tagOperations", "", "X-Padding", strings.Repeat("p", 20<<10))
	if r.status != 200 {
		t.Errorf("a 20 KiB header: %d", r.status)
	}
}

// An HTTP/1.0 request may come without a Host header; Location then names the address it reached,
// not "http:///...".
func TestCreateWithoutHost(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	addr := strings.TrimPrefix(s.url, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"percentProgress": 5}`
	fmt.Fprintf(conn, "POST /beta/tagOperations HTTP/1.0\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n"+
		"Content-Length: %d\r\n\r\n%s", s.token, len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, body: b}
	op := assertEntity(t, r, 201, map[string]any{"percentProgress": 5, "@odata.etag": etagVersion(1)})
	if loc := resp.Header.Get("Location"); loc != s.url+"/beta/tagOperations/"+op["id"].(string) {
		t.Errorf("Location %q, want it under %s", loc, s.url)
	}
	if ctx := op["@odata.context"]; ctx != s.url+"/beta/$metadata#tagOperations/$entity" {
		t.Errorf("@odata.context %q", ctx)
	}
}

// Location names https when a proxy says the request came over it, and never a scheme a client made up.
func TestLocationScheme(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	host := strings.TrimPrefix(s.url, "http://")
	for proto, want := range map[string]string{"": "http", "https": "https", "HTTPS, http": "https", "http": "http",
		"javascript": "http", "https://evil.example/x?": "http"} {
		r := s.do("POST", "/beta/tagOperations", `{}`, "X-Forwarded-Proto", proto)
		op := assertEntity(t, r, 201, map[string]any{"@odata.etag": etagVersion(1)})
		if loc, wantLoc := r.header.Get("Location"), want+"://"+host+"/beta/tagOperations/"+op["id"].(string); loc != wantLoc {
			t.Errorf("X-Forwarded-Proto %q: Location %q, want %q", proto, loc, wantLoc)
		}
		if ctx := op["@odata.context"]; ctx != want+"://"+host+"/beta/$metadata#tagOperations/$entity" {
			t.Errorf("X-Forwarded-Proto %q: @odata.context %q", proto, ctx)
		}
	}
}
