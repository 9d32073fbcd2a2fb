package handlers_test

import (
	"context"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	annotation        = "@caseops.lastModifiedDateTime"
	includeAnnotation = `odata.include-annotations="caseops.*"`
)

// lastModified is the operation's last_modified_date_time as the table holds it, written as the API writes times.
func (s *testServer) lastModified(t *testing.T, id any) string {
	t.Helper()
	var at time.Time
	err := s.pool.QueryRow(context.Background(),
		`SELECT last_modified_date_time FROM case_operations WHERE tenant_id = 'dev' AND id = $1::uuid`, id).Scan(&at)
	if err != nil {
		t.Fatal(err)
	}
	return at.UTC().Format(time.RFC3339Nano)
}

func parseTime(t *testing.T, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// assertApplied checks that Preference-Applied is exactly want (none when want is empty).
func assertApplied(t *testing.T, r response, want ...string) {
	t.Helper()
	if got := r.header.Values("Preference-Applied"); !slices.Equal(got, want) {
		t.Errorf("Preference-Applied %q, want %q", got, want)
	}
}

// Prefer: odata.include-annotations adds @caseops.lastModifiedDateTime, equal to the table's
// last_modified_date_time, to a GET, a POST and a PATCH answer, and is echoed in Preference-Applied; any pattern
// that takes the annotation asks for it, an exclusion wins, and without the preference it is absent.
func TestLastModifiedAnnotation(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	r := s.do("POST", "/beta/tagOperations", `{"status": "running"}`, "Prefer", includeAnnotation)
	op := assertEntity(t, r, 201, map[string]any{"status": "running", annotation: s.lastModified(t, r.json(t)["id"])})
	assertApplied(t, r, includeAnnotation)
	id := op["id"].(string)
	path := "/beta/tagOperations/" + id
	if op[annotation] != op["createdDateTime"] {
		t.Errorf("a new operation was last modified at %v, created at %v", op[annotation], op["createdDateTime"])
	}

	for _, prefer := range []string{
		includeAnnotation,
		`odata.include-annotations="*"`,
		`odata.include-annotations="caseops.lastModifiedDateTime"`,
		`odata.include-annotations="display.*,caseops.*"`,
		`odata.include-annotations=caseops.*`,
		`return=representation, odata.include-annotations="caseops.*"`,
		`odata.maxpagesize=5,odata.include-annotations="*"`,
	} {
		r := s.do("GET", path, "", "Prefer", prefer)
		assertEntity(t, r, 200, map[string]any{"status": "running", annotation: s.lastModified(t, id)})
		_, value, _ := strings.Cut(prefer, "odata.include-annotations=")
		assertApplied(t, r, `odata.include-annotations="`+strings.Trim(value, `"`)+`"`)
	}
	for _, prefer := range []string{
		"",
		"return=representation",
		`odata.include-annotations="display.*"`,
		`odata.include-annotations="-*"`,
		`odata.include-annotations="-caseops.*"`,
		`odata.include-annotations="*,-caseops.*"`,
		`odata.include-annotations="caseops.*,-caseops.lastModifiedDateTime"`,
		`odata.include-annotations="-caseops.*,caseops.*"`,
	} {
		r := s.do("GET", path, "", "Prefer", prefer)
		assertEntity(t, r, 200, map[string]any{"status": "running"})
		assertApplied(t, r)
	}

	// A PATCH answers with the new time; a PATCH that changes nothing keeps it.
	before := s.lastModified(t, id)
	r = s.do("PATCH", path, `{"percentProgress": 40}`, "Prefer", includeAnnotation)
	after := s.lastModified(t, id)
	op = assertEntity(t, r, 200, map[string]any{"status": "running", "percentProgress": 40, annotation: after})
	assertApplied(t, r, includeAnnotation)
	if b, a := parseTime(t, before), parseTime(t, after); !a.After(b) {
		t.Errorf("a PATCH left last_modified_date_time at %s (was %s)", after, before)
	}
	r = s.do("PATCH", path, `{"percentProgress": 40}`, "Prefer", includeAnnotation)
	assertEntity(t, r, 200, map[string]any{"status": "running", "percentProgress": 40, annotation: after, "@odata.etag": op["@odata.etag"]})
	r = s.do("PATCH", path, `{"percentProgress": 41}`)
	assertEntity(t, r, 200, map[string]any{"status": "running", "percentProgress": 41})
	assertApplied(t, r)
	// return=minimal answers without a body: only it is applied.
	r = s.do("PATCH", path, `{"percentProgress": 42}`, "Prefer", "return=minimal, "+includeAnnotation)
	if r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Errorf("return=minimal: %d %s", r.status, r.body)
	}
	assertApplied(t, r, "return=minimal")
}

// The list, a $select list and delta carry the annotation on each operation when asked, and only then.
func TestLastModifiedAnnotationInCollections(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	var ids []string
	for _, body := range []string{`{}`, `{"status": "running"}`, `{"status": "failed"}`} {
		op, _ := s.write(t, "POST", "/beta/tagOperations", body, 201)
		ids = append(ids, op["id"].(string))
	}
	s.write(t, "PATCH", "/beta/tagOperations/"+ids[1], `{"percentProgress": 5}`, 200)

	// annotated is what GET answers for each operation, newest first as the list orders them, with or without
	// the annotation, and with only the properties a $select names.
	annotated := func(with bool, selected ...string) []any {
		var out []any
		for _, id := range slices.Backward(ids) {
			e := s.entity(t, id)
			if with {
				e[annotation] = s.lastModified(t, id)
			}
			if selected != nil {
				for k := range e {
					if !slices.Contains(append(selected, "@odata.type", "@odata.etag", "id", annotation), k) {
						delete(e, k)
					}
				}
			}
			out = append(out, e)
		}
		return out
	}

	for _, c := range []struct {
		query    string
		selected []string
	}{{"", nil}, {"?$select=status", []string{"status"}}, {"?$select=percentProgress,createdBy", []string{"percentProgress", "createdBy"}}} {
		for _, with := range []bool{true, false} {
			headers := []string{}
			applied := []string(nil)
			if with {
				headers, applied = []string{"Prefer", includeAnnotation}, []string{includeAnnotation}
			}
			r := s.do("GET", "/beta/tagOperations"+c.query, "", headers...)
			if r.status != 200 {
				t.Fatalf("list%s: %d %s", c.query, r.status, r.body)
			}
			if got := r.json(t)["value"]; !reflect.DeepEqual(normalize(got), normalize(annotated(with, c.selected...))) {
				t.Errorf("list%s, annotated %v:\n got %s\nwant %s", c.query, with, mustJSON(got), mustJSON(annotated(with, c.selected...)))
			}
			assertApplied(t, r, applied...)
		}
	}

	got, deltaLink := s.delta(t, "/beta/tagOperations/delta", "Prefer", includeAnnotation)
	assertValues(t, "delta, annotated", got, sortedByID(annotated(true)))
	got, _ = s.delta(t, "/beta/tagOperations/delta")
	assertValues(t, "delta", got, sortedByID(annotated(false)))
	s.write(t, "PATCH", "/beta/tagOperations/"+ids[0], `{"status": "running"}`, 200)
	got, _ = s.delta(t, deltaLink, "Prefer", `odata.include-annotations="*"`)
	e := s.entity(t, ids[0])
	e[annotation] = s.lastModified(t, ids[0])
	assertValues(t, "next delta round, annotated", got, []any{e})
}

// On a case's path the annotation joins include-unknown-enum-members, both echoed.
func TestLastModifiedAnnotationOnCasePaths(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	for _, version := range versions {
		caseID := s.createCase(version, `{"displayName": "Annotated"}`)["id"].(string)
		ops := version + "/security/cases/ediscoveryCases/" + caseID + "/operations"
		context := s.url + version + "/$metadata#security/cases/ediscoveryCases('" + caseID + "')/operations"
		op, _ := s.write(t, "POST", ops, `{"status": "running", "action": "purgeData"}`, 201)
		id := op["id"].(string)

		r := s.do("GET", ops+"/"+id, "", "Prefer", "include-unknown-enum-members", "Prefer", includeAnnotation)
		assertCaseOperation(t, r, 200, context+"/$entity", map[string]any{"status": "running", "action": "purgeData",
			annotation: s.lastModified(t, id)})
		assertApplied(t, r, "include-unknown-enum-members", includeAnnotation)

		r = s.do("PATCH", ops+"/"+id, `{"percentProgress": 9}`, "Prefer", `odata.include-annotations="*"`)
		assertCaseOperation(t, r, 200, context+"/$entity", map[string]any{"status": "running", "action": "unknownFutureValue",
			"percentProgress": 9, annotation: s.lastModified(t, id)})
		assertApplied(t, r, `odata.include-annotations="*"`)

		r = s.do("GET", ops+"/"+id, "", "Prefer", `odata.include-annotations="-caseops.*"`)
		assertCaseOperation(t, r, 200, context+"/$entity", map[string]any{"status": "running", "action": "unknownFutureValue", "percentProgress": 9})
		assertApplied(t, r)

		r = s.do("GET", ops+"?$select=status", "", "Prefer", includeAnnotation)
		want := []any{map[string]any{"@odata.type": securityTagType, "@odata.etag": r.json(t)["value"].([]any)[0].(map[string]any)["@odata.etag"],
			"id": id, "status": "running", annotation: s.lastModified(t, id)}}
		if got := r.json(t)["value"]; r.status != 200 || !reflect.DeepEqual(normalize(got), normalize(want)) {
			t.Errorf("%s $select list: %d\n got %s\nwant %s", version, r.status, mustJSON(got), mustJSON(want))
		}
	}
}

// sortedByID orders entities by id, as delta pages them.
func sortedByID(values []any) []any {
	out := slices.Clone(values)
	slices.SortFunc(out, func(a, b any) int {
		return strings.Compare(a.(map[string]any)["id"].(string), b.(map[string]any)["id"].(string))
	})
	return out
}
