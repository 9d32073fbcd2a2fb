package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/caseops/caseops/cmd/caseops/bench"
	"github.com/caseops/caseops/cmd/caseops/internal/settings"
)

const usage = `caseops tracks long-running eDiscovery operations as Microsoft Graph tagOperation resources.

Usage:
  caseops serve [flags]                     run the HTTP API (creates the database and migrates it first)
  caseops migrate up|down|status|version    manage the database schema
  caseops token --tenant T [flags]          print a bearer token signed with CASEOPS_JWT_SECRET
  caseops healthcheck [--url URL]           exit 0 when the service answers its readiness check (for containers)
  caseops bench patch|pgbench|pairs         load-test PATCH and compare it with pgbench on the same schema
  caseops seed --count N [--tenants T]      load N generated operations and their history (COPY)
  caseops bench-query [--tenant T]          time list and delta requests through HTTP, and the reporting views
  caseops help [COMMAND]                    show this text, or the flags of COMMAND

Run "caseops COMMAND --help" (or "caseops help COMMAND") for the flags of a command and the environment
variables they read.
`

// run is the whole program: main only supplies the process's arguments, environment and streams.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, args[1:], getenv, stdout, stderr)
	case "token":
		return runToken(ctx, args[1:], getenv, stdout, stderr)
	case "healthcheck":
		return runHealthcheck(ctx, args[1:], getenv, stdout, stderr)
	case "bench":
		return bench.Run(ctx, args[1:], getenv, stdout, stderr)
	case "seed":
		return runSeed(ctx, args[1:], getenv, stdout, stderr)
	case "bench-query":
		return runBenchQuery(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help", "-help":
		if len(args) > 1 && args[0] == "help" {
			// "caseops help serve" is "caseops serve --help"; "caseops help bench patch" is "caseops bench patch --help".
			return run(ctx, append(args[1:], "--help"), getenv, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// exitStatus prints what run's error says, if anything, on stderr and gives the process's exit status:
// 0 for success and for help asked for, 1 for any error.
func exitStatus(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var settingsErr *settings.Error
	if errors.As(err, &settingsErr) {
		fmt.Fprintln(stderr, settingsErr) // it names the command itself
		return 1
	}
	fmt.Fprintln(stderr, "caseops:", err)
	return 1
}

func newSettings(name, synopsis string, getenv func(string) string, stdout, stderr io.Writer) *settings.Set {
	return settings.New("caseops "+name, "caseops "+synopsis, getenv, stdout, stderr)
}

const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/caseops?sslmode=disable"

func databaseURLFlag(s *settings.Set) *string {
	return s.URL("database-url", "DATABASE_URL", defaultDatabaseURL, "Postgres connection URL")
}
