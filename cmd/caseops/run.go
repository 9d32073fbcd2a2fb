package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/caseops/caseops/cmd/caseops/bench"
)

const usage = `caseops tracks long-running eDiscovery operations as Microsoft Graph tagOperation resources.

Usage:
  caseops serve [flags]                     run the HTTP API (creates the database and migrates it first)
  caseops migrate up|down|status|version    manage the database schema
  caseops token --tenant T [flags]          print a bearer token signed with CASEOPS_JWT_SECRET
  caseops healthcheck [--url URL]           exit 0 when the service answers its readiness check (for containers)
  caseops bench patch|pgbench|pairs         load-test PATCH and compare it with pgbench on the same schema
  caseops help                              show this text

Run "caseops COMMAND --help" for the flags of a command and the environment variables they read.
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
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// settings binds flags to environment variables: the variable gives the default, the flag overrides it,
// and --help lists both.
type settings struct {
	fs      *flag.FlagSet
	getenv  func(string) string
	envOf   map[string]string // flag name -> variable
	secret  map[string]bool   // flags whose value --help must not print
	problem error
}

func newSettings(name, synopsis string, getenv func(string) string, stderr io.Writer) *settings {
	s := &settings{fs: flag.NewFlagSet(name, flag.ContinueOnError), getenv: getenv,
		envOf: map[string]string{}, secret: map[string]bool{}}
	s.fs.SetOutput(stderr)
	s.fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: caseops %s\n\nFlags (each overrides its environment variable):\n", synopsis)
		var names []string
		s.fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		sort.Strings(names)
		for _, n := range names {
			f := s.fs.Lookup(n)
			env := ""
			if v := s.envOf[n]; v != "" {
				env = "  [$" + v + "]"
			}
			def := fmt.Sprintf("%q", f.DefValue)
			if s.secret[n] && f.DefValue != "" {
				def = "set, not shown"
			}
			fmt.Fprintf(stderr, "  --%s (default %s)%s\n      %s\n", n, def, env, f.Usage)
		}
	}
	return s
}

func (s *settings) env(name, env string) (string, bool) {
	s.envOf[name] = env
	v := s.getenv(env)
	return v, v != ""
}

func (s *settings) String(name, env, def, help string) *string {
	if v, ok := s.env(name, env); ok {
		def = v
	}
	return s.fs.String(name, def, help)
}

// Secret is a String whose value is never printed.
func (s *settings) Secret(name, env, help string) *string {
	s.secret[name] = true
	return s.String(name, env, "", help)
}

func (s *settings) Bool(name, env string, def bool, help string) *bool {
	if v, ok := s.env(name, env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.problem = errors.Join(s.problem, fmt.Errorf("$%s: %q is not true or false", env, v))
		}
		def = b
	}
	return s.fs.Bool(name, def, help)
}

func (s *settings) Int(name, env string, def int, help string) *int {
	if v, ok := s.env(name, env); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			s.problem = errors.Join(s.problem, fmt.Errorf("$%s: %q is not an integer", env, v))
		}
		def = n
	}
	return s.fs.Int(name, def, help)
}

func (s *settings) Duration(name, env string, def time.Duration, help string) *time.Duration {
	if v, ok := s.env(name, env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			s.problem = errors.Join(s.problem, fmt.Errorf("$%s: %q is not a duration such as 10s", env, v))
		}
		def = d
	}
	return s.fs.Duration(name, def, help)
}

// Parse reads the flags; --help prints the usage and returns flag.ErrHelp.
func (s *settings) Parse(args []string) error {
	if err := s.fs.Parse(args); err != nil {
		return err
	}
	return s.problem
}

// Env lists every variable the command reads, for tools that check the deployment files against it.
func (s *settings) Env() []string {
	var out []string
	for _, v := range s.envOf {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/caseops?sslmode=disable"

func databaseURLFlag(s *settings) *string {
	return s.String("database-url", "DATABASE_URL", defaultDatabaseURL, "Postgres connection URL")
}
