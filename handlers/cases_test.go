package handlers_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/caseops/caseops/handlers/auth"
)

// versions are the two roots the microsoft.graph.security paths are served under.
var versions = []string{"/v1.0", "/beta"}

const (
	caseNotFound      = "The eDiscovery case does not exist."
	operationNotFound = "The operation does not exist."
	securityTagType   = "#microsoft.graph.security.ediscoveryTagOperation"
)

// createCase POSTs a case under version and returns it, failing unless it is 201.
func (s *testServer) createCase(version, body string) map[string]any {
	s.t.Helper()
	r := s.do("POST", version+"/security/cases/ediscoveryCases", body)
	if r.status != http.StatusCreated {
		s.t.Fatalf("create case %s: %d %s", body, r.status, r.body)
	}
	return r.json(s.t)
}

// assertCase checks a whole ediscoveryCase answer: want lists what the test cares about, server-chosen values
// (id and the times) are checked for form and taken from the answer.
func assertCase(t *testing.T, r response, status int, context string, want map[string]any) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	got := r.json(t)
	full := map[string]any{
		"@odata.type": "#microsoft.graph.security.ediscoveryCase", "description": nil, "externalId": nil,
		"status": "active", "lastModifiedBy": devCreatedBy(), "closedBy": nil, "closedDateTime": nil,
	}
	if context != "" {
		full["@odata.context"] = context
	}
	for k, v := range want {
		full[k] = v
	}
	for _, k := range []string{"id", "createdDateTime", "lastModifiedDateTime", "closedDateTime"} {
		if _, given := want[k]; !given || k == "closedDateTime" && want[k] == anyTime {
			full[k] = got[k]
		}
	}
	if id, _ := got["id"].(string); !guidPattern.MatchString(id) {
		t.Errorf("id %q is not a lowercase GUID", got["id"])
	}
	for _, k := range []string{"createdDateTime", "lastModifiedDateTime"} {
		if s, _ := got[k].(string); !timePattern.MatchString(s) {
			t.Errorf("%s %q is not RFC 3339 UTC", k, got[k])
		}
	}
	if !reflect.DeepEqual(normalize(full), normalize(got)) {
		t.Errorf("case mismatch\n got: %s\nwant: %s", mustJSON(got), mustJSON(full))
	}
	return got
}

// anyTime in assertCase's want stands for a timestamp the server chose, which must be present.
const anyTime = "<any time>"

// assertCaseOperation checks a whole operation answer on a case's path: the security type and the case's context.
func assertCaseOperation(t *testing.T, r response, status int, context string, want map[string]any) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	got := r.json(t)
	full := map[string]any{
		"@odata.type": securityTagType, "completedDateTime": nil, "percentProgress": nil, "status": "notStarted",
		"action": "applyTags", "createdBy": devCreatedBy(), "resultInfo": nil,
		"id": got["id"], "createdDateTime": got["createdDateTime"], "@odata.etag": got["@odata.etag"],
	}
	if context != "" {
		full["@odata.context"] = context
	}
	for k, v := range want {
		full[k] = v
	}
	if etag := r.header.Get("ETag"); etag != got["@odata.etag"] {
		t.Errorf("ETag header %q differs from @odata.etag %q", etag, got["@odata.etag"])
	}
	if !reflect.DeepEqual(normalize(full), normalize(got)) {
		t.Errorf("operation mismatch\n got: %s\nwant: %s", mustJSON(got), mustJSON(full))
	}
	return got
}

func TestCases(t *testing.T) {
	t.Parallel()
	for _, version := range versions {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t)
			cases := version + "/security/cases/ediscoveryCases"
			context := s.url + version + "/$metadata#security/cases/ediscoveryCases"

			r := s.do("POST", cases, `{"@odata.type": "#microsoft.graph.security.ediscoveryCase", "displayName": "Contoso v. Fabrikam", "externalId": "CF-1"}`)
			k := assertCase(t, r, 201, context+"/$entity", map[string]any{"displayName": "Contoso v. Fabrikam", "externalId": "CF-1"})
			id := k["id"].(string)
			if loc := r.header.Get("Location"); loc != s.url+cases+"/"+id {
				t.Errorf("Location %q", loc)
			}
			assertCase(t, s.do("GET", cases+"/"+id, ""), 200, context+"/$entity", k)

			r = s.do("PATCH", cases+"/"+id, `{"description": "Patent dispute", "externalId": null}`)
			k = assertCase(t, r, 200, context+"/$entity", map[string]any{"id": id, "createdDateTime": k["createdDateTime"],
				"displayName": "Contoso v. Fabrikam", "description": "Patent dispute"})
			delete(k, "@odata.context")

			// The list is newest first and pages with @odata.nextLink.
			second := s.createCase(version, `{"displayName": "Second"}`)
			delete(second, "@odata.context")
			r = s.do("GET", cases+"?$top=1", "")
			page := r.json(t)
			next, _ := page["@odata.nextLink"].(string)
			if r.status != 200 || page["@odata.context"] != context || !strings.HasPrefix(next, s.url+cases+"?$top=1&$skiptoken=") ||
				!reflect.DeepEqual(normalize(page["value"]), normalize([]any{second})) {
				t.Fatalf("first page: %d %s", r.status, r.body)
			}
			r = s.do("GET", strings.TrimPrefix(next, s.url), "")
			page = r.json(t)
			if r.status != 200 || !reflect.DeepEqual(normalize(page["value"]), normalize([]any{k})) || page["@odata.nextLink"] != nil {
				t.Fatalf("second page: %d %s", r.status, r.body)
			}
			// Close, refuse a new operation, reopen, accept it.
			if r := s.do("POST", cases+"/"+id+"/close", ""); r.status != 204 || len(r.body) != 0 {
				t.Fatalf("close: %d %s", r.status, r.body)
			}
			closed := assertCase(t, s.do("GET", cases+"/"+id, ""), 200, context+"/$entity", map[string]any{"id": id,
				"createdDateTime": k["createdDateTime"], "displayName": "Contoso v. Fabrikam", "description": "Patent dispute",
				"status": "closed", "closedBy": devCreatedBy(), "closedDateTime": anyTime})
			if closed["closedDateTime"] == nil {
				t.Error("a closed case has no closedDateTime")
			}
			assertWholeError(t, s.do("POST", cases+"/"+id+"/operations", `{}`), 409, "conflict", "",
				"The eDiscovery case is closed and accepts no new operation; reopen it first.")
			if r := s.do("POST", cases+"/"+id+"/reopen", "{}"); r.status != 204 {
				t.Fatalf("reopen: %d %s", r.status, r.body)
			}
			assertCase(t, s.do("GET", cases+"/"+id, ""), 200, context+"/$entity", map[string]any{"id": id,
				"createdDateTime": k["createdDateTime"], "displayName": "Contoso v. Fabrikam", "description": "Patent dispute"})
			if r := s.do("POST", cases+"/"+id+"/operations", `{}`); r.status != 201 {
				t.Fatalf("POST into a reopened case: %d %s", r.status, r.body)
			}

			if r := s.do("DELETE", cases+"/"+second["id"].(string), ""); r.status != 204 {
				t.Fatalf("DELETE: %d %s", r.status, r.body)
			}
			assertWholeError(t, s.do("GET", cases+"/"+second["id"].(string), ""), 404, "notFound", "", caseNotFound)
		})
	}
}

func TestCaseBadInput(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	for _, version := range versions {
		cases := version + "/security/cases/ediscoveryCases"
		id := s.createCase(version, `{"displayName": "x"}`)["id"].(string)
		for _, c := range []struct {
			method, path, body string
			status             int
			code, target       string
			details            []string
		}{
			{"POST", cases, `{}`, 400, "badRequest", "displayName", []string{"displayName"}},
			{"POST", cases, `{"displayName": ""}`, 400, "badRequest", "displayName", []string{"displayName"}},
			{"POST", cases, `{"displayName": "` + strings.Repeat("é", 257) + `"}`, 400, "badRequest", "displayName", []string{"displayName"}},
			{"POST", cases, `{"displayName": "a", "status": "closed", "colour": 1}`, 400, "badRequest", "", []string{"status", "colour"}},
			{"POST", cases, `{"displayName": "a", "@odata.type": "#microsoft.graph.tagOperation"}`, 400, "badRequest", "@odata.type", []string{"@odata.type"}},
			{"POST", cases, `{"displayName": 7, "description": 1}`, 400, "badRequest", "", []string{"displayName", "description"}},
			{"POST", cases + "?$expand=operations", `{"displayName": "a"}`, 400, "badRequest", "$expand", nil},
			{"GET", cases + "?$filter=status%20eq%20'open'", ``, 400, "badRequest", "$filter", nil},
			{"GET", cases + "?$filter=percentProgress%20eq%201", ``, 400, "badRequest", "$filter", nil},
			{"GET", cases + "?$count=yes", ``, 400, "badRequest", "$count", nil},
			{"GET", cases + "?$orderby=displayName", ``, 400, "badRequest", "$orderby", nil},
			{"GET", cases + "?$top=0", ``, 400, "badRequest", "$top", nil},
			{"GET", cases + "?$skiptoken=bogus", ``, 400, "badRequest", "$skiptoken", nil},
			{"PATCH", cases + "/" + id, `{"displayName": null}`, 400, "badRequest", "displayName", []string{"displayName"}},
			{"PATCH", cases + "/" + id, `{"id": "` + id + `"}`, 400, "badRequest", "id", []string{"id"}},
			{"PATCH", cases + "/" + id, `[]`, 400, "badRequest", "", nil},
			{"GET", cases + "/not-a-guid", ``, 404, "notFound", "", nil},
			{"GET", cases + "/05de44a5-44a5-05de-a544-de05a544de05", ``, 404, "notFound", "", nil},
			{"PATCH", cases + "/05de44a5-44a5-05de-a544-de05a544de05", `{"displayName": "b"}`, 404, "notFound", "", nil},
			{"DELETE", cases + "/05de44a5-44a5-05de-a544-de05a544de05", ``, 404, "notFound", "", nil},
			{"POST", cases + "/05de44a5-44a5-05de-a544-de05a544de05/close", ``, 404, "notFound", "", nil},
			{"POST", cases + "/" + id + "/close", `{"comment": "x"}`, 400, "badRequest", "comment", nil},
		} {
			r := s.do(c.method, c.path, c.body)
			e := assertError(t, r, c.status, c.code, c.target, c.details...)
			if c.status == 404 && e["message"] != caseNotFound {
				t.Errorf("%s %s: message %q", c.method, c.path, e["message"])
			}
		}
	}
}

func TestCaseOperations(t *testing.T) {
	t.Parallel()
	for _, version := range versions {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t)
			caseID := s.createCase(version, `{"displayName": "Litigation"}`)["id"].(string)
			other := s.createCase(version, `{"displayName": "Other"}`)["id"].(string)
			ops := version + "/security/cases/ediscoveryCases/" + caseID + "/operations"
			context := s.url + version + "/$metadata#security/cases/ediscoveryCases('" + caseID + "')/operations"

			r := s.do("POST", ops, `{"@odata.type": "#microsoft.graph.security.ediscoveryTagOperation", "status": "running"}`)
			op := assertCaseOperation(t, r, 201, context+"/$entity", map[string]any{"status": "running"})
			id := op["id"].(string)
			if loc := r.header.Get("Location"); loc != s.url+ops+"/"+id {
				t.Errorf("Location %q", loc)
			}
			assertError(t, s.do("POST", ops, `{"@odata.type": "#microsoft.graph.tagOperation"}`), 400, "badRequest", "@odata.type", "@odata.type")
			assertCaseOperation(t, s.do("GET", ops+"/"+id, ""), 200, context+"/$entity", map[string]any{"status": "running"})

			// PATCH keeps every rule of the older route: If-Match, ETag, Prefer: return=minimal, history.
			assertError(t, s.do("PATCH", ops+"/"+id, `{"percentProgress": 5}`, "If-Match", `W/"9.abc"`), 412, "preconditionFailed", "")
			r = s.do("PATCH", ops+"/"+id, `{"percentProgress": 50}`, "If-Match", op["@odata.etag"].(string))
			op = assertCaseOperation(t, r, 200, context+"/$entity", map[string]any{"status": "running", "percentProgress": 50})
			r = s.do("PATCH", ops+"/"+id, `{"status": "succeeded"}`, "Prefer", "return=minimal")
			if r.status != 204 || r.header.Get("Preference-Applied") != "return=minimal" || r.header.Get("ETag") == op["@odata.etag"] {
				t.Fatalf("PATCH return=minimal: %d %v %s", r.status, r.header, r.body)
			}
			op = s.do("GET", ops+"/"+id, "").json(t)
			second := assertCaseOperation(t, s.do("POST", ops, `{}`), 201, context+"/$entity", nil)
			s.create(`{}`) // in the default case: not in this list

			// The list and $count see this case's operations only.
			r = s.do("GET", ops, "")
			delete(op, "@odata.context")
			delete(second, "@odata.context")
			want := map[string]any{"@odata.context": context, "value": []any{second, op}}
			if r.status != 200 || !reflect.DeepEqual(normalize(r.json(t)), normalize(want)) {
				t.Errorf("list: %d %s\nwant %s", r.status, r.body, mustJSON(want))
			}
			r = s.do("GET", ops+"?$top=1", "")
			next, _ := r.json(t)["@odata.nextLink"].(string)
			if !strings.HasPrefix(next, s.url+ops+"?$top=1&$skiptoken=") {
				t.Errorf("nextLink %q", next)
			}
			if r = s.do("GET", strings.TrimPrefix(next, s.url), ""); !reflect.DeepEqual(normalize(r.json(t)["value"]), normalize([]any{op})) {
				t.Errorf("second page: %s", r.body)
			}
			for query, count := range map[string]string{"": "2", "?$filter=status eq 'succeeded'": "1", "?$filter=status eq 'failed'": "0"} {
				r := s.do("GET", ops+"/$count"+strings.ReplaceAll(query, " ", "%20"), "")
				if r.status != 200 || string(r.body) != count || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
					t.Errorf("$count%s: %d %q %q, want %s", query, r.status, r.header.Get("Content-Type"), r.body, count)
				}
			}
			assertError(t, s.do("GET", ops+"/$count?$top=1", ""), 400, "badRequest", "$top")

			// The older routes see the operation, in their namespace, and list every case's operations.
			if r := s.do("GET", "/beta/tagOperations?$count=true&$top=1", ""); r.json(t)["@odata.count"] != json.Number("3") {
				t.Errorf("/beta/tagOperations counts %s, want the 3 operations of both cases", r.body)
			}
			assertEntity(t, s.do("GET", "/beta/tagOperations/"+id, ""), 200, map[string]any{"status": "succeeded",
				"percentProgress": 50, "completedDateTime": op["completedDateTime"], "@odata.etag": op["@odata.etag"]})

			// Another case, an unknown case and another tenant's case do not hold it.
			elsewhere := version + "/security/cases/ediscoveryCases/" + other + "/operations/" + id
			unknown := version + "/security/cases/ediscoveryCases/05de44a5-44a5-05de-a544-de05a544de05/operations"
			for _, c := range []struct{ method, path, body, message string }{
				{"GET", elsewhere, "", operationNotFound},
				{"PATCH", elsewhere, `{"percentProgress": 1}`, operationNotFound},
				{"DELETE", elsewhere, "", operationNotFound},
				{"GET", unknown + "/" + id, "", caseNotFound},
				{"PATCH", unknown + "/" + id, `{"percentProgress": 1}`, caseNotFound},
				{"DELETE", unknown + "/" + id, "", caseNotFound},
				{"GET", unknown, "", caseNotFound},
				{"GET", unknown + "/$count", "", caseNotFound},
				{"POST", unknown, `{}`, caseNotFound},
				{"GET", ops + "/not-a-guid", "", operationNotFound},
			} {
				assertWholeError(t, s.do(c.method, c.path, c.body), 404, "notFound", "", c.message)
			}
			s.token = mint(t, auth.MintOptions{Tenant: "other", Scopes: auth.PermissionReadWrite, UserID: "o", UserName: "Other"})
			for _, path := range []string{version + "/security/cases/ediscoveryCases/" + caseID, ops, ops + "/" + id} {
				assertWholeError(t, s.do("GET", path, ""), 404, "notFound", "", caseNotFound)
			}
			assertWholeError(t, s.do("POST", ops, `{}`), 404, "notFound", "", caseNotFound)
			theirs := version + "/security/cases/ediscoveryCases/" + caseID
			for _, c := range []struct{ method, path, body string }{
				{"PATCH", theirs, `{"displayName": "mine"}`}, {"DELETE", theirs, ""}, {"POST", theirs + "/close", ""},
				{"POST", theirs + "/reopen", ""}, {"PATCH", ops + "/" + id, `{"percentProgress": 1}`}, {"DELETE", ops + "/" + id, ""},
			} {
				assertWholeError(t, s.do(c.method, c.path, c.body), 404, "notFound", "", caseNotFound)
			}
			if r := s.do("GET", version+"/security/cases/ediscoveryCases", ""); !reflect.DeepEqual(r.json(t)["value"], []any{}) {
				t.Errorf("another tenant lists %s", r.body)
			}
			s.token = devToken(t)

			if r := s.do("DELETE", ops+"/"+id, ""); r.status != 204 {
				t.Fatalf("DELETE: %d %s", r.status, r.body)
			}
			assertWholeError(t, s.do("GET", ops+"/"+id, ""), 404, "notFound", "", operationNotFound)
			if n := len(s.events(id)); n != 4 { // created, two changes, deleted
				t.Errorf("%d history events, want 4", n)
			}
		})
	}
}

// A case with an unfinished operation cannot be deleted; once it finished, the case goes with its operations,
// whose deletions the history records.
func TestCaseDeleteWaitsForOperations(t *testing.T) {
	t.Parallel()
	for _, version := range versions {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t)
			c := version + "/security/cases/ediscoveryCases/" + s.createCase(version, `{"displayName": "Busy"}`)["id"].(string)
			r := s.do("POST", c+"/operations", `{"status": "running"}`)
			id := r.json(t)["id"].(string)
			assertWholeError(t, s.do("DELETE", c, ""), 409, "conflict", "", "The eDiscovery case holds an operation that has not "+
				"finished; it can be deleted once every operation in it has a terminal status.")
			if r := s.do("PATCH", c+"/operations/"+id, `{"status": "succeeded"}`); r.status != 200 {
				t.Fatalf("PATCH: %d %s", r.status, r.body)
			}
			if r := s.do("DELETE", c, ""); r.status != 204 {
				t.Fatalf("DELETE: %d %s", r.status, r.body)
			}
			assertWholeError(t, s.do("GET", "/beta/tagOperations/"+id, ""), 404, "notFound", "", operationNotFound)
			events := s.events(id)
			if len(events) != 3 || !strings.HasPrefix(events[2], "deleted ") {
				t.Errorf("history %q, want created, updated, deleted", events)
			}
			if got := s.row(id); got != "none" {
				t.Errorf("row left behind: %s", got)
			}
		})
	}
}

// Every security path answers OPTIONS with the methods it serves, HEAD as GET, and any other method 405.
func TestCaseRoutesAllowOnlyMethodsThatWork(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	for _, version := range versions {
		base := version + "/security/cases/ediscoveryCases"
		id := s.createCase(version, `{"displayName": "x"}`)["id"].(string)
		op := "05de44a5-44a5-05de-a544-de05a544de05"
		for _, c := range []struct{ path, pattern, allow string }{
			{base, base, "GET, HEAD, OPTIONS, POST"},
			{base + "/" + id, base + "/{caseId}", "DELETE, GET, HEAD, OPTIONS, PATCH"},
			{base + "/" + id + "/close", base + "/{caseId}/close", "OPTIONS, POST"},
			{base + "/" + id + "/reopen", base + "/{caseId}/reopen", "OPTIONS, POST"},
			{base + "/" + id + "/operations", base + "/{caseId}/operations", "GET, HEAD, OPTIONS, POST"},
			{base + "/" + id + "/operations/$count", base + "/{caseId}/operations/$count", "GET, HEAD, OPTIONS"},
			{base + "/" + id + "/operations/" + op, base + "/{caseId}/operations/{id}", "DELETE, GET, HEAD, OPTIONS, PATCH"},
		} {
			r := s.do("OPTIONS", c.path, "")
			if r.status != http.StatusNoContent || r.header.Get("Allow") != c.allow {
				t.Errorf("OPTIONS %s: %d, Allow %q, want 204 and %q", c.path, r.status, r.header.Get("Allow"), c.allow)
			}
			if strings.Contains(c.allow, "GET") {
				get, head := s.do("GET", c.path, ""), s.do("HEAD", c.path, "")
				if head.status != get.status || len(head.body) != 0 || head.header.Get("Content-Type") != get.header.Get("Content-Type") {
					t.Errorf("HEAD %s: %d %q with %d bytes; GET answers %d %q", c.path, head.status,
						head.header.Get("Content-Type"), len(head.body), get.status, get.header.Get("Content-Type"))
				}
			}
			for _, method := range []string{"PUT", "TRACE", "FROBNICATE", "GET", "POST", "PATCH", "DELETE"} {
				if strings.Contains(c.allow, method) {
					continue
				}
				body := ""
				if method != "GET" && method != "DELETE" && method != "TRACE" {
					body = `{}`
				}
				assertWholeError(t, s.do(method, c.path, body), 405, "methodNotAllowed", "",
					method+" is not allowed on "+c.pattern+", which takes "+c.allow+".")
			}
		}
	}
}
