package main

import (
	"bytes"
	"context"
	"io"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caseops/caseops/handlers/auth"
)

const tokenTestSecret = "a-token-test-secret-of-32-bytes!"

// caseops token refuses what the server would refuse, and a combination its synopsis does not offer, before
// printing anything; main turns the error into exit status 1.
func TestTokenCommandRefusesBadFlags(t *testing.T) {
	t.Parallel()
	env := envOf(map[string]string{"CASEOPS_JWT_SECRET": tokenTestSecret})
	long := strings.Repeat("é", 1025)
	cases := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no tenant", []string{}, "--tenant is required"},
		{"tenant of 257 characters", []string{"--tenant", long[:2*257]}, "--tenant must be at most 256 characters long"},
		{"tenant with U+0000", []string{"--tenant", "contoso\x00"}, "--tenant must not contain the character U+0000"},
		{"tenant not UTF-8", []string{"--tenant", "contoso\xff"}, "--tenant must be valid UTF-8"},
		{"user id with U+0000", []string{"--tenant", "contoso", "--user-id", "\x00"}, "--user-id must not contain the character U+0000"},
		{"user name of 1025 characters", []string{"--tenant", "contoso", "--user-id", "u", "--user-name", long}, "--user-name must be at most 1024 characters long"},
		{"app id not UTF-8", []string{"--tenant", "contoso", "--app-id", "\xc3"}, "--app-id must be valid UTF-8"},
		{"app name with U+0000", []string{"--tenant", "contoso", "--app-id", "a", "--app-name", "Tag\x00ger"}, "--app-name must not contain the character U+0000"},
		{"user and app", []string{"--tenant", "contoso", "--user-id", "u", "--app-id", "a"},
			"--user-id/--user-name and --app-id/--app-name cannot be combined: a token names a user or an application"},
		{"user name and app name", []string{"--tenant", "contoso", "--user-id", "u", "--user-name", "Ada", "--app-id", "a", "--app-name", "Tagger"},
			"--user-id/--user-name and --app-id/--app-name cannot be combined: a token names a user or an application"},
		{"user name without id", []string{"--tenant", "contoso", "--user-name", "Ada"}, "--user-name needs --user-id: the server knows a user by its id (oid)"},
		{"a scope with a typo", []string{"--tenant", "contoso", "--scopes", "eDiscovery.Read.al"},
			`--scopes "eDiscovery.Read.al" is not a scope the server checks (did you mean eDiscovery.Read.All?); it knows eDiscovery.Read.All and eDiscovery.ReadWrite.All`},
		{"a scope in the wrong case", []string{"--tenant", "contoso", "--scopes", "eDiscovery.Read.All ediscovery.readwrite.all"},
			`--scopes "ediscovery.readwrite.all" is not a scope the server checks (did you mean eDiscovery.ReadWrite.All?); it knows eDiscovery.Read.All and eDiscovery.ReadWrite.All`},
		{"an unknown role", []string{"--tenant", "contoso", "--app-id", "a", "--roles", "Tags.Write"},
			`--roles "Tags.Write" is not a role the server checks; it knows eDiscovery.Read.All and eDiscovery.ReadWrite.All`},
		{"app name without id", []string{"--tenant", "contoso", "--app-name", "Tagger"}, "--app-name needs --app-id: the server knows an application by its id (azp)"},
		{"ttl over the server's maximum", []string{"--tenant", "contoso", "--ttl", "25h"},
			"--ttl 25h0m0s is longer than the 24h0m0s a server accepts (--jwt-max-lifetime): ask for at most that, or raise --jwt-max-lifetime (CASEOPS_JWT_MAX_LIFETIME) here and on the server"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout bytes.Buffer
			err := run(context.Background(), append([]string{"token"}, tc.args...), env, &stdout, io.Discard)
			if want := settingsLine("token", tc.wantErr); err == nil || err.Error() != want {
				t.Fatalf("caseops token %q: %v, want %q", tc.args, err, want)
			}
			if stdout.Len() != 0 {
				t.Fatalf("caseops token %q printed %q", tc.args, stdout.String())
			}
		})
	}
}

// The longest values the rules allow make a token the server accepts, counted in characters, not bytes.
func TestTokenCommandMintsAtTheLimits(t *testing.T) {
	t.Parallel()
	env := envOf(map[string]string{"CASEOPS_JWT_SECRET": tokenTestSecret})
	tenant, name := strings.Repeat("é", 256), strings.Repeat("名", 1024)
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"token", "--tenant", tenant, "--app-id", "worker", "--app-name", name, "--roles", auth.PermissionRead}, env, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(t.Context(), auth.Config{Secret: []byte(tokenTestSecret)})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(t.Context(), "Bearer "+strings.TrimSpace(stdout.String()))
	if err != nil {
		t.Fatalf("the server refuses the minted token: %v", err)
	}
	if p.TenantID != tenant || p.User != nil || p.Application == nil || *p.Application != (auth.Identity{ID: "worker", DisplayName: name}) {
		t.Fatalf("the token speaks for %+v", p)
	}
}

// The README's Commands section and token --help show the same synopsis.
func TestTokenSynopsisMatchesREADME(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	_ = run(context.Background(), []string{"token", "--help"}, envOf(nil), &stdout, io.Discard)
	help, _, _ := strings.Cut(stdout.String(), "\n")
	want := "Usage: caseops " + tokenSynopsis
	if help != want {
		t.Errorf("token --help says\n%s\nwant\n%s", help, want)
	}
	if !strings.Contains(string(readme), "\n./caseops "+tokenSynopsis+"\n") {
		t.Errorf("the README's Commands section has no line\n./caseops %s", tokenSynopsis)
	}
}

// --ttl may be as long as the server's maximum lifetime, which token reads from the same setting as serve.
func TestTokenTTLFollowsTheServersMaximum(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  map[string]string
		ttl  time.Duration
	}{
		{name: "the default maximum", ttl: auth.DefaultMaxLifetime},
		{name: "a raised maximum", env: map[string]string{"CASEOPS_JWT_MAX_LIFETIME": "48h"}, ttl: 48 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"CASEOPS_JWT_SECRET": tokenTestSecret}
			maps.Copy(env, tc.env)
			var stdout bytes.Buffer
			if err := run(context.Background(), []string{"token", "--tenant", "contoso", "--ttl", tc.ttl.String()}, envOf(env), &stdout, io.Discard); err != nil {
				t.Fatal(err)
			}
			v, err := auth.NewVerifier(t.Context(), auth.Config{Secret: []byte(tokenTestSecret), MaxLifetime: tc.ttl})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(t.Context(), "Bearer "+strings.TrimSpace(stdout.String())); err != nil {
				t.Fatalf("a server with a %s maximum refuses the token: %v", tc.ttl, err)
			}
		})
	}
}
