package handlers_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func gzipped(t *testing.T, body []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The Graph SDKs compress every request body with gzip by default: such a body is taken as if it were sent
// plain, for creates and PATCHes alike.
func TestGzipBodies(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	body := `{"status": "running", "percentProgress": 7, "resultInfo": {"code": 3, "message": "started"}}`
	plain := s.do("POST", "/beta/tagOperations", body)
	packed := s.do("POST", "/beta/tagOperations", string(gzipped(t, []byte(body))), "Content-Encoding", "gzip")
	if plain.status != 201 || packed.status != 201 {
		t.Fatalf("creates answered %d (plain) and %d (gzip): %s", plain.status, packed.status, packed.body)
	}
	want, got := plain.json(t), packed.json(t)
	for _, volatile := range []string{"id", "createdDateTime", "@odata.etag", "@odata.context"} {
		delete(want, volatile)
		delete(got, volatile)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("a gzip create stored\n%v\nwant, as sent plain,\n%v", got, want)
	}

	id := packed.json(t)["id"].(string)
	patch := `{"status": "succeeded", "percentProgress": 100}`
	r := s.do("PATCH", "/beta/tagOperations/"+id, string(gzipped(t, []byte(patch))),
		"Content-Encoding", "GZIP", "Content-Type", "application/merge-patch+json")
	completed := r.json(t)["completedDateTime"]
	if completed == nil {
		t.Fatalf("a gzip PATCH to succeeded set no completedDateTime: %s", r.body)
	}
	started := map[string]any{"code": 3, "message": "started", "subcode": nil}
	assertEntity(t, r, 200, map[string]any{"id": id, "status": "succeeded", "percentProgress": 100,
		"resultInfo": started, "completedDateTime": completed, "@odata.etag": etagVersion(2)})
	// x-gzip is gzip's old name (RFC 9110 §8.4.1.3); identity around it is no coding.
	r = s.do("PATCH", "/beta/tagOperations/"+id, string(gzipped(t, []byte(`{"resultInfo": null}`))),
		"Content-Encoding", "identity", "Content-Encoding", "x-gzip")
	assertEntity(t, r, 200, map[string]any{"id": id, "status": "succeeded", "percentProgress": 100,
		"completedDateTime": completed, "@odata.etag": etagVersion(3)})
}

// A damaged gzip body is a 400 that says what is wrong with it, and writes nothing.
func TestCorruptGzipBodies(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	good := gzipped(t, []byte(`{"percentProgress": 5}`))
	badChecksum := bytes.Clone(good)
	badChecksum[len(badChecksum)-8] ^= 0xff // the CRC-32 of the trailer
	for _, c := range []struct {
		name, body, message string
	}{
		{"not gzip", `{"percentProgress": 5}`, "The request body is not valid gzip, as its Content-Encoding says: it does not begin with a gzip header."},
		{"empty", "", "The request body is not valid gzip, as its Content-Encoding says: it does not begin with a gzip header."},
		{"truncated", string(good[:len(good)-6]), "The request body is not valid gzip, as its Content-Encoding says: it ends before its compressed data does."},
		{"bad checksum", string(badChecksum), "The request body is not valid gzip, as its Content-Encoding says: its checksum does not match its data."},
		{"trailing garbage", string(good) + "this is not a gzip member", "The request body is not valid gzip, as its Content-Encoding says: a member's header is damaged."},
	} {
		headers := []string{"Content-Encoding", "gzip"}
		if c.body == "" {
			headers = append(headers, "Content-Type", "application/json")
		}
		e := assertError(t, s.do("POST", "/beta/tagOperations", c.body, headers...), 400, "badRequest", "")
		if e["message"] != c.message {
			t.Errorf("%s: message %q, want %q", c.name, e["message"], c.message)
		}
	}
	var n int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM case_operations`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d operations after refused bodies (err %v), want none", n, err)
	}
}

// A zip bomb, 100 MB of JSON whitespace in about 100 KB of gzip, is refused as too large once the limit's
// worth has come out, and never held in memory. Not parallel: the allocation count is the process's.
func TestGzipBombIsTooLarge(t *testing.T) {
	s := newTestServer(t)
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	w.Write([]byte(`{"percentProgress": 5, "x": "`))
	chunk := []byte(strings.Repeat(" ", 1<<20))
	for range 100 {
		w.Write(chunk)
	}
	w.Write([]byte(`"}`))
	w.Close()
	bomb := b.String()
	if len(bomb) > 1<<20 {
		t.Fatalf("the bomb is %d bytes compressed, want it small", len(bomb))
	}

	// A first refusal warms up what any request costs once (the test's OpenAPI document, pools).
	assertError(t, s.do("POST", "/beta/tagOperations", string(gzipped(t, []byte(strings.Repeat(" ", 70<<10)))),
		"Content-Encoding", "gzip"), 413, "requestEntityTooLarge", "")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	e := assertError(t, s.do("POST", "/beta/tagOperations", bomb, "Content-Encoding", "gzip"), 413, "requestEntityTooLarge", "")
	runtime.ReadMemStats(&after)
	if e["message"] != "The request body is larger than 65536 bytes." {
		t.Errorf("message %q", e["message"])
	}
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 16<<20 {
		t.Errorf("refusing the bomb allocated %d bytes, want well under its 100 MB", allocated)
	}

	// A body that compresses to no more than the limit but inflates past it is just as large.
	over := string(gzipped(t, []byte(`{"percentProgress": 5, "x": "`+strings.Repeat("a", 70<<10)+`"}`)))
	assertError(t, s.do("POST", "/beta/tagOperations", over, "Content-Encoding", "gzip"), 413, "requestEntityTooLarge", "")
	// Compressed bytes that never end (empty deflate blocks) are bounded too.
	var endless bytes.Buffer
	ew := gzip.NewWriter(&endless)
	ew.Write([]byte(`{`))
	for endless.Len() < 200<<10 {
		ew.Flush() // each flush adds an empty stored block, and no output
	}
	assertError(t, s.do("POST", "/beta/tagOperations", endless.String(), "Content-Encoding", "gzip"), 413, "requestEntityTooLarge", "")

	var n int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM case_operations`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d operations after refused bodies (err %v), want none", n, err)
	}
}

// An answer large enough to gain is compressed for a client that accepts gzip, and for no other; a small one
// is sent as it is, and HEAD says what GET would send.
func TestGzipResponses(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	for range 10 {
		s.create(`{"status": "running", "percentProgress": 3}`)
	}
	plain := s.do("GET", "/beta/tagOperations", "")
	if plain.status != 200 || plain.header.Get("Content-Encoding") != "" || len(plain.body) < 2<<10 {
		t.Fatalf("a list without Accept-Encoding: %d, Content-Encoding %q, %d bytes", plain.status,
			plain.header.Get("Content-Encoding"), len(plain.body))
	}
	packed := s.do("GET", "/beta/tagOperations", "", "Accept-Encoding", "br;q=1, gzip;q=0.5")
	if packed.status != 200 || packed.header.Get("Content-Encoding") != "gzip" || packed.header.Get("Vary") != "Accept-Encoding" {
		t.Fatalf("a list for a client that takes gzip: %d, Content-Encoding %q, Vary %q", packed.status,
			packed.header.Get("Content-Encoding"), packed.header.Get("Vary"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(packed.body))
	if err != nil {
		t.Fatal(err)
	}
	inflated, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(inflated, plain.body) {
		t.Errorf("the gzip answer inflates to\n%s\nwant the plain answer\n%s", inflated, plain.body)
	}
	if len(packed.body)*3 > len(plain.body) {
		t.Errorf("gzip sent %d bytes for %d, want a third or less", len(packed.body), len(plain.body))
	}

	// One operation is under 1 KiB: not worth compressing.
	id := s.create(`{}`)["id"].(string)
	one := s.do("GET", "/beta/tagOperations/"+id, "", "Accept-Encoding", "gzip")
	if one.status != 200 || one.header.Get("Content-Encoding") != "" {
		t.Errorf("one operation: %d, Content-Encoding %q, want it plain", one.status, one.header.Get("Content-Encoding"))
	}
	// An error is no different.
	e := s.do("GET", "/beta/tagOperations/"+strings.Repeat("x", 2000), "", "Accept-Encoding", "gzip")
	if e.status != 404 || e.header.Get("Content-Encoding") != "" {
		t.Errorf("a 404: %d, Content-Encoding %q", e.status, e.header.Get("Content-Encoding"))
	}
	head := s.do("HEAD", "/beta/tagOperations", "", "Accept-Encoding", "gzip")
	if head.status != 200 || head.header.Get("Content-Encoding") != "gzip" || len(head.body) != 0 {
		t.Errorf("HEAD: %d, Content-Encoding %q, %d body bytes", head.status, head.header.Get("Content-Encoding"), len(head.body))
	}
}
