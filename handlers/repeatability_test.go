package handlers_test

import (
	"context"
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/caseops/caseops/handlers/auth"
)

// A POST with Repeatability-Request-ID and Repeatability-First-Sent can be sent again safely: a repeat gets the
// first answer, whatever happened to the operation since, and creates nothing; the id is per tenant.
func TestRepeatablePOST(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	now := time.Now().UTC().Format(http.TimeFormat)
	count := func(query string) int {
		t.Helper()
		var n int
		if err := s.pool.QueryRow(context.Background(), query).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	post := func(body, requestID string, header ...string) response {
		return s.do("POST", "/beta/tagOperations", body,
			append([]string{"Repeatability-Request-ID", requestID, "Repeatability-First-Sent", now}, header...)...)
	}
	const body = `{"status": "running", "percentProgress": 10}`

	first := post(body, "create-1")
	created := assertEntity(t, first, 201, map[string]any{"status": "running", "percentProgress": 10, "@odata.etag": etagVersion(1)})
	if got := first.header.Get("Repeatability-Result"); got != "accepted" {
		t.Errorf("Repeatability-Result %q, want accepted", got)
	}
	// Changed since, the operation is still answered as the first request created it.
	if r := s.do("PATCH", "/beta/tagOperations/"+created["id"].(string), `{"percentProgress": 50}`); r.status != 200 {
		t.Fatalf("PATCH: %d %s", r.status, r.body)
	}
	again := post(`{"percentProgress": 10, "status": "running"}`, "create-1") // the same request, keys in another order
	assertEntity(t, again, 201, created)
	if again.header.Get("Repeatability-Result") != "accepted" || again.header.Get("Location") != first.header.Get("Location") ||
		again.header.Get("ETag") != first.header.Get("ETag") {
		t.Errorf("the repeat's headers: Repeatability-Result %q, Location %q, ETag %q; want accepted and the first answer's %q, %q",
			again.header.Get("Repeatability-Result"), again.header.Get("Location"), again.header.Get("ETag"),
			first.header.Get("Location"), first.header.Get("ETag"))
	}
	if n := count(`SELECT count(*) FROM case_operations`); n != 1 {
		t.Errorf("%d operations after a repeat, want 1", n)
	}
	if n := count(`SELECT count(*) FROM case_operation_events WHERE kind = 'created'`); n != 1 {
		t.Errorf("%d created events after a repeat, want 1", n)
	}

	const reused = "This Repeatability-Request-ID was already used for a request with another body or caller; a repeat must be the same request."
	for name, r := range map[string]response{
		"another body":   post(`{"status": "running", "percentProgress": 11}`, "create-1"),
		"another caller": post(body, "create-1", "Authorization", "Bearer "+mint(t, auth.MintOptions{Tenant: "dev", Scopes: auth.PermissionReadWrite, UserID: "other", UserName: "Other user"})),
	} {
		if e := assertError(t, r, 409, "conflict", "Repeatability-Request-ID"); e["message"] != reused {
			t.Errorf("%s: message %q", name, e["message"])
		}
		if got := r.header.Get("Repeatability-Result"); got != "rejected" {
			t.Errorf("%s: Repeatability-Result %q, want rejected", name, got)
		}
	}
	// Another tenant's request ids are its own.
	other := post(body, "create-1", "Authorization", "Bearer "+mint(t, auth.MintOptions{Tenant: "other", Scopes: auth.PermissionReadWrite, UserID: "dev", UserName: "Development user"}))
	if other.status != 201 || other.json(t)["id"] == created["id"] {
		t.Errorf("another tenant's POST with the same id: %d %s", other.status, other.body)
	}
	if n := count(`SELECT count(*) FROM case_operations`); n != 2 {
		t.Errorf("%d operations, want 2", n)
	}

	// Twins sent at once create one operation, and both get its answer.
	var wg sync.WaitGroup
	twins := make([]response, 2)
	for i := range twins {
		wg.Go(func() { twins[i] = post(`{}`, "twins") })
	}
	wg.Wait()
	twin := assertEntity(t, twins[0], 201, map[string]any{"@odata.etag": etagVersion(1)})
	assertEntity(t, twins[1], 201, twin)
	if n := count(`SELECT count(*) FROM case_operations`); n != 3 {
		t.Errorf("%d operations after two twins, want 3", n)
	}

	// An answer kept past the window is gone: the same id creates again, and expired answers are cleared.
	if _, err := s.pool.Exec(context.Background(), `UPDATE case_operation_repeatable_requests SET expires_at = now() - interval '1 second'
		WHERE request_id IN ('create-1', 'twins')`); err != nil {
		t.Fatal(err)
	}
	renewed := assertEntity(t, post(body, "create-1"), 201, map[string]any{"status": "running", "percentProgress": 10, "@odata.etag": etagVersion(1)})
	if renewed["id"] == created["id"] {
		t.Error("an expired request id answered with the old operation")
	}
	if n := count(`SELECT count(*) FROM case_operation_repeatable_requests WHERE expires_at <= now()`); n != 0 {
		t.Errorf("%d expired answers left after a repeatable POST", n)
	}
	if n := count(`SELECT count(*) FROM case_operations`); n != 4 {
		t.Errorf("%d operations, want 4", n)
	}
}

// Repeatability headers that cannot be honoured are refused before anything is written, with Repeatability-Result: rejected.
func TestRepeatablePOSTRefusals(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	now := time.Now().UTC()
	for _, tc := range []struct {
		name           string
		header         []string
		status         int
		code, target   string
		messagePattern string
	}{
		{"an id without First-Sent", []string{"Repeatability-Request-ID", "r1"}, 400, "badRequest", "Repeatability-First-Sent",
			`^Repeatability-First-Sent must be given once with Repeatability-Request-ID: the time the request was first sent, such as \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\.$`},
		{"First-Sent without an id", []string{"Repeatability-First-Sent", now.Format(http.TimeFormat)}, 400, "badRequest", "Repeatability-Request-ID",
			`^Repeatability-Request-ID must be given once, with 1 to 200 printable ASCII characters \(a GUID, say\), when Repeatability-First-Sent is\.$`},
		{"First-Sent not a date", []string{"Repeatability-Request-ID", "r1", "Repeatability-First-Sent", "yesterday"}, 400, "badRequest", "Repeatability-First-Sent",
			`^Repeatability-First-Sent must be an HTTP date, such as \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\.$`},
		{"First-Sent too long ago", []string{"Repeatability-Request-ID", "r1", "Repeatability-First-Sent", now.Add(-11 * time.Minute).Format(http.TimeFormat)},
			412, "preconditionFailed", "Repeatability-First-Sent",
			`^Repeatability-First-Sent is more than 10 minutes ago, longer than the service keeps the answers to repeatable requests, so it cannot tell whether this one was applied: list the operations before sending it as a new request\.$`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do("POST", "/beta/tagOperations", `{}`, tc.header...)
			e := assertError(t, r, tc.status, tc.code, tc.target)
			if msg, _ := e["message"].(string); !regexp.MustCompile(tc.messagePattern).MatchString(msg) {
				t.Errorf("message %q, want %s", msg, tc.messagePattern)
			}
			if got := r.header.Get("Repeatability-Result"); got != "rejected" {
				t.Errorf("Repeatability-Result %q, want rejected", got)
			}
		})
	}
	var n int
	if err := s.pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM case_operations) + (SELECT count(*) FROM case_operation_repeatable_requests)`).Scan(&n); err != nil || n != 0 {
		t.Errorf("refused requests left %d rows, %v", n, err)
	}
}
