package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// A setting that cannot be used is one line on stderr, exit status 1: the command, the setting as it was
// given (--flag or $VARIABLE), its value and what is expected, then where the settings are listed. No usage
// is dumped before it, and nothing is done.
func TestSettingErrorsAreOneLine(t *testing.T) {
	t.Parallel()
	const help = "; run 'caseops %s --help' for the settings"
	// Nothing listens here: a command that went ahead would fail differently.
	base := map[string]string{"DATABASE_URL": "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=1",
		"CASEOPS_JWT_SECRET": strings.Repeat("s", 32)}
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string // without the pointer to --help
	}{
		{nil, []string{"serve", "--db-max-conns", "abc"}, `caseops serve: --db-max-conns "abc" is not a whole number`},
		{nil, []string{"serve", "--db-max-conns=99999999999999999999"}, `caseops serve: --db-max-conns "99999999999999999999" is too large a number`},
		{map[string]string{"CASEOPS_DB_MAX_CONNS": "abc"}, []string{"serve"}, `caseops serve: $CASEOPS_DB_MAX_CONNS "abc" is not a whole number`},
		{nil, []string{"serve", "--db-max-conns", "0"}, `caseops serve: --db-max-conns must be from 1 to 10000, not 0`},
		{nil, []string{"serve", "--coalesce-wait", "1s"}, `caseops serve: --coalesce-wait must be from 0s to 100ms, not 1s`},
		{map[string]string{"CASEOPS_COALESCE_MAX": "0"}, []string{"serve"}, `caseops serve: $CASEOPS_COALESCE_MAX must be from 1 to 1000, not 0`},
		{nil, []string{"serve", "--migrate=maybe"}, `caseops serve: --migrate "maybe" is not true or false`},
		{map[string]string{"CASEOPS_MIGRATE": "maybe", "CASEOPS_REQUEST_TIMEOUT": "soon"}, []string{"serve"},
			`caseops serve: $CASEOPS_MIGRATE "maybe" is not true or false; $CASEOPS_REQUEST_TIMEOUT "soon" is not a duration such as 90s, 15m or 2h`},
		{nil, []string{"serve", "--request-timeout", "5"}, `caseops serve: --request-timeout "5" is not a duration such as 90s, 15m or 2h`},
		{nil, []string{"serve", "--bogus"}, `caseops serve: there is no setting --bogus`},
		{nil, []string{"serve", "-bogus=1"}, `caseops serve: there is no setting --bogus`},
		{nil, []string{"serve", "--adr", ":1"}, `caseops serve: there is no setting --adr (did you mean --addr?)`},
		{nil, []string{"serve", "--addr"}, `caseops serve: --addr needs a value`},
		{nil, []string{"serve", "---addr", ":1"}, `caseops serve: "---addr" is not a setting: give --name value or --name=value`},
		{nil, []string{"serve", "extra"}, `caseops serve: unexpected argument "extra" (quote a value that has spaces)`},
		{map[string]string{"CASEOPS_JWT_SECRET": "short"}, []string{"serve"},
			`caseops serve: $CASEOPS_JWT_SECRET is 5 bytes long; an HS256 secret must be at least 32 bytes`},
		{map[string]string{"CASEOPS_JWT_SECRET": "short"}, []string{"serve", "--jwt-secret", "still-short"},
			`caseops serve: --jwt-secret is 11 bytes long; an HS256 secret must be at least 32 bytes`},
		{map[string]string{"CASEOPS_JWKS_URL": "https://idp.example/keys"}, []string{"serve"},
			`caseops serve: $CASEOPS_JWT_SECRET and $CASEOPS_JWKS_URL are both set: give one, the secret for HS256 tokens or the JWKS URL for RS256 and ES256`},
		{map[string]string{"CASEOPS_JWT_SECRET": ""}, []string{"serve", "--jwks-url", "idp.example/keys"},
			`caseops serve: --jwks-url must be an absolute http or https URL, not "idp.example/keys"`},
		{nil, []string{"migrate", "sideways"}, `caseops migrate: unknown migrate command "sideways": use up, down, status or version`},
		{nil, []string{"migrate"}, `caseops migrate: migrate needs exactly one of up, down, status, version`},
		{nil, []string{"migrate", "up", "--bogus"}, `caseops migrate: there is no setting --bogus`},
		{nil, []string{"token", "--tenant", "t", "--ttl", "2"}, `caseops token: --ttl "2" is not a duration such as 90s, 15m or 2h`},
		{nil, []string{"token", "--tenant"}, `caseops token: --tenant needs a value`},
		{nil, []string{"token"}, `caseops token: --tenant is required`},
		{map[string]string{"CASEOPS_JWT_SECRET": "short"}, []string{"token", "--tenant", "t"},
			`caseops token: $CASEOPS_JWT_SECRET is 5 bytes long; an HS256 secret must be at least 32 bytes`},
		{nil, []string{"seed", "--count", "x"}, `caseops seed: --count "x" is not a whole number`},
		{nil, []string{"seed"}, `caseops seed: --count must be at least 1, not 0`},
		{nil, []string{"seed", "--count", "5", "--tenants", "0"}, `caseops seed: --tenants must be from 1 to 1000, not 0`},
		{nil, []string{"bench-query", "--requests", "0"}, `caseops bench-query: --requests must be from 1 to 1000000, not 0`},
		{nil, []string{"bench-query", "--view-runs", "many"}, `caseops bench-query: --view-runs "many" is not a whole number`},
		{nil, []string{"bench", "patch", "--mix", "2"}, `caseops bench patch: --mix must be from 0 to 1, not 2`},
		{nil, []string{"bench", "patch", "--mix", "lots"}, `caseops bench patch: --mix "lots" is not a number`},
		{nil, []string{"bench", "patch", "--url", "127.0.0.1:8080"},
			`caseops bench patch: --url must be an absolute http or https URL such as http://127.0.0.1:8080, not "127.0.0.1:8080"`},
		{nil, []string{"bench", "pairs", "--pairs", "0", "--concurrency", "0"},
			`caseops bench pairs: --concurrency must be from 1 to 10000, not 0; --pairs must be at least 1, not 0`},
		{nil, []string{"bench", "pgbench", "--operations", "-1"}, `caseops bench pgbench: --operations must be at least 1, not -1`},
		{nil, []string{"healthcheck", "--url", "ftp://x"}, `caseops healthcheck: --url must be an absolute http or https URL, not "ftp://x"`},
		{nil, []string{"healthcheck", "extra"}, `caseops healthcheck: unexpected argument "extra" (quote a value that has spaces)`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tc.env {
				env[k] = v
			}
			var stdout, stderr, printed bytes.Buffer
			err := run(context.Background(), tc.args, envOf(env), &stdout, &stderr)
			status := exitStatus(err, &printed)
			command := tc.args[0]
			if command == "bench" {
				command += " " + tc.args[1]
			}
			want := tc.want + strings.ReplaceAll(help, "%s", command) + "\n"
			if status != 1 || printed.String() != want {
				t.Errorf("exit status %d, printed\n%q\nwant 1 and\n%q", status, printed.String(), want)
			}
			if stdout.Len() != 0 || stderr.Len() != 0 {
				t.Errorf("also wrote stdout %q and stderr %q", stdout.String(), stderr.String())
			}
		})
	}
}

// settingsLine is the line caseops prints for a problem with a command's settings.
func settingsLine(command, problem string) string {
	return "caseops " + command + ": " + problem + "; run 'caseops " + command + " --help' for the settings"
}

// "caseops help serve" is "caseops serve --help": that command's settings, on stdout, exit status 0.
func TestHelpNamesACommand(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"serve"}, {"migrate"}, {"token"}, {"seed"}, {"bench-query"}, {"healthcheck"}, {"bench", "patch"}} {
		var want, got, stderr, printed bytes.Buffer
		if err := run(context.Background(), append(args, "--help"), envOf(nil), &want, &stderr); exitStatus(err, &printed) != 0 {
			t.Fatalf("%v --help: %v", args, err)
		}
		err := run(context.Background(), append([]string{"help"}, args...), envOf(nil), &got, &stderr)
		if status := exitStatus(err, &printed); status != 0 || got.String() != want.String() || stderr.Len() != 0 || printed.Len() != 0 {
			t.Errorf("caseops help %v: exit status %d, stdout\n%s\nwant\n%s\nstderr %q %q", args, status, got.String(), want.String(), stderr.String(), printed.String())
		}
	}
	var stdout, printed bytes.Buffer
	err := run(context.Background(), []string{"help", "sideways"}, envOf(nil), &stdout, &printed)
	if status := exitStatus(err, &printed); status != 1 || !strings.HasSuffix(printed.String(), "\ncaseops: unknown command \"sideways\"\n") || stdout.Len() != 0 {
		t.Errorf("caseops help sideways: exit status %d, stdout %q, stderr %q", status, stdout.String(), printed.String())
	}
}
