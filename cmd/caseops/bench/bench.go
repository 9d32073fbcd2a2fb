// Package bench measures caseops under load: PATCH progress updates against a running server, the same work
// done by pgbench directly against the schema, and both in alternating pairs so the ratio between them is fair
// on a machine whose speed drifts.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/caseops/caseops/cmd/caseops/internal/settings"
)

const usage = `caseops bench measures PATCH throughput and latency, and the database's own rate for the same work.

Usage:
  caseops bench patch [flags]     create operations on a running server, then PATCH (and GET) them at a concurrency
  caseops bench pgbench [flags]   run the plain update-and-history transaction with pgbench on a fresh database
  caseops bench pairs [flags]     start the service, then alternate service and pgbench runs and compare them

pgbench and pairs create their databases for the run, named caseops_pgbench_<run> and caseops_bench_<run>, and
drop them when it ends, also on Ctrl-C or SIGTERM. They never touch a database they did not create.

Run "caseops bench COMMAND --help" for the flags of a command and the environment variables they read.
`

// Run is the bench command: args are what follows "caseops bench".
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("bench needs a command: patch, pgbench or pairs")
	}
	switch args[0] {
	case "patch":
		return runPatch(ctx, args[1:], getenv, stdout, stderr)
	case "pgbench", "pairs":
		// Both run this program again as children: caseops migrate up, and for pairs caseops serve.
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		if args[0] == "pgbench" {
			return runPgbenchCommand(ctx, exe, args[1:], getenv, stdout, stderr)
		}
		return runPairs(ctx, exe, args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown bench command %q", args[0])
}

func newSettings(name, synopsis string, getenv func(string) string, stdout, stderr io.Writer) *settings.Set {
	return settings.New("caseops bench "+name, "caseops bench "+synopsis, getenv, stdout, stderr).NoArguments()
}

// loadFlags are the settings of a load run against the HTTP API, shared by patch and pairs.
type loadFlags struct {
	set            *settings.Set
	operations     *int
	concurrency    *int
	duration       *time.Duration
	mix            *float64
	token          *string
	maxRequests    *int
	requestTimeout *time.Duration
}

func addLoadFlags(s *settings.Set) loadFlags {
	return loadFlags{
		set:         s,
		operations:  s.Int("operations", "CASEOPS_BENCH_OPERATIONS", 1000, "operations to create before the load; each request picks one at random"),
		concurrency: s.Int("concurrency", "CASEOPS_BENCH_CONCURRENCY", 32, "requests in flight at once (one worker each)"),
		duration:    s.Duration("duration", "CASEOPS_BENCH_DURATION", 20*time.Second, "how long each load run lasts"),
		mix:         s.Float("mix", "CASEOPS_BENCH_MIX", 1, "share of requests that are PATCH; the rest GET a random operation (0.8: 80% PATCH, 20% GET)"),
		token: s.Secret("token", "CASEOPS_TOKEN", "bearer token sent as Authorization: Bearer (for a development-mode serve, the token it prints at start); when empty, one is minted "+
			"for tenant \"bench\" with CASEOPS_JWT_SECRET (patch sends none when that is unset too; pairs makes up a secret for the server it starts)"),
		maxRequests: s.Int("max-requests", "CASEOPS_BENCH_MAX_REQUESTS", 5_000_000, "most requests one run sends, whatever the duration (bounds the latency samples kept)"),
		requestTimeout: s.Duration("request-timeout", "CASEOPS_BENCH_REQUEST_TIMEOUT", 10*time.Second,
			"longest one request may take before it counts as a transport error"),
	}
}

func (f loadFlags) validate() error {
	var errs []error
	if *f.operations < 1 || *f.operations > 10_000_000 {
		errs = append(errs, fmt.Errorf("%s must be from 1 to 10000000, not %d", f.set.Source("operations"), *f.operations))
	}
	if *f.concurrency < 1 || *f.concurrency > 10_000 {
		errs = append(errs, fmt.Errorf("%s must be from 1 to 10000, not %d", f.set.Source("concurrency"), *f.concurrency))
	}
	if *f.duration <= 0 {
		errs = append(errs, fmt.Errorf("%s must be more than 0s, not %s", f.set.Source("duration"), *f.duration))
	}
	if !(*f.mix >= 0 && *f.mix <= 1) { // NaN too
		errs = append(errs, fmt.Errorf("%s must be from 0 to 1, not %g", f.set.Source("mix"), *f.mix))
	}
	if *f.maxRequests < 1 {
		errs = append(errs, fmt.Errorf("%s must be at least 1, not %d", f.set.Source("max-requests"), *f.maxRequests))
	}
	if *f.requestTimeout <= 0 {
		errs = append(errs, fmt.Errorf("%s must be more than 0s, not %s", f.set.Source("request-timeout"), *f.requestTimeout))
	}
	return f.set.Invalid(errs...)
}

func (f loadFlags) config(serverPID int) loadConfig {
	return loadConfig{
		concurrency:    *f.concurrency,
		duration:       *f.duration,
		mix:            *f.mix,
		maxRequests:    int64(*f.maxRequests),
		requestTimeout: *f.requestTimeout,
		serverPID:      serverPID,
	}
}
