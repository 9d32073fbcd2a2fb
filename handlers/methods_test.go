package handlers_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// Every path answers OPTIONS with exactly the methods that work on it, and any other method with 405 and
// the same Allow (RFC 9110 §9.3.7, §15.5.6).
func TestAllowListsOnlyMethodsThatWork(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	id := s.create(`{}`)["id"].(string)
	for _, c := range []struct{ path, pattern, allow string }{
		{"/beta/tagOperations", "/beta/tagOperations", "GET, HEAD, OPTIONS, POST"},
		{"/beta/tagOperations/delta", "/beta/tagOperations/delta", "GET, HEAD, OPTIONS"},
		{"/beta/tagOperations/delta()", "/beta/tagOperations/delta()", "GET, HEAD, OPTIONS"},
		{"/beta/tagOperations/" + id, "/beta/tagOperations/{id}", "DELETE, GET, HEAD, OPTIONS, PATCH"},
		{"/beta/tagOperation", "/beta/tagOperation", "OPTIONS, PATCH"},
		{"/openapi.json", "/openapi.json", "GET, HEAD, OPTIONS"},
		{"/healthz", "/healthz", "GET, HEAD, OPTIONS"},
		{"/readyz", "/readyz", "GET, HEAD, OPTIONS"},
	} {
		r := s.do("OPTIONS", c.path, "")
		if r.status != http.StatusNoContent || r.header.Get("Allow") != c.allow || len(r.body) != 0 {
			t.Errorf("OPTIONS %s: %d, Allow %q, want 204 and %q: %s", c.path, r.status, r.header.Get("Allow"), c.allow, r.body)
		}
		allowed := strings.Split(c.allow, ", ")
		for _, method := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "TRACE", "FROBNICATE"} {
			body := ""
			if method == "POST" || method == "PUT" || method == "PATCH" {
				body = `{"percentProgress": 7}`
			}
			if method == "DELETE" && slices.Contains(allowed, method) {
				continue // served: its answer is TestDelete's
			}
			r := s.do(method, c.path, body)
			if slices.Contains(allowed, method) {
				if r.status == http.StatusMethodNotAllowed {
					t.Errorf("%s %s: 405, but OPTIONS says it is allowed", method, c.path)
				}
				continue
			}
			if method == "HEAD" {
				if r.status != 405 || len(r.body) != 0 {
					t.Errorf("HEAD %s: %d %s, want 405 without a body", c.path, r.status, r.body)
				}
			} else {
				assertWholeError(t, r, 405, "methodNotAllowed", "", method+" is not allowed on "+c.pattern+", which takes "+c.allow+".")
			}
			if got := r.header.Get("Allow"); got != c.allow {
				t.Errorf("%s %s: Allow %q, want %q", method, c.path, got, c.allow)
			}
		}
	}
	if n := len(s.events(id)); n != 2 { // the create, and the PATCH that is allowed
		t.Errorf("%d events, want 2", n)
	}
}

// HEAD answers every GET with its status and headers and no body (RFC 9110 §9.3.2).
func TestHeadAnswersAsGet(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	id := s.create(`{"percentProgress": 3}`)["id"].(string)
	for _, path := range []string{"/beta/tagOperations", "/beta/tagOperations?$top=1&$count=true", "/beta/tagOperations/" + id,
		"/beta/tagOperations/delta", "/beta/tagOperations/delta()", "/beta/tagOperations/05de44a5-44a5-05de-a544-de05a544de05",
		"/beta/tagOperations?$fitler=x", "/openapi.json", "/healthz", "/readyz"} {
		get := s.do("GET", path, "")
		head := s.do("HEAD", path, "")
		if head.status != get.status || len(head.body) != 0 {
			t.Errorf("HEAD %s: %d with %d bytes, want %d and no body", path, head.status, len(head.body), get.status)
		}
		for name := range get.header {
			switch name {
			case "Date", "Request-Id", "Client-Request-Id":
				continue // new with every request
			case "Content-Length":
				if strings.Contains(path, "/delta") {
					continue // a delta link holds the database's snapshot of the moment, which other tests move
				}
			}
			if got, want := head.header.Values(name), get.header.Values(name); !slices.Equal(got, want) {
				t.Errorf("HEAD %s: %s %q, GET has %q", path, name, got, want)
			}
		}
		for name := range head.header {
			if get.header.Values(name) == nil {
				t.Errorf("HEAD %s: %s %q, which GET does not send", path, name, head.header.Values(name))
			}
		}
	}
	// Without a token, HEAD is refused as GET is.
	s.token = "not-a-token"
	if r := s.do("HEAD", "/beta/tagOperations", ""); r.status != 401 || r.header.Get("WWW-Authenticate") == "" || len(r.body) != 0 {
		t.Errorf("HEAD without a token: %d %v %s", r.status, r.header, r.body)
	}
}
