package handlers_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const seedBody = `{
  "@odata.type": "#microsoft.graph.tagOperation",
  "completedDateTime": "String (timestamp)",
  "percentProgress": "Integer",
  "status": "String",
  "action": "String",
  "createdBy": {
    "@odata.type": "microsoft.graph.identitySet"
  },
  "resultInfo": {
    "@odata.type": "microsoft.graph.resultInfo"
  }
}`

// The seed page's example request, sent verbatim with an id, names every placeholder it holds;
// the same request with real values updates the operation and answers the seed's response shape.
func TestSeedRequest(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	op := s.create(`{}`)
	id := op["id"].(string)
	before := s.row(id)

	body := strings.Replace(seedBody, "{\n", "{\n  \"id\": \""+id+"\",\n", 1)
	r := s.do("PATCH", "/beta/tagOperation", body)
	assertError(t, r, 400, "badRequest", "", "completedDateTime", "percentProgress", "status", "action")
	if s.row(id) != before {
		t.Errorf("a refused PATCH changed the row")
	}

	done := time.Now().UTC().Add(time.Minute).Truncate(time.Second).Format(time.RFC3339) // completion times cannot be far ahead
	real := strings.NewReplacer(`"String (timestamp)"`, `"`+done+`"`, `"Integer"`, `100`,
		`"status": "String"`, `"status": "succeeded"`, `"action": "String"`, `"action": "applyTags"`).Replace(body)
	r = s.do("PATCH", "/beta/tagOperation", real)
	assertEntity(t, r, 200, map[string]any{"id": id, "createdDateTime": op["createdDateTime"], "@odata.etag": etagVersion(2),
		"completedDateTime": done, "percentProgress": 100, "status": "succeeded"})

	r = s.do("PATCH", "/beta/tagOperation", `{"percentProgress": 5}`)
	assertError(t, r, 400, "badRequest", "id", "id")
	r = s.do("PATCH", "/beta/tagOperation", `{"id": "00000000-0000-0000-0000-000000000001", "percentProgress": 5}`)
	assertError(t, r, 404, "notFound", "")
}

// Rule 1: media type, size and shape of the body.
func TestPatchBodyMustBeOneJSONObject(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	id := s.create(`{"percentProgress": 1}`)["id"].(string)
	before := s.row(id)
	path := "/beta/tagOperations/" + id
	big := `{"resultInfo": {"message": "` + strings.Repeat("a", 70000) + `"}}`
	cases := []struct {
		name, body, contentType string
		status                  int
		code, target            string
	}{
		{"no content type", `{"percentProgress": 2}`, "", 415, "unsupportedMediaType", ""},
		{"text/plain", `{"percentProgress": 2}`, "text/plain", 415, "unsupportedMediaType", ""},
		{"form", `percentProgress=2`, "application/x-www-form-urlencoded", 415, "unsupportedMediaType", ""},
		{"too large", big, "application/json", 413, "requestEntityTooLarge", ""},
		{"array", `[{"percentProgress": 2}]`, "application/json", 400, "badRequest", ""},
		{"string", `"x"`, "application/json", 400, "badRequest", ""},
		{"empty", ` `, "application/json", 400, "badRequest", ""},
		{"truncated", `{"percentProgress": 2`, "application/json", 400, "badRequest", ""},
		{"trailing data", `{"percentProgress": 2} {}`, "application/json", 400, "badRequest", ""},
		{"trailing garbage", `{"percentProgress": 2}x`, "application/json", 400, "badRequest", ""},
		{"duplicate key", `{"percentProgress": 2, "percentProgress": 3}`, "application/json", 400, "badRequest", "percentProgress"},
		{"nested duplicate", `{"resultInfo": {"code": 1, "code": 2}}`, "application/json", 400, "badRequest", "code"},
		{"invalid UTF-8", "{\"resultInfo\": {\"message\": \"\xff\xfe\"}}", "application/json", 400, "badRequest", ""},
		{"too deep", `{"createdBy": ` + strings.Repeat(`{"a": `, 40) + `1` + strings.Repeat(`}`, 40) + `}`, "application/json", 400, "badRequest", ""},
		{"lone high surrogate", `{"resultInfo": {"message": "a\ud800b"}}`, "application/json", 400, "badRequest", ""},
		{"lone low surrogate", `{"resultInfo": {"message": "\udc00"}}`, "application/json", 400, "badRequest", ""},
		{"reversed pair", `{"resultInfo": {"message": "\ude00\ud83d"}}`, "application/json", 400, "badRequest", ""},
		{"high surrogate at the end", `{"resultInfo": {"message": "\ud83d"}}`, "application/json", 400, "badRequest", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.do("PATCH", path, c.body, "Content-Type", c.contentType)
			assertError(t, r, c.status, c.code, c.target)
		})
	}
	for _, ct := range []string{"application/json; charset=utf-8", "application/merge-patch+json", "Application/JSON"} {
		r := s.do("PATCH", path, `{"percentProgress": 1}`, "Content-Type", ct)
		assertEntity(t, r, 200, map[string]any{"percentProgress": 1, "@odata.etag": etagVersion(1)})
	}
	// A byte order mark, which a parser may ignore (RFC 8259 §8.1), is ignored; only at the start.
	r := s.do("PATCH", path, "\xef\xbb\xbf"+`{"percentProgress": 1}`)
	assertEntity(t, r, 200, map[string]any{"percentProgress": 1, "@odata.etag": etagVersion(1)})
	assertError(t, s.do("PATCH", path, "\xef\xbb\xbf\xef\xbb\xbf"+`{"percentProgress": 1}`), 400, "badRequest", "")
	// An identity Content-Encoding is no encoding.
	r = s.do("PATCH", path, `{"percentProgress": 1}`, "Content-Encoding", "identity", "Content-Encoding", "IDENTITY, identity")
	assertEntity(t, r, 200, map[string]any{"percentProgress": 1, "@odata.etag": etagVersion(1)})
	if s.row(id) != before {
		t.Errorf("refused PATCHes changed the row:\n%s\n%s", before, s.row(id))
	}
}

// Rules 2-4: absent, null, merge, read-only properties, annotations, unknown properties and strict types.
func TestPatchProperties(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	// A completion time a minute ahead, as a worker whose clock runs a little fast sends it.
	soon, seconds := time.Now().UTC().Add(time.Minute).Truncate(time.Second), "2006-01-02T15:04:05"
	cases := []struct {
		name    string
		create  string
		patch   string
		want    map[string]any // on success
		targets []string       // on 400
	}{
		{name: "empty patch changes nothing", create: `{"percentProgress": 7}`, patch: `{}`,
			want: map[string]any{"percentProgress": 7, "@odata.etag": etagVersion(1)}},
		{name: "null clears a nullable property", create: `{"percentProgress": 7}`, patch: `{"percentProgress": null}`,
			want: map[string]any{"percentProgress": nil, "@odata.etag": etagVersion(2)}},
		{name: "absent properties are kept", create: `{"percentProgress": 7, "action": "index"}`, patch: `{"status": "running"}`,
			want: map[string]any{"percentProgress": 7, "action": "index", "status": "running", "@odata.etag": etagVersion(2)}},
		{name: "status null", patch: `{"status": null}`, targets: []string{"status"}},
		{name: "action null", patch: `{"action": null}`, targets: []string{"action"}},
		{name: "unknown status", patch: `{"status": "paused"}`, targets: []string{"status"}},
		{name: "status is case-sensitive", patch: `{"status": "Running"}`, targets: []string{"status"}},
		{name: "unknownFutureValue action counts as absent", create: `{"action": "index"}`, patch: `{"action": "unknownFutureValue"}`,
			want: map[string]any{"action": "index", "@odata.etag": etagVersion(1)}},
		{name: "createdBy merges", create: `{"createdBy": {"user": {"id": "u1", "displayName": "Ada"}}}`,
			patch: `{"createdBy": {"user": {"displayName": "Ada L."}, "application": {"id": "app"}}}`,
			want: map[string]any{"@odata.etag": etagVersion(2), "createdBy": map[string]any{"device": nil,
				"application": map[string]any{"id": "app", "displayName": nil},
				"user":        map[string]any{"id": "u1", "displayName": "Ada L."}}}},
		{name: "createdBy null member is removed", create: `{"createdBy": {"user": {"id": "u1"}, "device": {"id": "d1"}}}`,
			patch: `{"createdBy": {"device": null, "user": {"id": null}}}`,
			want: map[string]any{"@odata.etag": etagVersion(2), "createdBy": map[string]any{"device": nil, "application": nil,
				"user": map[string]any{"id": nil, "displayName": nil}}}},
		{name: "createdBy null clears", patch: `{"createdBy": null}`, want: map[string]any{"createdBy": nil, "@odata.etag": etagVersion(2)}},
		{name: "resultInfo merges", create: `{"resultInfo": {"code": 1, "message": "m"}}`, patch: `{"resultInfo": {"subcode": 9, "message": null}}`,
			want: map[string]any{"@odata.etag": etagVersion(2), "resultInfo": map[string]any{"code": 1, "message": nil, "subcode": 9}}},
		{name: "resultInfo with all null is null", create: `{"resultInfo": {"code": 1}}`, patch: `{"resultInfo": {"code": null}}`,
			want: map[string]any{"@odata.etag": etagVersion(2), "resultInfo": nil}},
		{name: "resultInfo null clears", create: `{"resultInfo": {"code": 1, "subcode": 2}}`, patch: `{"resultInfo": null}`,
			want: map[string]any{"@odata.etag": etagVersion(2), "resultInfo": nil}},
		{name: "odata type with and without hash", patch: `{"@odata.type": "microsoft.graph.tagOperation", "createdBy": {"@odata.type": "#microsoft.graph.identitySet", "user": {"@odata.type": "microsoft.graph.identity"}}, "resultInfo": {"@odata.type": "microsoft.graph.resultInfo"}}`,
			want: map[string]any{"@odata.etag": etagVersion(1)}},
		{name: "other annotations are ignored", patch: `{"@odata.etag": "W/\"99\"", "@odata.context": "x", "status@odata.type": "x", "percentProgress": 3}`,
			want: map[string]any{"percentProgress": 3, "@odata.etag": etagVersion(2)}},
		{name: "wrong odata types", patch: `{"@odata.type": "#microsoft.graph.caseExportOperation", "createdBy": {"@odata.type": "microsoft.graph.identity", "user": {"@odata.type": "x"}}, "resultInfo": {"@odata.type": "microsoft.graph.identitySet"}}`,
			targets: []string{"@odata.type", "createdBy/@odata.type", "createdBy/user/@odata.type", "resultInfo/@odata.type"}},
		{name: "unknown properties", patch: `{"name": "x", "createdBy": {"owner": {}}, "resultInfo": {"detail": 1}}`,
			targets: []string{"name", "createdBy/owner", "resultInfo/detail"}},
		{name: "strict integers", patch: `{"percentProgress": "50"}`, targets: []string{"percentProgress"}},
		{name: "fraction", patch: `{"percentProgress": 50.5}`, targets: []string{"percentProgress"}},
		{name: "negative", patch: `{"percentProgress": -1}`, targets: []string{"percentProgress"}},
		{name: "over 100", patch: `{"percentProgress": 101}`, targets: []string{"percentProgress"}},
		{name: "exponent", patch: `{"percentProgress": 1e1}`, targets: []string{"percentProgress"}},
		{name: "Int32 overflow", patch: `{"resultInfo": {"code": 2147483648, "subcode": "1"}}`, targets: []string{"resultInfo/code", "resultInfo/subcode"}},
		{name: "Int32 bounds", patch: `{"resultInfo": {"code": 2147483647, "subcode": -2147483648}}`,
			want: map[string]any{"@odata.etag": etagVersion(2), "resultInfo": map[string]any{"code": 2147483647, "message": nil, "subcode": -2147483648}}},
		{name: "timestamp without offset", patch: `{"status": "failed", "completedDateTime": "2026-01-02T03:04:05"}`, targets: []string{"completedDateTime"}},
		{name: "date only", patch: `{"status": "failed", "completedDateTime": "2026-01-02"}`, targets: []string{"completedDateTime"}},
		{name: "offset of 24 hours", patch: `{"status": "failed", "completedDateTime": "2026-01-02T03:04:05+24:00"}`, targets: []string{"completedDateTime"}},
		{name: "offset of 60 minutes", patch: `{"status": "failed", "completedDateTime": "2026-01-02T03:04:05+00:60"}`, targets: []string{"completedDateTime"}},
		{name: "comma before the fraction", patch: `{"status": "failed", "completedDateTime": "2026-01-02T03:04:05,5Z"}`, targets: []string{"completedDateTime"}},
		{name: "surrogate pair and escaped backslash", patch: `{"resultInfo": {"message": "\ud83d\ude00 \\ud800"}}`,
			want: map[string]any{"@odata.etag": etagVersion(2), "resultInfo": map[string]any{"code": nil, "message": "😀 \\ud800", "subcode": nil}}},
		{name: "timestamp with offset", patch: `{"status": "failed", "completedDateTime": "` + soon.In(time.FixedZone("", 2*3600)).Format(seconds) + `.5+02:00"}`,
			want: map[string]any{"status": "failed", "completedDateTime": soon.Format(seconds) + ".5Z", "@odata.etag": etagVersion(2)}},
		{name: "U+0000", patch: `{"resultInfo": {"message": "a\u0000b"}, "createdBy": {"user": {"id": "\u0000"}}}`,
			targets: []string{"resultInfo/message", "createdBy/user/id"}},
		{name: "identity string limit", patch: `{"createdBy": {"user": {"displayName": "` + strings.Repeat("é", 1025) + `"}}}`,
			targets: []string{"createdBy/user/displayName"}},
		{name: "identity string at limit", create: `{"createdBy": null}`, patch: `{"createdBy": {"user": {"displayName": "` + strings.Repeat("é", 1024) + `"}}}`,
			want: map[string]any{"@odata.etag": etagVersion(2), "createdBy": map[string]any{"application": nil, "device": nil,
				"user": map[string]any{"id": nil, "displayName": strings.Repeat("é", 1024)}}}},
		{name: "message limit", patch: `{"resultInfo": {"message": "` + strings.Repeat("m", 4097) + `"}}`, targets: []string{"resultInfo/message"}},
		{name: "wrong shapes", patch: `{"createdBy": [], "resultInfo": "ok", "id": 5}`, targets: []string{"createdBy", "resultInfo", "id"}},
		{name: "every problem at once", patch: `{"status": "x", "percentProgress": true, "action": 1, "completedDateTime": 5, "bogus": 1}`,
			targets: []string{"status", "percentProgress", "action", "completedDateTime", "bogus"}},
		{name: "another id", patch: `{"id": "00000000-0000-0000-0000-000000000001"}`, targets: []string{"id"}},
		{name: "another createdDateTime", patch: `{"createdDateTime": "2001-01-01T00:00:00Z"}`, targets: []string{"createdDateTime"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			create := c.create
			if create == "" {
				create = `{}`
			}
			op := s.create(create)
			id := op["id"].(string)
			before, eventsBefore := s.row(id), len(s.events(id))
			r := s.do("PATCH", "/beta/tagOperations/"+id, c.patch)
			if c.targets != nil {
				target := ""
				if len(c.targets) == 1 {
					target = c.targets[0]
				}
				assertError(t, r, 400, "badRequest", target, c.targets...)
				if s.row(id) != before || len(s.events(id)) != eventsBefore {
					t.Errorf("a refused PATCH wrote something")
				}
				return
			}
			want := map[string]any{"id": id, "createdDateTime": op["createdDateTime"]}
			for k, v := range op {
				if k != "@odata.context" {
					want[k] = v
				}
			}
			for k, v := range c.want {
				want[k] = v
			}
			assertEntity(t, r, 200, want)
			wantEvents := eventsBefore
			if c.want["@odata.etag"] != etagVersion(1) {
				wantEvents++
			} else if s.row(id) != before {
				t.Errorf("a PATCH that changes nothing wrote the row")
			}
			if got := len(s.events(id)); got != wantEvents {
				t.Errorf("%d history events, want %d", got, wantEvents)
			}
		})
	}
}

// Rule 3: a client that GETs an operation and PATCHes the body straight back succeeds and changes nothing.
func TestGetThenPatchBackIsANoOp(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	id := s.create(`{"status": "running", "percentProgress": 30, "resultInfo": {"code": 3, "message": "warming up"},
		"createdBy": {"application": {"id": "app-1", "displayName": "Tagger"}}}`)["id"].(string)
	got := s.do("GET", "/beta/tagOperations/"+id, "")
	if got.status != 200 {
		t.Fatalf("GET %d", got.status)
	}
	r := s.do("PATCH", "/beta/tagOperations/"+id, string(got.body), "If-Match", got.header.Get("ETag"))
	if r.status != 200 || string(r.body) != string(got.body) || r.header.Get("ETag") != got.header.Get("ETag") {
		t.Fatalf("PATCH back: %d %s\nGET was %s", r.status, r.body, got.body)
	}
	if n := len(s.events(id)); n != 1 {
		t.Errorf("%d events, want only the create", n)
	}
	// The same holds for the seed form, whose body carries the id.
	r = s.do("PATCH", "/beta/tagOperation", string(got.body))
	if r.status != 200 || string(r.body) != string(got.body) {
		t.Fatalf("seed-form PATCH back: %d %s", r.status, r.body)
	}
}

// Rules 5 and 6: If-Match and ETags.
func TestPatchIfMatch(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	op := s.create(`{}`)
	id, created := op["id"].(string), op["createdDateTime"].(string)
	path := "/beta/tagOperations/" + id
	tag := func(version int64) string { return etagOf(t, created, version) }

	r := s.do("PATCH", path, `{"percentProgress": 1}`, "If-Match", tag(1))
	assertEntity(t, r, 200, map[string]any{"id": id, "percentProgress": 1, "@odata.etag": etagVersion(2)})
	before := s.row(id)
	other := etagOf(t, time.Now().UTC().Format(time.RFC3339Nano), 2) // the right version of another incarnation
	for _, stale := range []string{tag(1), tag(3), `"` + strings.TrimPrefix(tag(2), `W/"`), `W/"2"`, other,
		tag(1) + ", " + tag(3),
		// Tags compare as strings: the same numbers written otherwise are other tags.
		strings.ToUpper(tag(2)), strings.Replace(tag(2), `W/"2.`, `W/"02.`, 1), strings.Replace(tag(2), `W/"2.`, `W/"+2.`, 1),
		// A creation time before any timestamptz.
		`W/"2.-zzzzzzzzzzzz"`} {
		r = s.do("PATCH", path, `{"percentProgress": 2}`, "If-Match", stale)
		assertError(t, r, 412, "preconditionFailed", "")
	}
	if s.row(id) != before {
		t.Errorf("a 412 wrote the row")
	}
	r = s.do("PATCH", path, `{"percentProgress": 2}`, "If-Match", tag(1)+", "+tag(2))
	assertEntity(t, r, 200, map[string]any{"id": id, "percentProgress": 2, "@odata.etag": etagVersion(3)})
	r = s.do("PATCH", path, `{"percentProgress": 3}`, "If-Match", `*`)
	assertEntity(t, r, 200, map[string]any{"id": id, "percentProgress": 3, "@odata.etag": etagVersion(4)})
	// A no-op keeps the ETag, even with a matching If-Match.
	r = s.do("PATCH", path, `{"percentProgress": 3}`, "If-Match", tag(4))
	assertEntity(t, r, 200, map[string]any{"id": id, "percentProgress": 3, "@odata.etag": etagVersion(4)})
	if n := len(s.events(id)); n != 4 {
		t.Errorf("%d events, want 4 (create and three changes)", n)
	}
	r = s.do("DELETE", path, "", "If-Match", tag(3))
	assertError(t, r, 412, "preconditionFailed", "")
	r = s.do("DELETE", path, "", "If-Match", tag(4))
	if r.status != 204 || len(r.body) != 0 {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}

	// Created again with the same id, the operation counts its versions from 1 again; the deleted one's
	// ETags must not match it.
	again := s.create(`{"id": "` + id + `"}`)
	for i, progress := range []int{10, 20, 30} {
		version := int64(i + 2)
		r = s.do("PATCH", path, `{"percentProgress": `+strconv.Itoa(progress)+`}`, "If-Match", etagOf(t, again["createdDateTime"].(string), version-1))
		assertEntity(t, r, 200, map[string]any{"id": id, "createdDateTime": again["createdDateTime"],
			"percentProgress": progress, "@odata.etag": etagVersion(version)})
	}
	current := etagOf(t, again["createdDateTime"].(string), 4)
	if current == tag(4) {
		t.Fatalf("the new operation's ETag %s is the deleted one's", current)
	}
	before = s.row(id)
	r = s.do("PATCH", path, `{"percentProgress": 99}`, "If-Match", tag(4))
	assertError(t, r, 412, "preconditionFailed", "")
	r = s.do("DELETE", path, "", "If-Match", tag(4))
	assertError(t, r, 412, "preconditionFailed", "")
	if s.row(id) != before {
		t.Errorf("a deleted operation's ETag wrote its successor")
	}
	r = s.do("PATCH", path, `{"percentProgress": 99}`, "If-Match", current)
	assertEntity(t, r, 200, map[string]any{"id": id, "createdDateTime": again["createdDateTime"], "percentProgress": 99,
		"@odata.etag": etagVersion(5)})
}

// Prefer: return=minimal answers 204 with the new ETag.
func TestPatchPreferMinimal(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	op := s.create(`{}`)
	id := op["id"].(string)
	r := s.do("PATCH", "/beta/tagOperations/"+id, `{"status": "running"}`, "Prefer", "odata.maxpagesize=5, return=minimal")
	if r.status != 204 || len(r.body) != 0 || r.header.Get("ETag") != etagOf(t, op["createdDateTime"].(string), 2) || r.header.Get("Preference-Applied") != "return=minimal" {
		t.Fatalf("%d %v %s", r.status, r.header, r.body)
	}
	got := s.do("GET", "/beta/tagOperations/"+id, "")
	assertEntity(t, got, 200, map[string]any{"id": id, "status": "running", "@odata.etag": etagVersion(2)})
}

// Section 1: every status transition, through the API.
func TestStatusTransitions(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	statuses := []string{"notStarted", "submissionFailed", "running", "succeeded", "partiallySucceeded", "failed"}
	terminal := map[string]bool{"submissionFailed": true, "succeeded": true, "partiallySucceeded": true, "failed": true}
	allowed := func(from, to string) bool {
		switch {
		case from == to, from == "notStarted":
			return true
		case from == "running":
			return to == "succeeded" || to == "partiallySucceeded" || to == "failed"
		}
		return false
	}
	for _, from := range statuses {
		for _, to := range statuses {
			t.Run(from+"->"+to, func(t *testing.T) {
				op := s.create(`{"status": "` + from + `"}`)
				id := op["id"].(string)
				before := s.row(id)
				r := s.do("PATCH", "/beta/tagOperations/"+id, `{"status": "`+to+`"}`)
				if !allowed(from, to) {
					e := assertError(t, r, 409, "conflict", "status")
					if msg := e["message"].(string); !strings.HasPrefix(msg, "status cannot change from "+from+" to "+to+": ") {
						t.Errorf("message %q does not name the transition", msg)
					}
					if s.row(id) != before {
						t.Errorf("a refused transition wrote the row")
					}
					return
				}
				want := map[string]any{"id": id, "createdDateTime": op["createdDateTime"], "status": to,
					"completedDateTime": op["completedDateTime"], "@odata.etag": etagVersion(2)}
				if from == to {
					want["@odata.etag"] = etagVersion(1)
				}
				got := r.json(t)
				if terminal[to] && !terminal[from] {
					want["completedDateTime"] = got["completedDateTime"]
					if got["completedDateTime"] == nil || got["completedDateTime"].(string) < op["createdDateTime"].(string) {
						t.Errorf("completedDateTime %v not set at or after createdDateTime %v", got["completedDateTime"], op["createdDateTime"])
					}
				}
				assertEntity(t, r, 200, want)
			})
		}
	}
}

// completedDateTime follows the status: set by the server unless given, refused while not terminal.
func TestCompletedDateTime(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	id := s.create(`{"status": "running"}`)["id"].(string)
	path := "/beta/tagOperations/" + id
	// Two completion times, a minute and two minutes ahead: a worker's clock may run a little fast.
	first := time.Now().UTC().Add(time.Minute).Truncate(time.Second).Format("2006-01-02T15:04:05")
	second := time.Now().UTC().Add(2 * time.Minute).Truncate(time.Second).Format("2006-01-02T15:04:05")
	r := s.do("PATCH", path, `{"completedDateTime": "`+first+`Z"}`)
	assertError(t, r, 400, "badRequest", "completedDateTime", "completedDateTime")
	r = s.do("PATCH", path, `{"status": "failed", "completedDateTime": "2001-01-01T00:00:00Z"}`)
	assertError(t, r, 400, "badRequest", "completedDateTime", "completedDateTime")
	r = s.do("PATCH", path, `{"status": "failed", "completedDateTime": "`+first+`Z"}`)
	assertEntity(t, r, 200, map[string]any{"id": id, "status": "failed", "completedDateTime": first + "Z", "@odata.etag": etagVersion(2)})
	r = s.do("PATCH", path, `{"completedDateTime": null}`)
	assertError(t, r, 400, "badRequest", "completedDateTime", "completedDateTime")
	r = s.do("PATCH", path, `{"completedDateTime": "`+second+`Z"}`)
	assertEntity(t, r, 200, map[string]any{"id": id, "status": "failed", "completedDateTime": second + "Z", "@odata.etag": etagVersion(3)})
	want := []string{
		`updated {"status": {"new": "failed", "old": "running"}, "completedDateTime": {"new": "` + first + `.000000Z", "old": null}}`,
		`updated {"completedDateTime": {"new": "` + second + `.000000Z", "old": "` + first + `.000000Z"}}`,
	}
	if got := s.events(id)[1:]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("history\n got %q\nwant %q", got, want)
	}
}

// Rule 7: concurrent writers. Same If-Match: exactly one wins. Different properties: all survive.
func TestConcurrentPatches(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	const n = 16
	op := s.create(`{}`)
	id, first := op["id"].(string), op["@odata.etag"].(string)
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := s.do("PATCH", "/beta/tagOperations/"+id, fmt.Sprintf(`{"percentProgress": %d}`, i+1), "If-Match", first)
			statuses[i] = r.status
		}()
	}
	wg.Wait()
	count := map[int]int{}
	for _, st := range statuses {
		count[st]++
	}
	if count[200] != 1 || count[412] != n-1 {
		t.Fatalf("statuses %v, want one 200 and %d 412", count, n-1)
	}
	if got := len(s.events(id)); got != 2 {
		t.Errorf("%d events, want 2", got)
	}

	// Different properties at once: every one survives, each with exactly one event.
	id = s.create(`{}`)["id"].(string)
	patches := []string{`{"percentProgress": 40}`, `{"status": "running"}`, `{"action": "index"}`,
		`{"resultInfo": {"code": 7}}`, `{"resultInfo": {"message": "m"}}`, `{"createdBy": {"device": {"id": "d"}}}`,
		`{"resultInfo": {"subcode": 8}}`, `{"createdBy": {"application": {"id": "a"}}}`}
	for _, p := range patches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := s.do("PATCH", "/beta/tagOperations/"+id, p); r.status != 200 {
				t.Errorf("%s: %d %s", p, r.status, r.body)
			}
		}()
	}
	wg.Wait()
	r := s.do("GET", "/beta/tagOperations/"+id, "")
	assertEntity(t, r, 200, map[string]any{"id": id, "percentProgress": 40, "status": "running", "action": "index",
		"@odata.etag": etagVersion(len(patches) + 1),
		"resultInfo":  map[string]any{"code": 7, "message": "m", "subcode": 8},
		"createdBy": map[string]any{"user": devCreatedBy()["user"], "device": map[string]any{"id": "d", "displayName": nil},
			"application": map[string]any{"id": "a", "displayName": nil}}})
	if got := len(s.events(id)); got != len(patches)+1 {
		t.Errorf("%d events, want %d", got, len(patches)+1)
	}
}

var _ = http.StatusOK
