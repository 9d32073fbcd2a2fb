package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"
)

// Development mode prints a token with every right, so unless an address is given it listens on loopback only;
// with real tokens, or an address given, serve listens where it is told.
func TestDevelopmentModeListensOnLoopback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, nil, "127.0.0.1:8080"},
		{map[string]string{"CASEOPS_JWT_SECRET": tokenTestSecret}, nil, ":8080"},
		{map[string]string{"CASEOPS_JWKS_URL": "https://idp.example/keys"}, nil, ":8080"},
		{nil, []string{"--addr", ":8080"}, ":8080"},
		{map[string]string{"CASEOPS_ADDR": ":9000"}, nil, ":9000"},
		{map[string]string{"CASEOPS_ADDR": ":9000"}, []string{"--addr", "127.0.0.1:9001"}, "127.0.0.1:9001"},
	} {
		cfg, _, err := parseServe(tc.args, envOf(tc.env), &bytes.Buffer{}, &bytes.Buffer{})
		if err != nil || cfg.addr != tc.want {
			t.Errorf("serve %v with %v listens on %q (%v), want %q", tc.args, tc.env, cfg.addr, err, tc.want)
		}
	}
}

// Development mode says where it listens, before it touches the database, and warns when that is not loopback.
func TestDevelopmentModeSaysWhereItListens(t *testing.T) {
	t.Parallel()
	// Nothing listens at this database, and the startup gives up at once: serve stops before it listens.
	const unreachable = "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=1"
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{},
			`level=WARN msg="development mode listens on 127.0.0.1:8080, this machine only: give --addr or CASEOPS_ADDR \(such as :8080\) to be reachable from elsewhere, as from outside a container"`},
		{map[string]string{"CASEOPS_ADDR": "localhost:8080"}, ""},
		{map[string]string{"CASEOPS_ADDR": "[::1]:8080"}, ""},
		{map[string]string{"CASEOPS_ADDR": ":8080"},
			`level=WARN msg="development mode listens on :8080, which other machines may reach: anyone who reads this log can use its token there" source=\$CASEOPS_ADDR`},
		{map[string]string{"CASEOPS_ADDR": "10.0.0.1:8080"},
			`level=WARN msg="development mode listens on 10.0.0.1:8080, which other machines may reach: anyone who reads this log can use its token there" source=\$CASEOPS_ADDR`},
	} {
		env := map[string]string{"DATABASE_URL": unreachable, "CASEOPS_LOG_FORMAT": "text", "CASEOPS_STARTUP_TIMEOUT": "1ms"}
		for k, v := range tc.env {
			env[k] = v
		}
		var stderr bytes.Buffer
		if err := run(context.Background(), []string{"serve"}, envOf(env), &bytes.Buffer{}, &stderr); err == nil {
			t.Fatalf("serve %v started with no database", tc.env)
		}
		lines := regexp.MustCompile(`(?m)^time=\S+ level=WARN msg="development mode listens.*$`).FindAllString(stderr.String(), -1)
		switch {
		case tc.want == "" && len(lines) != 0:
			t.Errorf("serve with %v warns:\n%s", tc.env, lines)
		case tc.want != "" && (len(lines) != 1 || !regexp.MustCompile(`^time=\S+ `+tc.want+`$`).MatchString(lines[0])):
			t.Errorf("serve with %v logged\n%s\nwant one line\n%s", tc.env, stderr.String(), tc.want)
		}
	}
}
