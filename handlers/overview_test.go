package handlers_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/caseops/caseops/handlers/auth"
)

// assertOverview GETs an overview and checks the whole answer: statuses and failures exactly as wanted, and
// statusChanges covering the 60 minutes up to the request's, all of them zero but the last two (the writes of a
// test fit in them), their sum changes.
func assertOverview(t *testing.T, s *testServer, path string, statuses map[string]any, changes int64, failures []any, headers ...string) {
	t.Helper()
	before := time.Now().UTC().Truncate(time.Minute)
	r := s.do("GET", path, "", headers...)
	after := time.Now().UTC().Truncate(time.Minute)
	if r.status != 200 {
		t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	got := r.json(t)
	sc, _ := got["statusChanges"].(map[string]any)
	since, err := time.Parse(time.RFC3339, stringOf(sc["since"]))
	if err != nil || !since.Equal(before.Add(-59*time.Minute)) && !since.Equal(after.Add(-59*time.Minute)) {
		t.Errorf("statusChanges.since %v, want the start of the minute 59 minutes before %v", sc["since"], before)
	}
	perMinute, _ := sc["perMinute"].([]any)
	var sum int64
	for i, n := range perMinute {
		v, _ := n.(json.Number).Int64()
		sum += v
		if v != 0 && i < len(perMinute)-2 {
			t.Errorf("perMinute[%d] = %d, minutes before this test's", i, v)
		}
	}
	if len(perMinute) != 60 || sum != changes {
		t.Errorf("perMinute %v: %d entries summing to %d, want 60 summing to %d", perMinute, len(perMinute), sum, changes)
	}
	want := map[string]any{"statuses": statuses, "failures": failures,
		"statusChanges": map[string]any{"since": sc["since"], "perMinute": sc["perMinute"]}}
	if failures == nil {
		want["failures"] = []any{}
	}
	if !reflect.DeepEqual(normalize(got), normalize(want)) {
		t.Errorf("overview mismatch\n got: %s\nwant: %s", mustJSON(got), mustJSON(want))
	}
}

func stringOf(v any) string { s, _ := v.(string); return s }

func failure(code any, count int) map[string]any { return map[string]any{"code": code, "count": count} }

// The tenant's overview counts every operation it has now, in any case, each status change of the last hour
// (a creation is one, a change of progress none), and its failures by code, the most common first and no code
// last; another tenant's operations never count.
func TestOverview(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	const overview = "/beta/tagOperations/overview"
	assertOverview(t, s, overview, map[string]any{}, 0, nil)

	s.write(t, "POST", "/beta/tagOperations", `{}`, 201) // 1 change
	running, _ := s.write(t, "POST", "/beta/tagOperations", `{"status": "running"}`, 201)
	path := "/beta/tagOperations/" + running["id"].(string)
	s.write(t, "PATCH", path, `{"percentProgress": 30}`, 200) // no status change
	s.write(t, "PATCH", path, `{"status": "running"}`, 200)   // no change at all
	s.write(t, "PATCH", path, `{"status": "succeeded"}`, 200) // 2 changes so far
	for _, body := range []string{                            // 5 changes
		`{"status": "failed", "resultInfo": {"code": 500}}`,
		`{"status": "failed", "resultInfo": {"code": 503}}`,
		`{"status": "failed", "resultInfo": {"code": 500, "message": "again"}}`,
		`{"status": "submissionFailed", "resultInfo": {"code": 400}}`,
		`{"status": "failed", "resultInfo": {"message": "no code"}}`,
	} {
		s.write(t, "POST", "/beta/tagOperations", body, 201)
	}
	gone, _ := s.write(t, "POST", "/beta/tagOperations", `{"status": "running"}`, 201) // 1 change; its delete none
	s.write(t, "DELETE", "/beta/tagOperations/"+gone["id"].(string), "", 204)
	caseID := s.createCase("/v1.0", `{"displayName": "Counted too"}`)["id"].(string)
	s.write(t, "POST", "/v1.0/security/cases/ediscoveryCases/"+caseID+"/operations", `{"status": "running"}`, 201) // 1 change

	other := mint(t, auth.MintOptions{Tenant: "other", Scopes: auth.PermissionReadWrite, UserID: "o", UserName: "Other"})
	for _, body := range []string{`{"status": "failed", "resultInfo": {"code": 400}}`, `{"status": "running"}`} {
		if r := s.do("POST", "/beta/tagOperations", body, "Authorization", "Bearer "+other); r.status != 201 {
			t.Fatalf("other tenant's POST: %d %s", r.status, r.body)
		}
	}

	statuses := map[string]any{"notStarted": 1, "running": 1, "succeeded": 1, "failed": 4, "submissionFailed": 1}
	failures := []any{failure(500, 2), failure(400, 1), failure(503, 1), failure(nil, 1)}
	assertOverview(t, s, overview, statuses, 10, failures)
	reader := mint(t, auth.MintOptions{Tenant: "dev", Scopes: auth.PermissionRead, UserID: "r", UserName: "Reader"})
	assertOverview(t, s, overview, statuses, 10, failures, "Authorization", "Bearer "+reader)
	assertOverview(t, s, overview, map[string]any{"running": 1, "failed": 1}, 2, []any{failure(400, 1)}, "Authorization", "Bearer "+other)

	const noOptions = "is not supported on this request, which takes no query options."
	for query, target := range map[string]string{"$top=1": "$top", "since=2026-01-01": "since", "$filter=status%20eq%20'failed'": "$filter"} {
		assertWholeError(t, s.do("GET", overview+"?"+query, ""), 400, "badRequest", target, "The query option '"+target+"' "+noOptions)
	}
	assertError(t, s.do("GET", overview, "", "Authorization", ""), 401, "unauthorized", "")
}

// A case's overview counts its own operations only; an unknown case, or another tenant's, is 404.
func TestOverviewOfCase(t *testing.T) {
	t.Parallel()
	for _, version := range versions {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t)
			cases := version + "/security/cases/ediscoveryCases/"
			mine := s.createCase(version, `{"displayName": "Mine"}`)["id"].(string)
			theirs := s.createCase(version, `{"displayName": "Theirs"}`)["id"].(string)
			empty := s.createCase(version, `{"displayName": "Empty"}`)["id"].(string)

			op, _ := s.write(t, "POST", cases+mine+"/operations", `{"status": "running"}`, 201)
			s.write(t, "PATCH", cases+mine+"/operations/"+op["id"].(string), `{"percentProgress": 60}`, 200)
			s.write(t, "POST", cases+mine+"/operations", `{"status": "failed", "resultInfo": {"code": 7}}`, 201)
			s.write(t, "POST", cases+theirs+"/operations", `{"status": "failed", "resultInfo": {"code": 8}}`, 201)
			s.write(t, "POST", cases+theirs+"/operations", `{}`, 201)
			s.write(t, "POST", "/beta/tagOperations", `{"status": "succeeded"}`, 201) // the default case

			assertOverview(t, s, cases+mine+"/operations/overview", map[string]any{"running": 1, "failed": 1}, 2, []any{failure(7, 1)})
			assertOverview(t, s, cases+theirs+"/operations/overview", map[string]any{"failed": 1, "notStarted": 1}, 2, []any{failure(8, 1)})
			assertOverview(t, s, cases+empty+"/operations/overview", map[string]any{}, 0, nil)
			assertOverview(t, s, "/beta/tagOperations/overview",
				map[string]any{"running": 1, "failed": 2, "notStarted": 1, "succeeded": 1}, 5, []any{failure(7, 1), failure(8, 1)})

			other := mint(t, auth.MintOptions{Tenant: "other", Scopes: auth.PermissionReadWrite, UserID: "o", UserName: "Other"})
			for _, c := range []struct{ path, auth string }{
				{cases + "05de44a5-44a5-05de-a544-de05a544de05/operations/overview", ""},
				{cases + "not-a-case/operations/overview", ""},
				{cases + mine + "/operations/overview", "Bearer " + other},
			} {
				headers := []string{}
				if c.auth != "" {
					headers = []string{"Authorization", c.auth}
				}
				assertWholeError(t, s.do("GET", c.path, "", headers...), 404, "notFound", "", caseNotFound)
			}
			assertWholeError(t, s.do("GET", cases+mine+"/operations/overview?$top=1", ""), 400, "badRequest", "$top",
				"The query option '$top' is not supported on this request, which takes no query options.")
		})
	}
}
