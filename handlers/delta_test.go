package handlers_test

import (
	"context"
	"encoding/json"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/caseops/caseops/handlers/auth"
)

// delta follows a delta URL (absolute, or a path) through every page of its round and checks each whole
// page: exactly @odata.context and value, then @odata.nextLink on every page but the last, which has
// @odata.deltaLink. It returns every value of the round and the deltaLink.
func (s *testServer) delta(t *testing.T, link string, headers ...string) ([]any, string) {
	t.Helper()
	return s.deltaOf(t, "/beta/tagOperations", s.url+"/beta/$metadata#tagOperations", link, headers...)
}

// deltaOf is delta for the operations collection at the path collection, whose @odata.context is context.
func (s *testServer) deltaOf(t *testing.T, collection, context, link string, headers ...string) ([]any, string) {
	t.Helper()
	var values []any
	for pages := 1; ; pages++ {
		r := s.do("GET", strings.TrimPrefix(link, s.url), "", headers...)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", link, r.status, r.body)
		}
		body := r.json(t)
		if body["@odata.context"] != context {
			t.Errorf("@odata.context %v", body["@odata.context"])
		}
		values = append(values, body["value"].([]any)...)
		next, hasNext := body["@odata.nextLink"].(string)
		deltaLink, hasDelta := body["@odata.deltaLink"].(string)
		if len(body) != 3 || hasNext == hasDelta {
			t.Fatalf("a delta page has @odata.context, value and one of @odata.nextLink or @odata.deltaLink: %s", r.body)
		}
		if hasDelta {
			if !strings.HasPrefix(deltaLink, s.url+collection+"/delta?$deltatoken=") {
				t.Errorf("deltaLink %q", deltaLink)
			}
			return values, deltaLink
		}
		if !strings.HasPrefix(next, s.url+collection+"/delta?$skiptoken=") {
			t.Errorf("nextLink %q", next)
		}
		if pages > 100 {
			t.Fatal("more than 100 pages")
		}
		link = next
	}
}

// entity returns what GET answers for id, as a delta or list value shows it (without @odata.context).
func (s *testServer) entity(t *testing.T, id string) map[string]any {
	t.Helper()
	return s.entityOf(t, "/beta/tagOperations", id)
}

// entityOf is entity for the operations collection at the path collection.
func (s *testServer) entityOf(t *testing.T, collection, id string, headers ...string) map[string]any {
	t.Helper()
	r := s.do("GET", collection+"/"+id, "", headers...)
	if r.status != 200 {
		t.Fatalf("GET %s: %d %s", id, r.status, r.body)
	}
	e := r.json(t)
	delete(e, "@odata.context")
	return e
}

func removed(id string) map[string]any {
	return map[string]any{"id": id, "@removed": map[string]any{"reason": "deleted"}}
}

// byID sorts delta values by id, as the service pages them.
func byID(values ...map[string]any) []any {
	out := make([]any, len(values))
	for i, v := range values {
		out[i] = v
	}
	slices.SortFunc(out, func(a, b any) int {
		return strings.Compare(a.(map[string]any)["id"].(string), b.(map[string]any)["id"].(string))
	})
	return out
}

func assertValues(t *testing.T, what string, got, want []any) {
	t.Helper()
	if want == nil {
		want = []any{}
	}
	if got == nil {
		got = []any{}
	}
	if !reflect.DeepEqual(normalize(got), normalize(want)) {
		t.Errorf("%s:\n got %s\nwant %s", what, mustJSON(got), mustJSON(want))
	}
}

// Create, change and delete, then the delta link returns exactly those changes, each operation once.
func TestDeltaRoundTrip(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	other := *s
	other.token = mint(t, auth.MintOptions{Tenant: "other", Scopes: auth.PermissionReadWrite, UserID: "o"})

	a := s.create(`{"status": "running", "percentProgress": 0}`)["id"].(string)
	b := s.create(`{}`)["id"].(string)
	c := s.create(`{"action": "index"}`)["id"].(string)
	other.create(`{}`)

	// The first round is every current operation of the tenant.
	values, link := s.delta(t, "/beta/tagOperations/delta")
	assertValues(t, "first round", values, byID(s.entity(t, a), s.entity(t, b), s.entity(t, c)))
	values, link = s.delta(t, link)
	assertValues(t, "nothing changed", values, nil)

	// Change a twice, delete b, create d, create and delete e; c and the other tenant's changes stay out.
	for _, progress := range []string{"10", "20"} {
		if r := s.do("PATCH", "/beta/tagOperations/"+a, `{"percentProgress": `+progress+`}`); r.status != 200 {
			t.Fatalf("PATCH: %d %s", r.status, r.body)
		}
	}
	for _, id := range []string{b} {
		if r := s.do("DELETE", "/beta/tagOperations/"+id, ""); r.status != 204 {
			t.Fatalf("DELETE: %d %s", r.status, r.body)
		}
	}
	d := s.create(`{"percentProgress": 5}`)["id"].(string)
	e := s.create(`{}`)["id"].(string)
	if r := s.do("DELETE", "/beta/tagOperations/"+e, ""); r.status != 204 {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	other.create(`{}`)

	values, link = s.delta(t, link)
	assertValues(t, "the changes", values, byID(s.entity(t, a), removed(b), s.entity(t, d), removed(e)))
	if got := s.entity(t, a); got["percentProgress"] != json.Number("20") || got["@odata.etag"] != etagOf(t, got["createdDateTime"].(string), 3) {
		t.Errorf("a is %v", got)
	}
	values, link = s.delta(t, link)
	assertValues(t, "after the changes", values, nil)

	// A link can be followed again: it still returns what changed since it was made.
	if r := s.do("PATCH", "/beta/tagOperations/"+c, `{"status": "running"}`); r.status != 200 {
		t.Fatalf("PATCH: %d %s", r.status, r.body)
	}
	values, _ = s.delta(t, link)
	assertValues(t, "c changed", values, byID(s.entity(t, c)))
	values, _ = s.delta(t, link)
	assertValues(t, "the same link again", values, byID(s.entity(t, c)))

	// delta() is the same function.
	values, _ = s.delta(t, "/beta/tagOperations/delta()")
	assertValues(t, "delta()", values, byID(s.entity(t, a), s.entity(t, c), s.entity(t, d)))
}

// Rounds are paged with Prefer: odata.maxpagesize; every page but the last has an @odata.nextLink.
func TestDeltaPaging(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	var all []map[string]any
	for range 7 {
		all = append(all, s.create(`{}`))
	}
	r := s.do("GET", "/beta/tagOperations/delta", "", "Prefer", "odata.maxpagesize=3")
	if r.header.Get("Preference-Applied") != "odata.maxpagesize=3" || len(r.json(t)["value"].([]any)) != 3 {
		t.Fatalf("first page: %v %s", r.header, r.body)
	}
	var want []map[string]any
	for _, op := range all {
		want = append(want, s.entity(t, op["id"].(string)))
	}
	values, link := s.delta(t, "/beta/tagOperations/delta", "Prefer", "odata.maxpagesize=3")
	assertValues(t, "first round in pages", values, byID(want...))

	// Changes made while a round is paged through are reported once, by this round or the next.
	var changed []map[string]any
	for _, op := range all[:5] {
		id := op["id"].(string)
		if r := s.do("PATCH", "/beta/tagOperations/"+id, `{"percentProgress": 1}`); r.status != 200 {
			t.Fatal(r.status)
		}
		changed = append(changed, s.entity(t, id))
	}
	r = s.do("GET", strings.TrimPrefix(link, s.url), "", "Prefer", "odata.maxpagesize=2")
	page := r.json(t)
	if n := len(page["value"].([]any)); n != 2 {
		t.Fatalf("page of %d", n)
	}
	late := s.create(`{}`)
	rest, next := s.delta(t, page["@odata.nextLink"].(string), "Prefer", "odata.maxpagesize=2")
	assertValues(t, "changes in pages", append(page["value"].([]any), rest...), byID(changed...))
	values, _ = s.delta(t, next)
	assertValues(t, "created while paging", values, byID(s.entity(t, late["id"].(string))))
}

// A transaction that took a seq before another committed, and commits after a delta read saw the other,
// is still reported by the next delta read: rounds resume from snapshots, never from a seq.
func TestDeltaLateCommit(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	ctx := context.Background()
	x := s.create(`{"status": "running", "percentProgress": 0}`)["id"].(string)
	_, link := s.delta(t, "/beta/tagOperations/delta")

	// A writer changes x and takes its seq, and does not commit yet.
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `UPDATE case_operations SET percent_progress = 77 WHERE tenant_id = 'dev' AND id = $1`, x); err != nil {
		t.Fatal(err)
	}
	var lateSeq int64 // of the event the database recorded for that direct update
	if err := tx.QueryRow(ctx, `SELECT max(seq) FROM case_operation_events WHERE operation_id = $1`, x).Scan(&lateSeq); err != nil {
		t.Fatal(err)
	}

	// Meanwhile y is created and committed, with a higher seq, and a delta read sees it.
	y := s.create(`{}`)["id"].(string)
	var ySeq int64
	if err := s.pool.QueryRow(ctx, `SELECT max(seq) FROM case_operation_events WHERE operation_id = $1`, y).Scan(&ySeq); err != nil || ySeq <= lateSeq {
		t.Fatalf("y's seq %d is not after the open transaction's %d (%v)", ySeq, lateSeq, err)
	}
	values, link := s.delta(t, link)
	assertValues(t, "before the late commit", values, byID(s.entity(t, y)))

	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	values, link = s.delta(t, link)
	late := s.entity(t, x)
	if late["percentProgress"] != json.Number("77") {
		t.Fatalf("x is %v", late)
	}
	assertValues(t, "after the late commit", values, byID(late))
	values, _ = s.delta(t, link)
	assertValues(t, "after that", values, nil)
}

func TestDeltaRefusesForeignTokensAndOptions(t *testing.T) {
	t.Parallel()
	s := newFixtureServer(t)
	_, link := s.delta(t, "/beta/tagOperations/delta")
	deltaToken := link[strings.Index(link, "$deltatoken=")+len("$deltatoken="):]
	_, list := s.list(t, "$top=1")
	next := list["@odata.nextLink"].(string)
	listToken := next[strings.Index(next, "$skiptoken=")+len("$skiptoken="):]
	r := s.do("GET", "/beta/tagOperations/delta", "", "Prefer", "odata.maxpagesize=1")
	deltaNext := r.json(t)["@odata.nextLink"].(string)
	skipToken := deltaNext[strings.Index(deltaNext, "$skiptoken=")+len("$skiptoken="):]

	for _, c := range []struct{ path, target string }{
		{"/beta/tagOperations/delta?$deltatoken=abc", "$deltatoken"},
		{"/beta/tagOperations/delta?$deltatoken=", "$deltatoken"},
		{"/beta/tagOperations/delta?$deltatoken=" + skipToken, "$deltatoken"},
		{"/beta/tagOperations/delta?$skiptoken=" + deltaToken, "$skiptoken"},
		{"/beta/tagOperations/delta?$skiptoken=" + listToken, "$skiptoken"},
		{"/beta/tagOperations?$skiptoken=" + skipToken, "$skiptoken"},
		{"/beta/tagOperations?$skiptoken=" + deltaToken, "$skiptoken"},
		{"/beta/tagOperations/delta?$deltatoken=" + base64Encode([]byte(`{"v":1,"k":"delta","s":"9:3:"}`)), "$deltatoken"},
		{"/beta/tagOperations/delta?$deltatoken=" + base64Encode([]byte(`{"v":1,"k":"delta","s":"3:9:5,4"}`)), "$deltatoken"},
		{"/beta/tagOperations/delta?$deltatoken=" + base64Encode([]byte(`{"v":1,"k":"delta","s":"3:9:1"}`)), "$deltatoken"},
		{"/beta/tagOperations/delta?$deltatoken=" + base64Encode([]byte(`{"v":1,"k":"delta","s":"3:9:x'; drop table case_operations"}`)), "$deltatoken"},
		// The first id of an epoch is no transaction: Postgres refuses such a snapshot.
		{"/beta/tagOperations/delta?$deltatoken=" + base64Encode([]byte(`{"v":1,"k":"delta","s":"4294967296:4294967296:"}`)), "$deltatoken"},
		// Snapshots newer than the database were never issued, and would skip every change until it caught up.
		{"/beta/tagOperations/delta?$deltatoken=" + base64Encode([]byte(`{"v":1,"k":"delta","s":"100000000:100000000:"}`)), "$deltatoken"},
		{"/beta/tagOperations/delta?$skiptoken=" + base64Encode([]byte(`{"v":1,"k":"skip","u":"100000000:100000000:","a":"`+opID(1)+`"}`)), "$skiptoken"},
		{"/beta/tagOperations/delta?$deltatoken=" + deltaToken + "&$deltatoken=" + deltaToken, "$deltatoken"},
		{"/beta/tagOperations/delta?$deltatoken=" + deltaToken + "&$skiptoken=" + skipToken, ""},
		{"/beta/tagOperations/delta?$top=1", "$top"},
		{"/beta/tagOperations/delta?$filter=status%20eq%20%27running%27", "$filter"},
		{"/beta/tagOperations/delta?$select=id", "$select"},
	} {
		r := s.do("GET", c.path, "")
		if r.status != 400 {
			t.Errorf("%s: %d %s", c.path, r.status, r.body)
			continue
		}
		target := c.target
		if target == "" {
			target = r.json(t)["error"].(map[string]any)["target"].(string)
		}
		assertError(t, r, 400, "badRequest", target)
	}
	if n := s.count("SELECT count(*) FROM case_operations"); n != 11 {
		t.Errorf("%d rows", n)
	}
	// delta needs read permission like any read, and is not an operation id.
	reader := *s
	reader.token = mint(t, auth.MintOptions{Tenant: "dev", Scopes: "User.Read", UserID: "u"})
	assertError(t, reader.do("GET", "/beta/tagOperations/delta", ""), 403, "forbidden", "")
	for _, method := range []string{"PATCH", "DELETE"} {
		r := s.do(method, "/beta/tagOperations/delta", `{}`)
		if r.status != 404 && r.status != 405 {
			t.Errorf("%s delta: %d %s", method, r.status, r.body)
		}
	}
}

// A sync job sees what an analyst changed straight in SQL too: the database records those writes in the
// history that delta rounds read.
func TestDeltaSeesDirectSQLWrites(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	ctx := context.Background()
	a := s.create(`{"percentProgress": 1}`)["id"].(string)
	gone := s.create(`{}`)["id"].(string)
	_, link := s.delta(t, "/beta/tagOperations/delta")

	added := "0f8fad5b-d9cb-469f-a165-70867728950e"
	for _, sql := range []string{
		`UPDATE case_operations SET percent_progress = 50 WHERE tenant_id = 'dev' AND id = '` + a + `'`,
		`INSERT INTO case_operations (tenant_id, id, status) VALUES ('dev', '` + added + `', 'running')`,
		`DELETE FROM case_operations WHERE tenant_id = 'dev' AND id = '` + gone + `'`,
	} {
		if _, err := s.pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	values, link := s.delta(t, link)
	assertValues(t, "after the direct writes", values, byID(s.entity(t, a), s.entity(t, added), removed(gone)))
	if got := s.entity(t, a); got["percentProgress"] != json.Number("50") {
		t.Errorf("a is %v", got)
	}
	values, _ = s.delta(t, link)
	assertValues(t, "after that", values, nil)
}

// Under a case, delta reports the case's operations only: those of another case, of the default case behind
// the older routes and of another tenant never appear; an operation deleted with its case is reported removed
// before the case's path answers 404.
func TestCaseDelta(t *testing.T) {
	t.Parallel()
	for _, version := range versions {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t)
			other := *s
			other.token = mint(t, auth.MintOptions{Tenant: "other", Scopes: auth.PermissionReadWrite, UserID: "o"})
			ctx := context.Background()
			cases := version + "/security/cases/ediscoveryCases/"
			caseA, caseB := s.createCase(version, `{"displayName": "A"}`)["id"].(string), s.createCase(version, `{"displayName": "B"}`)["id"].(string)
			opsA, opsB := cases+caseA+"/operations", cases+caseB+"/operations"
			contextA := s.url + version + "/$metadata#security/cases/ediscoveryCases('" + caseA + "')/operations"
			contextB := s.url + version + "/$metadata#security/cases/ediscoveryCases('" + caseB + "')/operations"
			create := func(ts *testServer, ops, body string) string {
				t.Helper()
				r := ts.do("POST", ops, body)
				if r.status != 201 {
					t.Fatalf("POST %s: %d %s", ops, r.status, r.body)
				}
				return r.json(t)["id"].(string)
			}
			patch := func(path, body string) {
				t.Helper()
				if r := s.do("PATCH", path, body); r.status != 200 {
					t.Fatalf("PATCH %s: %d %s", path, r.status, r.body)
				}
			}
			a1 := create(s, opsA, `{"@odata.type": "#microsoft.graph.security.ediscoveryEstimateOperation", "status": "running", "indexedItemCount": 4}`)
			a2 := create(s, opsA, `{"action": "purgeData"}`)
			b1 := create(s, opsB, `{"status": "running"}`)
			legacy := s.create(`{"status": "running"}`)["id"].(string)
			otherCase := other.createCase(version, `{"displayName": "Theirs"}`)["id"].(string)
			create(&other, cases+otherCase+"/operations", `{}`)
			const prefer = "include-unknown-enum-members"

			// The first round is every operation of the case, as GET under the case answers it.
			values, linkA := s.deltaOf(t, opsA, contextA, opsA+"/delta")
			assertValues(t, "first round of A", values, byID(s.entityOf(t, opsA, a1), s.entityOf(t, opsA, a2)))
			if values[0].(map[string]any)["id"] == a2 || values[1].(map[string]any)["id"] == a2 {
				if got := s.entityOf(t, opsA, a2)["action"]; got != "unknownFutureValue" {
					t.Errorf("purgeData without the preference reads %v", got)
				}
			}
			values, _ = s.deltaOf(t, opsA, contextA, opsA+"/delta()", "Prefer", prefer)
			assertValues(t, "first round of A with Prefer", values, byID(s.entityOf(t, opsA, a1, "Prefer", prefer), s.entityOf(t, opsA, a2, "Prefer", prefer)))
			_, linkB := s.deltaOf(t, opsB, contextB, opsB+"/delta", "Prefer", "odata.maxpagesize=1")

			// Changes everywhere; A's round reports A's alone, each once, a direct SQL write among them.
			patch(opsA+"/"+a1, `{"percentProgress": 10}`)
			patch(opsA+"/"+a1, `{"percentProgress": 20}`)
			patch(opsB+"/"+b1, `{"percentProgress": 30}`)
			patch("/beta/tagOperations/"+legacy, `{"percentProgress": 40}`)
			a3 := create(s, opsA, `{}`)
			create(&other, cases+otherCase+"/operations", `{}`)
			if r := s.do("DELETE", opsA+"/"+a2, ""); r.status != 204 {
				t.Fatalf("DELETE: %d %s", r.status, r.body)
			}
			if _, err := s.pool.Exec(ctx, `UPDATE case_operations SET status = 'succeeded', percent_progress = 100, completed_date_time = now()
				WHERE tenant_id = 'dev' AND id = $1`, b1); err != nil {
				t.Fatal(err)
			}
			values, linkA = s.deltaOf(t, opsA, contextA, linkA)
			assertValues(t, "A's changes", values, byID(s.entityOf(t, opsA, a1), s.entityOf(t, opsA, a3), removed(a2)))
			values, linkA = s.deltaOf(t, opsA, contextA, linkA)
			assertValues(t, "A after that", values, nil)
			values, linkB = s.deltaOf(t, opsB, contextB, linkB, "Prefer", "odata.maxpagesize=1")
			assertValues(t, "B's changes", values, byID(s.entityOf(t, opsB, b1)))

			// Deleting B deletes its operation; B's next round says so, and then B is gone.
			if r := s.do("DELETE", cases+caseB, ""); r.status != 204 {
				t.Fatalf("DELETE case B: %d %s", r.status, r.body)
			}
			values, linkB = s.deltaOf(t, opsB, contextB, linkB)
			assertValues(t, "B deleted", values, byID(removed(b1)))
			assertError(t, s.do("GET", strings.TrimPrefix(linkB, s.url), ""), 404, "notFound", "")
			values, _ = s.deltaOf(t, opsA, contextA, linkA)
			assertValues(t, "A after B's deletion", values, nil)

			// An unknown case, another tenant's, or no GUID at all is 404; the older delta still sees the default case.
			for _, path := range []string{cases + "4f5b3a0e-2c1d-4e8f-9a7b-6c5d4e3f2a1b/operations/delta", cases + otherCase + "/operations/delta",
				cases + "nope/operations/delta()"} {
				assertError(t, s.do("GET", path, ""), 404, "notFound", "")
			}
			values, _ = s.delta(t, "/beta/tagOperations/delta")
			ids := map[string]bool{}
			for _, v := range values {
				ids[v.(map[string]any)["id"].(string)] = true
			}
			if len(ids) != 3 || !ids[legacy] || !ids[a1] || !ids[a3] {
				t.Errorf("the tenant's delta lists %v, want %s, %s and %s", ids, legacy, a1, a3)
			}
			assertError(t, s.do("GET", opsA+"/delta?$filter="+url.QueryEscape("status eq 'running'"), ""), 400, "badRequest", "$filter")
		})
	}
}
