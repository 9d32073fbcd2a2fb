package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/caseops/caseops/handlers/auth"
)

// developmentToken is the token a development-mode serve printed on standard error.
func developmentToken(t *testing.T, stderr string) string {
	t.Helper()
	_, after, ok := strings.Cut(stderr, "Development token")
	if ok {
		for _, l := range strings.Fields(after) {
			if strings.Count(l, ".") == 2 && len(l) > 100 {
				return l
			}
		}
	}
	t.Fatalf("no development token in:\n%s", stderr)
	return ""
}

// The README's example: bench patch loads a development-mode serve with the token serve printed, given as
// --token or as CASEOPS_TOKEN. Without it, or with a token the server refuses, the 401 says what to pass.
func TestBenchPatchAgainstADevelopmentServer(t *testing.T) {
	t.Parallel()
	s := serve(t, map[string]string{"DATABASE_URL": newDatabaseURL(t)})
	token := developmentToken(t, s.stderr.String())
	load := []string{"bench", "patch", "--url", s.base, "--operations", "5", "--concurrency", "2", "--duration", "1s"}
	ctx := context.Background()

	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"--token", append(load, "--token", token), nil},
		{"CASEOPS_TOKEN", load, map[string]string{"CASEOPS_TOKEN": token}},
	} {
		var stdout, stderr bytes.Buffer
		if err := run(ctx, tc.args, envOf(tc.env), &stdout, &stderr); err != nil {
			t.Fatalf("with the development token in %s: %v\n%s", tc.name, err, &stderr)
		}
		if out := stdout.String(); !strings.HasPrefix(out, "caseops bench patch: "+s.base+", 5 operations, concurrency 2, 1s, 100% PATCH / 0% GET\n") ||
			!strings.Contains(out, "\nerrors       0\n") {
			t.Errorf("with the development token in %s:\n%s", tc.name, out)
		}
	}

	otherSecret := []byte("a-secret-that-this-server-does-not-have")
	wrong, err := auth.Mint(otherSecret, auth.MintOptions{Tenant: "dev", Scopes: auth.PermissionReadWrite, UserID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	refused := "the server at " + s.base + " answered 401 Unauthorized "
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no token", load, nil, refused + "(The request has no Authorization header.) to a request without a token: " +
			"pass --token (serve prints a development token at start), or set CASEOPS_JWT_SECRET to the server's secret for bench to mint one"},
		{"a wrong --token", append(load, "--token", wrong), nil, refused + "(" + devSignatureRefused + ") to the token from --token: " +
			"pass --token a token this server accepts (serve prints a development token at start)"},
		{"a wrong CASEOPS_TOKEN", load, map[string]string{"CASEOPS_TOKEN": wrong}, refused + "(" + devSignatureRefused + ") " +
			"to the token from $CASEOPS_TOKEN: pass --token a token this server accepts (serve prints a development token at start)"},
		{"another secret", load, map[string]string{"CASEOPS_JWT_SECRET": string(otherSecret)}, refused + "(" + devSignatureRefused + ") " +
			"to the token bench minted with $CASEOPS_JWT_SECRET: set it to the server's secret, or pass --token (serve prints a development token at start)"},
	} {
		err := run(ctx, tc.args, envOf(tc.env), io.Discard, io.Discard)
		if err == nil || err.Error() != tc.want {
			t.Errorf("with %s:\n got %v\nwant %s", tc.name, err, tc.want)
		}
	}
}

// devSignatureRefused is the 401 message of a development-mode serve for a token it did not sign.
const devSignatureRefused = "The bearer token's signature is not valid. caseops serve runs in development mode (no JWT secret " +
	"or JWKS URL is set), whose signing secret changes at every restart: use the development token it printed when it last started."
