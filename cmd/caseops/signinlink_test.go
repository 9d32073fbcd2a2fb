package main

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

var signInLinkLine = regexp.MustCompile(`(?m)^Dashboard sign-in link \(works once, within 10m0s\):\n\n(http://(\S+)/#code=([A-Za-z0-9_-]{32}))\n`)

// In development mode serve prints a dashboard sign-in link whose code the page exchanges, once, for the token
// serve printed above it. With real tokens there is neither link nor exchange.
func TestDevelopmentSignInLink(t *testing.T) {
	t.Parallel()
	s := serve(t, map[string]string{"DATABASE_URL": newDatabaseURL(t)})
	token := developmentToken(t, s.stderr.String())
	m := signInLinkLine.FindStringSubmatch(s.stderr.String())
	if m == nil {
		t.Fatalf("no sign-in link in:\n%s", s.stderr)
	}
	if "http://"+m[2] != s.base {
		t.Errorf("the link %s is not to the address serve listens on, %s", m[1], s.base)
	}
	signIn := func(body string) answer {
		return sendWithHeaders(t, "POST", s.base+"/dashboard/signin", "", body, "Content-Type", "application/json")
	}
	const refused = "The sign-in code is not valid: a code works once and for 10 minutes. " +
		"Sign in with the development token serve printed, or restart serve for a new link."
	if a := signIn(`{"code": "` + strings.Repeat("A", 32) + `"}`); a.status != 400 || a.message != refused {
		t.Errorf("a wrong code: %d %v", a.status, a.body)
	}
	a := signIn(`{"code": "` + m[3] + `"}`)
	if a.status != 200 || len(a.body) != 1 || a.body["token"] != token || a.header.Get("Cache-Control") != "no-store" {
		t.Errorf("the printed code (after a wrong guess): %d %v %v, want the development token", a.status, a.body, a.header)
	}
	if a := signIn(`{"code": "` + m[3] + `"}`); a.status != 400 || a.message != refused {
		t.Errorf("the code a second time: %d %v", a.status, a.body)
	}
	if strings.Contains(strings.ReplaceAll(s.stderr.String(), m[1], ""), m[3]) {
		t.Error("the code is logged beyond the link")
	}

	real := serve(t, map[string]string{"DATABASE_URL": newDatabaseURL(t), "CASEOPS_JWT_SECRET": tokenTestSecret})
	if strings.Contains(real.stderr.String(), "sign-in link") {
		t.Errorf("serve with a JWT secret prints a sign-in link:\n%s", real.stderr)
	}
	a = sendWithHeaders(t, "POST", real.base+"/dashboard/signin", "", `{"code": "`+m[3]+`"}`, "Content-Type", "application/json")
	if a.status != http.StatusNotFound || a.message != "Sign-in links exist only when caseops serve runs in development mode; sign in with a bearer token." {
		t.Errorf("serve with a JWT secret, asked to exchange a sign-in code: %d %v", a.status, a.body)
	}
}
