package handlers_test

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caseops/caseops/handlers/auth"
)

// operationsAt is where a test reaches operations: the older /beta/tagOperations, or a case's operations
// under a version of the security paths (the case created here).
type operationsAt struct {
	name       string
	collection string
	caseID     string // "" on the older routes
}

// historySurfaces creates a case under each version on s and returns the three surfaces that serve history.
func historySurfaces(s *testServer) []operationsAt {
	out := []operationsAt{{name: "tagOperations", collection: "/beta/tagOperations"}}
	for _, version := range versions {
		caseID := s.createCase(version, `{"displayName": "History"}`)["id"].(string)
		out = append(out, operationsAt{name: version, caseID: caseID,
			collection: version + "/security/cases/ediscoveryCases/" + caseID + "/operations"})
	}
	return out
}

// write sends a write to an operations surface and returns the answer's body and request-id, failing unless the
// status is want.
func (s *testServer) write(t *testing.T, method, path, body string, want int) (map[string]any, string) {
	t.Helper()
	r := s.do(method, path, body)
	if r.status != want {
		t.Fatalf("%s %s %s: %d %s", method, path, body, r.status, r.body)
	}
	var got map[string]any
	if len(r.body) > 0 {
		got = r.json(t)
	}
	return got, r.header.Get("request-id")
}

// history follows an operation's history from path (a path, or an absolute nextLink) through every page, checking
// each whole page: value and, on every page but the last, an @odata.nextLink to the same history with the same
// $top. It returns every event and the number of pages.
func (s *testServer) history(t *testing.T, path string, headers ...string) ([]any, int) {
	t.Helper()
	base, _, _ := strings.Cut(path, "?")
	top := "100"
	if _, q, ok := strings.Cut(path, "$top="); ok {
		top, _, _ = strings.Cut(q, "&")
	}
	var events []any
	for pages := 1; ; pages++ {
		r := s.do("GET", strings.TrimPrefix(path, s.url), "", headers...)
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		body := r.json(t)
		value, _ := body["value"].([]any)
		next, hasNext := body["@odata.nextLink"].(string)
		if value == nil || len(body) != 1 && !hasNext || len(body) > 2 {
			t.Fatalf("a history page has value and, when more follows, @odata.nextLink: %s", r.body)
		}
		events = append(events, value...)
		if !hasNext {
			return events, pages
		}
		if !strings.HasPrefix(next, s.url+base+"?$top="+top+"&$skiptoken=") {
			t.Fatalf("nextLink %q, want %s?$top=%s&$skiptoken=...", next, s.url+base, top)
		}
		if len(value) == 0 || pages > 100 {
			t.Fatalf("page %d of %s: %d events and a nextLink", pages, path, len(value))
		}
		path = next
	}
}

// event is one history event as the read answers it; server-chosen sequence and occurredDateTime are taken from
// got when want leaves them nil, after checking their form.
func event(kind string, actor any, requestID any, changes map[string]any) map[string]any {
	return map[string]any{"sequence": nil, "occurredDateTime": nil, "kind": kind, "actor": actor,
		"requestId": requestID, "changes": changes}
}

// assertEvents compares a whole history with want: sequence numbers must increase and occurredDateTime must be
// RFC 3339 UTC and never go back; where want gives nil for them, got's values are used.
func assertEvents(t *testing.T, got []any, want []map[string]any) {
	t.Helper()
	full := make([]any, len(want))
	var lastSeq float64
	var lastAt time.Time
	for i, w := range want {
		e := map[string]any{}
		for k, v := range w {
			e[k] = v
		}
		if i < len(got) {
			g := normalize(got[i]).(map[string]any)
			seq, _ := g["sequence"].(float64)
			at, err := time.Parse(time.RFC3339Nano, g["occurredDateTime"].(string))
			if seq <= lastSeq || err != nil || at.Before(lastAt) || !timePattern.MatchString(g["occurredDateTime"].(string)) {
				t.Errorf("event %d: sequence %v after %v, occurredDateTime %v after %v", i, g["sequence"], lastSeq, g["occurredDateTime"], lastAt)
			}
			lastSeq, lastAt = seq, at
			for _, k := range []string{"sequence", "occurredDateTime"} {
				if e[k] == nil {
					e[k] = g[k]
				}
			}
		}
		if i < len(got) {
			e = resolveInstants(t, e, got[i]).(map[string]any)
		}
		full[i] = e
	}
	if !reflect.DeepEqual(normalize(got), normalize(full)) {
		t.Errorf("history mismatch\n got: %s\nwant: %s", mustJSON(got), mustJSON(full))
	}
}

// instant in assertEvents's want stands for a timestamp that got may write with another number of fractional
// digits: the history stores them as Postgres writes JSON (microseconds, always six digits), the API trims zeros.
type instant string

// resolveInstants is want with each instant replaced by got's value at the same place when the two are the same
// moment (and by the instant's text when not, so that the comparison fails and shows it).
func resolveInstants(t *testing.T, want, got any) any {
	t.Helper()
	switch w := want.(type) {
	case instant:
		g, _ := got.(string)
		a, errA := time.Parse(time.RFC3339Nano, string(w))
		b, errB := time.Parse(time.RFC3339Nano, g)
		if errA == nil && errB == nil && a.Equal(b) {
			return g
		}
		return string(w)
	case map[string]any:
		g, _ := got.(map[string]any)
		out := make(map[string]any, len(w))
		for k, v := range w {
			out[k] = resolveInstants(t, v, g[k])
		}
		return out
	}
	return want
}

func change(from, to any) map[string]any { return map[string]any{"old": from, "new": to} }

// A created, then patched, then patched operation reads back as three events, each naming its writer, the
// request that wrote it and exactly what it changed, on every surface that serves history.
func TestHistory(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	for _, at := range historySurfaces(s) {
		t.Run(at.name, func(t *testing.T) {
			t.Parallel()
			op, created := s.write(t, "POST", at.collection, `{"status": "running"}`, 201)
			id := op["id"].(string)
			_, progressed := s.write(t, "PATCH", at.collection+"/"+id, `{"percentProgress": 50}`, 200)
			// A PATCH that changes nothing writes no event.
			s.write(t, "PATCH", at.collection+"/"+id, `{"percentProgress": 50}`, 200)
			op, finished := s.write(t, "PATCH", at.collection+"/"+id, `{"status": "succeeded", "resultInfo": {"code": 0, "message": "done"}}`, 200)

			got, pages := s.history(t, at.collection+"/"+id+"/history")
			if pages != 1 {
				t.Errorf("%d pages, want 1", pages)
			}
			want := []map[string]any{
				event("created", devCreatedBy(), created, map[string]any{
					"action": change(nil, "applyTags"), "status": change(nil, "running"),
					"createdBy":       change(nil, map[string]any{"user": map[string]any{"id": "dev", "displayName": "Development user"}}),
					"createdDateTime": change(nil, instant(op["createdDateTime"].(string)))}),
				event("updated", devCreatedBy(), progressed, map[string]any{"percentProgress": change(nil, 50)}),
				event("updated", devCreatedBy(), finished, map[string]any{
					"status":            change("running", "succeeded"),
					"resultInfo":        change(nil, map[string]any{"code": 0, "message": "done", "subcode": nil}),
					"completedDateTime": change(nil, instant(op["completedDateTime"].(string)))}),
			}
			// The history's times are the commits': the creation's is createdDateTime, the last change's completedDateTime.
			want[0]["occurredDateTime"], want[2]["occurredDateTime"] = op["createdDateTime"], op["completedDateTime"]
			assertEvents(t, got, want)
			for _, rid := range []string{created, progressed, finished} {
				if !guidPattern.MatchString(rid) {
					t.Errorf("request-id %q", rid)
				}
			}
		})
	}
}

// $top pages the history, and @odata.nextLink leads through it to the end, on the older and the case paths.
func TestHistoryPaging(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	for _, at := range historySurfaces(s) {
		t.Run(at.name, func(t *testing.T) {
			t.Parallel()
			op, _ := s.write(t, "POST", at.collection, `{}`, 201)
			id := op["id"].(string)
			for _, p := range []string{"10", "20", "30", "40"} {
				s.write(t, "PATCH", at.collection+"/"+id, `{"percentProgress": `+p+`}`, 200)
			}
			history := at.collection + "/" + id + "/history"
			all, _ := s.history(t, history+"?$top=1000")
			if len(all) != 5 {
				t.Fatalf("%d events, want 5: %s", len(all), mustJSON(all))
			}
			for top, pages := range map[string]int{"1": 5, "2": 3, "4": 2, "5": 1, "6": 1} {
				got, n := s.history(t, history+"?$top="+top)
				if n != pages || !reflect.DeepEqual(normalize(got), normalize(all)) {
					t.Errorf("$top=%s: %d pages, want %d; events\n%s\nwant\n%s", top, n, pages, mustJSON(got), mustJSON(all))
				}
			}
		})
	}
}

// Every malformed request is a 400 naming the option; every operation the caller may not see is a 404.
func TestHistoryErrors(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	surfaces := historySurfaces(s)
	for _, at := range surfaces {
		t.Run(at.name, func(t *testing.T) {
			t.Parallel()
			op, _ := s.write(t, "POST", at.collection, `{}`, 201)
			id := op["id"].(string)
			s.write(t, "PATCH", at.collection+"/"+id, `{"percentProgress": 10}`, 200)
			another, _ := s.write(t, "POST", at.collection, `{}`, 201)
			s.write(t, "PATCH", at.collection+"/"+another["id"].(string), `{"percentProgress": 10}`, 200)
			r := s.do("GET", at.collection+"/"+another["id"].(string)+"/history?$top=1", "")
			next, _ := r.json(t)["@odata.nextLink"].(string)
			_, theirToken, ok := strings.Cut(next, "$skiptoken=")
			if !ok {
				t.Fatalf("no nextLink: %s", r.body)
			}
			history := at.collection + "/" + id + "/history"

			const skiptokenMessage = "$skiptoken is not one this service issued for this operation's history; follow @odata.nextLink as it is."
			const topMessage = "$top must be an integer from 1 to 1000."
			for _, c := range []struct{ query, target, message string }{
				{"$skiptoken=" + theirToken, "$skiptoken", skiptokenMessage},
				{"$skiptoken=abc", "$skiptoken", skiptokenMessage},
				{"$skiptoken=", "$skiptoken", skiptokenMessage},
				{"$top=0", "$top", topMessage},
				{"$top=1001", "$top", topMessage},
				{"$top=abc", "$top", topMessage},
				{"$top=-1", "$top", topMessage},
				{"$top=1&$top=2", "$top", "The query option '$top' is given more than once."},
				{"$filter=kind%20eq%20'created'", "$filter",
					"The query option '$filter' is not supported on an operation's history, which takes $top and $skiptoken."},
				{"since=yesterday", "since",
					"The query option 'since' is not supported on an operation's history, which takes $top and $skiptoken."},
			} {
				assertWholeError(t, s.do("GET", history+"?"+c.query, ""), 400, "badRequest", c.target, c.message)
			}

			gone, _ := s.write(t, "POST", at.collection, `{}`, 201)
			s.write(t, "DELETE", at.collection+"/"+gone["id"].(string), "", 204)
			if n := len(s.events(gone["id"])); n != 2 {
				t.Errorf("the deleted operation has %d events in the table, want 2", n)
			}
			for _, path := range []string{
				at.collection + "/05de44a5-44a5-05de-a544-de05a544de05/history", // no such operation
				at.collection + "/not-a-guid/history",
				at.collection + "/" + gone["id"].(string) + "/history", // its history stays in the table, for SQL only
			} {
				assertWholeError(t, s.do("GET", path, ""), 404, "notFound", "", operationNotFound)
			}
			other := mint(t, auth.MintOptions{Tenant: "other", Scopes: auth.PermissionReadWrite, UserID: "o", UserName: "Other"})
			message := operationNotFound
			if at.caseID != "" {
				message = caseNotFound // the other tenant has no such case
			}
			assertWholeError(t, s.do("GET", history, "", "Authorization", "Bearer "+other), 404, "notFound", "", message)
			assertError(t, s.do("GET", history, "", "Authorization", ""), 401, "unauthorized", "")

			// A read-only token reads it.
			reader := mint(t, auth.MintOptions{Tenant: "dev", Scopes: auth.PermissionRead, UserID: "r", UserName: "Reader"})
			want, _ := s.history(t, history)
			if got, _ := s.history(t, history, "Authorization", "Bearer "+reader); len(got) != 2 || !reflect.DeepEqual(got, want) {
				t.Errorf("read-only token: %s, want %s", mustJSON(got), mustJSON(want))
			}
		})
	}

	// On a case's path, another case's operation and an unknown case are 404 too.
	for _, version := range versions {
		t.Run(version+" elsewhere", func(t *testing.T) {
			t.Parallel()
			cases := version + "/security/cases/ediscoveryCases/"
			mine := s.createCase(version, `{"displayName": "Mine"}`)["id"].(string)
			op, _ := s.write(t, "POST", cases+mine+"/operations", `{}`, 201)
			inDefault, _ := s.write(t, "POST", "/beta/tagOperations", `{}`, 201)
			elsewhere := s.createCase(version, `{"displayName": "Elsewhere"}`)["id"].(string)
			for path, message := range map[string]string{
				cases + elsewhere + "/operations/" + op["id"].(string) + "/history":                         operationNotFound,
				cases + mine + "/operations/" + inDefault["id"].(string) + "/history":                       operationNotFound,
				cases + "05de44a5-44a5-05de-a544-de05a544de05/operations/" + op["id"].(string) + "/history": caseNotFound,
				cases + "not-a-case/operations/" + op["id"].(string) + "/history":                           caseNotFound,
			} {
				assertWholeError(t, s.do("GET", path, ""), 404, "notFound", "", message)
			}
			// The older route sees it, whatever its case.
			if got, _ := s.history(t, "/beta/tagOperations/"+op["id"].(string)+"/history"); len(got) != 1 {
				t.Errorf("/beta/tagOperations history: %s", mustJSON(got))
			}
		})
	}
}

// A direct SQL write, which names no actor and no request, is in the history as the trigger recorded it.
func TestHistoryOfDirectWrites(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.insert("dev", fixtureOp{1, "running", "index", 10, "2026-01-02T00:00:00Z", "", "", "app-1", -1})
	id := opID(1)
	if _, err := s.pool.Exec(context.Background(),
		`UPDATE case_operations SET percent_progress = 70 WHERE tenant_id = 'dev' AND id = $1`, id); err != nil {
		t.Fatal(err)
	}
	_, patched := s.write(t, "PATCH", "/beta/tagOperations/"+id, `{"status": "failed"}`, 200)
	op := s.do("GET", "/beta/tagOperations/"+id, "").json(t)

	got, _ := s.history(t, "/beta/tagOperations/"+id+"/history")
	assertEvents(t, got, []map[string]any{
		event("created", nil, nil, map[string]any{
			"action": change(nil, "index"), "status": change(nil, "running"), "percentProgress": change(nil, 10),
			"createdBy":       change(nil, map[string]any{"application": map[string]any{"id": "app-1"}}),
			"createdDateTime": change(nil, instant("2026-01-02T00:00:00Z"))}),
		event("updated", nil, nil, map[string]any{"percentProgress": change(10, 70)}),
		event("updated", devCreatedBy(), patched, map[string]any{"status": change("running", "failed"),
			"completedDateTime": change(nil, instant(op["completedDateTime"].(string)))}),
	})
	if r := s.do("GET", "/beta/tagOperations/"+id+"/history", "", "Authorization", "Bearer "+
		mint(t, auth.MintOptions{Tenant: "other", Scopes: auth.PermissionRead})); r.status != http.StatusNotFound {
		t.Errorf("another tenant reads the history: %d %s", r.status, r.body)
	}
}

// An operation created with the id of a deleted one has a history of its own: the deleted one's events stay in
// the table, for SQL, and are not read as the new one's.
func TestHistoryOfARecreatedOperation(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	const id = "05de44a5-44a5-05de-a544-de05a544de05"
	s.write(t, "POST", "/beta/tagOperations", `{"id": "`+id+`", "status": "running"}`, 201)
	s.write(t, "PATCH", "/beta/tagOperations/"+id, `{"percentProgress": 10}`, 200)
	s.write(t, "DELETE", "/beta/tagOperations/"+id, "", 204)
	op, created := s.write(t, "POST", "/beta/tagOperations", `{"id": "`+id+`"}`, 201)

	got, _ := s.history(t, "/beta/tagOperations/"+id+"/history?$top=1")
	want := event("created", devCreatedBy(), created, map[string]any{
		"action": change(nil, "applyTags"), "status": change(nil, "notStarted"),
		"createdBy":       change(nil, map[string]any{"user": map[string]any{"id": "dev", "displayName": "Development user"}}),
		"createdDateTime": change(nil, instant(op["createdDateTime"].(string)))})
	assertEvents(t, got, []map[string]any{want})
	if n := len(s.events(id)); n != 4 {
		t.Errorf("%d events in the table, want the 3 of the deleted operation and 1", n)
	}
}
