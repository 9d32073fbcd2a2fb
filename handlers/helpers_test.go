package handlers_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caseops/caseops/handlers"
	"github.com/caseops/caseops/handlers/auth"
	"github.com/caseops/caseops/store"
	"github.com/caseops/caseops/store/storetest"
)

// testServer is the real API over a real HTTP listener and its own database.
type testServer struct {
	t     testing.TB
	url   string
	pool  *pgxpool.Pool
	token string // sent unless a test gives its own Authorization
}

// testSecret signs the tokens of the test suite.
var testSecret = []byte("caseops-test-secret-of-at-least-32-bytes")

// mint signs a token for the test server; failing the test when the options are refused.
func mint(t testing.TB, o auth.MintOptions) string {
	t.Helper()
	tok, err := auth.Mint(testSecret, o)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// devToken is what every test request carries by default: tenant "dev", a user, full permissions.
func devToken(t testing.TB) string {
	return mint(t, auth.MintOptions{Tenant: "dev", Scopes: auth.PermissionReadWrite, UserID: "dev", UserName: "Development user"})
}

func newTestServer(t testing.TB) *testServer {
	t.Helper()
	pool := storetest.NewPool(t)
	return newTestServerOn(t, pool)
}

func newTestServerOn(t testing.TB, pool *pgxpool.Pool) *testServer {
	t.Helper()
	return newServerWith(t, store.New(pool), pool, handlers.Config{})
}

// newServerWith serves st over pool with cfg, and a request timeout of 5 s.
func newServerWith(t testing.TB, st *store.Store, pool *pgxpool.Pool, cfg handlers.Config) *testServer {
	t.Helper()
	return newServerListening(t, st, pool, cfg, nil)
}

// newServerListening is newServerWith on the listener wrap makes of the test server's own (when not nil).
func newServerListening(t testing.TB, st *store.Store, pool *pgxpool.Pool, cfg handlers.Config, wrap func(net.Listener) net.Listener) *testServer {
	t.Helper()
	verifier, err := auth.NewVerifier(context.Background(), auth.Config{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	cfg.RequestTimeout = 5 * time.Second
	srv := httptest.NewUnstartedServer(handlers.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)), cfg, verifier, st, st, nil))
	if wrap != nil {
		srv.Listener = wrap(srv.Listener)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return &testServer{t: t, url: srv.URL, pool: pool, token: devToken(t)}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic value, failing the test when it is not JSON.
func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var v map[string]any
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.body)
	}
	return v
}

// do sends a request; headers are name, value pairs. A JSON body gets Content-Type application/json
// unless the headers give one.
func (s *testServer) do(method, path, body string, headers ...string) response {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	given := map[string]bool{} // a name given twice is sent twice
	for i := 0; i+1 < len(headers); i += 2 {
		switch name := http.CanonicalHeaderKey(headers[i]); {
		case headers[i+1] == "":
			req.Header.Del(name)
		case given[name]:
			req.Header.Add(name, headers[i+1])
		default:
			req.Header.Set(name, headers[i+1])
		}
		given[http.CanonicalHeaderKey(headers[i])] = true
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	checked := b // the document describes what the body says, compressed or not
	if res.Header.Get("Content-Encoding") == "gzip" && method != http.MethodHead {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err == nil {
			checked, err = io.ReadAll(zr)
		}
		if err != nil {
			s.t.Fatalf("%s %s: a gzip answer that does not inflate: %v", method, path, err)
		}
	}
	if err := handlers.CheckOpenAPIResponse(req, res.StatusCode, res.Header, checked); err != nil {
		s.t.Errorf("%s %s answered %d, which openapi.json does not allow:\n%v\nbody: %.1024s",
			method, path, res.StatusCode, err, b)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// create POSTs body and returns the created entity, failing unless it is 201.
func (s *testServer) create(body string) map[string]any {
	s.t.Helper()
	r := s.do("POST", "/beta/tagOperations", body)
	if r.status != http.StatusCreated {
		s.t.Fatalf("create %s: %d %s", body, r.status, r.body)
	}
	return r.json(s.t)
}

// row reads tenant dev's operation straight from the table, as an analyst would, to prove what was (not) written.
func (s *testServer) row(id any) string {
	s.t.Helper()
	var out string
	err := s.pool.QueryRow(context.Background(), `SELECT coalesce((SELECT row_to_json(o)::text FROM case_operations o
		WHERE tenant_id = 'dev' AND id = $1::uuid), 'none')`, id).Scan(&out)
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// events returns the history of one operation as "kind changes" strings, oldest first.
func (s *testServer) events(id any) []string {
	s.t.Helper()
	rows, err := s.pool.Query(context.Background(), `SELECT kind::text || ' ' || changes::text
		FROM case_operation_events WHERE operation_id = $1::uuid ORDER BY seq`, id)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			s.t.Fatal(err)
		}
		out = append(out, e)
	}
	if rows.Err() != nil {
		s.t.Fatal(rows.Err())
	}
	return out
}

var (
	guidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	timePattern = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$`)
)

// entity is the whole JSON a tagOperation answer must be: want lists the properties the test cares about,
// and the rest take their defaults. Server-chosen values (id, createdDateTime, @odata.etag) are checked for
// form and taken from got, so the comparison is of the whole body.
func assertEntity(t *testing.T, r response, status int, want map[string]any) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	got := r.json(t)
	full := map[string]any{
		"@odata.type":       "#microsoft.graph.tagOperation",
		"completedDateTime": nil,
		"percentProgress":   nil,
		"status":            "notStarted",
		"action":            "applyTags",
		"createdBy":         devCreatedBy(),
		"resultInfo":        nil,
	}
	if ctx, ok := got["@odata.context"]; ok {
		full["@odata.context"] = ctx
		if !strings.HasSuffix(ctx.(string), "/beta/$metadata#tagOperations/$entity") || !(strings.HasPrefix(ctx.(string), "http://") || strings.HasPrefix(ctx.(string), "https://")) {
			t.Errorf("@odata.context %q", ctx)
		}
	}
	for k, v := range want {
		full[k] = v
	}
	for _, k := range []string{"id", "createdDateTime", "@odata.etag"} {
		if _, given := want[k]; !given {
			full[k] = got[k]
		}
	}
	if v, ok := full["@odata.etag"].(etagVersion); ok {
		created, _ := full["createdDateTime"].(string)
		full["@odata.etag"] = etagOf(t, created, int64(v))
	}
	if id, _ := got["id"].(string); !guidPattern.MatchString(id) {
		t.Errorf("id %q is not a lowercase GUID", got["id"])
	}
	for _, k := range []string{"createdDateTime", "completedDateTime"} {
		if s, ok := got[k].(string); ok && !timePattern.MatchString(s) {
			t.Errorf("%s %q is not RFC 3339 UTC", k, s)
		}
	}
	if etag := r.header.Get("ETag"); etag != "" && etag != got["@odata.etag"] {
		t.Errorf("ETag header %q differs from @odata.etag %q", etag, got["@odata.etag"])
	}
	if !reflect.DeepEqual(normalize(full), normalize(got)) {
		t.Errorf("entity mismatch\n got: %s\nwant: %s", mustJSON(got), mustJSON(full))
	}
	return got
}

// etagVersion stands in assertEntity's want for the ETag of that version of the entity's incarnation.
type etagVersion int64

// etagOf is the ETag of version of the operation created at created (RFC 3339): W/"<version>.<creation
// time in microseconds since 1970, base 36>".
func etagOf(t *testing.T, created string, version int64) string {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, created)
	if err != nil {
		t.Fatalf("createdDateTime %q: %v", created, err)
	}
	return fmt.Sprintf(`W/"%d.%s"`, version, strconv.FormatInt(at.UnixMicro(), 36))
}

func devCreatedBy() map[string]any {
	return map[string]any{"application": nil, "device": nil,
		"user": map[string]any{"id": "dev", "displayName": "Development user"}}
}

// normalize makes json.Number and Go numbers comparable.
func normalize(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

func mustJSON(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// assertError checks a whole Graph error answer: status, code, message (when given), target and detail
// targets, and the innerError and id headers every answer carries.
func assertError(t *testing.T, r response, status int, code, target string, detailTargets ...string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	body := r.json(t)
	if len(body) != 1 {
		t.Errorf("error body has extra members: %s", r.body)
	}
	e, _ := body["error"].(map[string]any)
	if e == nil {
		t.Fatalf("no error member: %s", r.body)
	}
	if e["code"] != code {
		t.Errorf("code %v, want %s", e["code"], code)
	}
	if msg, _ := e["message"].(string); len(msg) < 10 {
		t.Errorf("message %q is not for people", msg)
	}
	if got, _ := e["target"].(string); got != target {
		t.Errorf("target %q, want %q", got, target)
	}
	var gotTargets []string
	details, _ := e["details"].([]any)
	for _, d := range details {
		dm := d.(map[string]any)
		gotTargets = append(gotTargets, dm["target"].(string))
		if c, _ := dm["code"].(string); c == "" {
			t.Errorf("detail without code: %v", dm)
		}
		if m, _ := dm["message"].(string); !strings.Contains(m, strings.Split(dm["target"].(string), "/")[len(strings.Split(dm["target"].(string), "/"))-1]) {
			t.Errorf("detail message %q does not name its property", m)
		}
	}
	if !reflect.DeepEqual(gotTargets, nilIfEmpty(detailTargets)) {
		t.Errorf("detail targets %q, want %q", gotTargets, detailTargets)
	}
	inner, _ := e["innerError"].(map[string]any)
	rid := r.header.Get("request-id")
	if !guidPattern.MatchString(rid) || inner["request-id"] != rid || inner["client-request-id"] != r.header.Get("client-request-id") {
		t.Errorf("innerError %v vs headers request-id %q client-request-id %q", inner, rid, r.header.Get("client-request-id"))
	}
	if d, _ := inner["date"].(string); !timePattern.MatchString(d) {
		t.Errorf("innerError.date %q", inner["date"])
	}
	// Whole words: an ETag's base-36 time echoed in a message may hold "pgx" (W/"1.hopgxph390").
	if leak := driverText.FindString(string(r.body)); leak != "" {
		t.Errorf("error body leaks %q: %s", leak, r.body)
	}
	return e
}

// driverText is what an error body must never show: database, driver or runtime text.
var driverText = regexp.MustCompile(`SQLSTATE|\bpgx\b|pgconn|pgxpool|goroutine|postgres|panic`)

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
