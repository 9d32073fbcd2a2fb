package bench

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caseops/caseops/store/storetest"
)

var builtDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

// caseopsProgram is the caseops program, built once, that bench runs as its children (migrate up, serve):
// the test binary, which os.Executable names, is not it.
var caseopsProgram = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "caseops-bench-test-")
	if err != nil {
		return "", err
	}
	builtDir = dir
	exe := filepath.Join(dir, "caseops")
	if out, err := exec.Command("go", "build", "-o", exe, "github.com/caseops/caseops/cmd/caseops").CombinedOutput(); err != nil {
		return "", errors.New("go build: " + err.Error() + ": " + string(out))
	}
	return exe, nil
})

// syncBuffer is a bytes.Buffer that a running command writes to while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// databaseOID is the oid of the database name on the test server, 0 when there is none.
func databaseOID(t *testing.T, name string) uint32 {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, storetest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var oid uint32
	err = conn.QueryRow(ctx, "SELECT oid FROM pg_database WHERE datname = $1", name).Scan(&oid)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		t.Fatal(err)
	}
	return oid
}

// existingDatabase makes sure the server has a database called name and returns its oid. It drops it at the
// end only when it created it.
func existingDatabase(t *testing.T, name string) uint32 {
	t.Helper()
	if oid := databaseOID(t, name); oid != 0 {
		return oid
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, storetest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, storetest.ServerURL())
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Error(err)
		}
	})
	return databaseOID(t, name)
}

var createdLine = regexp.MustCompile(`(?m)^bench: created database (\S+)$`)

// benchDatabases runs "caseops bench command args" in-process on the test server and returns the databases
// it says it created, its error and its standard output. With interruptAt, it cancels the run's context, as
// SIGINT does, once standard error shows that text, after checking that those databases exist then.
func benchDatabases(t *testing.T, command string, args []string, interruptAt string) (created []string, err error, stdout string) {
	t.Helper()
	exe, err := caseopsProgram()
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		return map[string]string{"CASEOPS_BENCH_DATABASE_URL": storetest.ServerURL()}[k]
	}
	run := runPgbenchCommand
	if command == "pairs" {
		run = runPairs
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, exe, args, getenv, &out, &errOut) }()

	names := func() []string {
		var names []string
		for _, m := range createdLine.FindAllStringSubmatch(errOut.String(), -1) {
			names = append(names, m[1])
		}
		return names
	}
	if interruptAt != "" {
		deadline := time.Now().Add(3 * time.Minute)
		for !strings.Contains(errOut.String(), interruptAt) {
			select {
			case err := <-done:
				t.Fatalf("bench %s ended before %q: %v\n%s", command, interruptAt, err, &errOut)
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("bench %s never printed %q:\n%s", command, interruptAt, &errOut)
			}
		}
		for _, name := range names() {
			if databaseOID(t, name) == 0 {
				t.Errorf("bench %s: database %s does not exist while it runs", command, name)
			}
		}
		cancel()
	}
	select {
	case err = <-done:
	case <-time.After(5 * time.Minute):
		t.Fatalf("bench %s did not end:\n%s", command, &errOut)
	}
	created = names()
	for _, name := range created {
		if !strings.Contains(errOut.String(), "bench: dropped database "+name+"\n") {
			t.Errorf("bench %s did not say it dropped %s:\n%s", command, name, &errOut)
		}
		if databaseOID(t, name) != 0 {
			t.Errorf("bench %s left database %s behind", command, name)
		}
	}
	return created, err, out.String()
}

// bench pgbench and bench pairs work on databases of their own, named for the run: they drop them when the
// run ends, also when it is interrupted, and never touch a database they did not create, such as one of the
// fixed names they used to drop and recreate.
func TestBenchWorksOnDatabasesOfItsOwn(t *testing.T) {
	t.Parallel()
	old := map[string]uint32{}
	for _, name := range []string{"caseops_bench", "caseops_pgbench"} {
		old[name] = existingDatabase(t, name)
	}
	small := []string{"--operations", "10", "--concurrency", "2", "--duration", "1s"}
	long := []string{"--operations", "10", "--concurrency", "2", "--duration", "10m"}
	runName := regexp.MustCompile(`^caseops_(?:pgbench|bench)_([0-9a-f]{12})$`)
	var all []string
	check := func(t *testing.T, created []string, prefixes ...string) {
		t.Helper()
		if len(created) != len(prefixes) {
			t.Fatalf("created %q, want one database for each of %q", created, prefixes)
		}
		var run string
		for i, name := range created {
			m := runName.FindStringSubmatch(name)
			if m == nil || !strings.HasPrefix(name, prefixes[i]+"_") || (run != "" && m[1] != run) {
				t.Errorf("database %s: want %s_ and this run's 12 hex digits", name, prefixes[i])
				continue
			}
			run = m[1]
		}
		all = append(all, created...)
	}

	t.Run("pgbench", func(t *testing.T) {
		created, err, out := benchDatabases(t, "pgbench", small, "")
		check(t, created, pgbenchDatabase)
		if err != nil || !strings.HasPrefix(out, "caseops bench pgbench: "+created[0]+", 10 operations, 2 clients, 2 threads, 1s\ntransactions ") {
			t.Errorf("bench pgbench: %v\n%s", err, out)
		}
	})
	t.Run("pgbench interrupted", func(t *testing.T) {
		created, err, _ := benchDatabases(t, "pgbench", long, "bench: running pgbench for 10m0s\n")
		check(t, created, pgbenchDatabase)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("interrupted bench pgbench: %v, want %v", err, context.Canceled)
		}
	})
	t.Run("pairs", func(t *testing.T) {
		created, err, out := benchDatabases(t, "pairs", append([]string{"--pairs", "1"}, small...), "")
		check(t, created, serviceDatabase, pgbenchDatabase)
		if (err != nil && !strings.HasPrefix(err.Error(), "targets missed: ")) || !strings.HasPrefix(out, "caseops bench pairs: 1 pairs of 1s each, ") ||
			!strings.Contains(out, "\nmedian throughput ratio ") {
			t.Errorf("bench pairs: %v\n%s", err, out)
		}
	})
	t.Run("pairs interrupted", func(t *testing.T) {
		created, err, _ := benchDatabases(t, "pairs", append([]string{"--pairs", "1"}, long...), "bench: pair 1/1: service\n")
		check(t, created, serviceDatabase, pgbenchDatabase)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("interrupted bench pairs: %v, want %v", err, context.Canceled)
		}
	})

	seen := map[string]bool{}
	for _, name := range all {
		if seen[name] {
			t.Errorf("two runs used database %s", name)
		}
		seen[name] = true
	}
	for name, oid := range old {
		if got := databaseOID(t, name); got != oid {
			t.Errorf("database %s: oid %d after the runs, want %d: it was dropped", name, got, oid)
		}
	}
}

// A database that already has the name a run would create is someone else's: the run refuses it, and neither
// writes to it nor drops it.
func TestRunDatabasesRefuseOneTheyDidNotCreate(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	dbs, err := newRunDatabases(storetest.ServerURL(), &stderr)
	if err != nil {
		t.Fatal(err)
	}
	name := pgbenchDatabase + "_" + dbs.run
	oid := existingDatabase(t, name)
	_, _, err = dbs.create(context.Background(), pgbenchDatabase)
	want := "database " + name + " already exists on the server of --database-url: bench only works on databases it creates, so it leaves that one alone; run it again"
	if err == nil || err.Error() != want {
		t.Errorf("create: %v, want %s", err, want)
	}
	if err := dbs.drop(context.Background()); err != nil {
		t.Errorf("drop: %v", err)
	}
	if got := databaseOID(t, name); got != oid {
		t.Errorf("database %s: oid %d, want %d", name, got, oid)
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr: %q, want nothing", &stderr)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, storetest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var comment *string
	if err := conn.QueryRow(ctx, "SELECT shobj_description($1, 'pg_database')", oid).Scan(&comment); err != nil || comment != nil {
		t.Errorf("database %s has comment %v (%v), want none", name, comment, err)
	}
}

// --help says which databases a run creates and drops.
func TestDatabaseURLHelp(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"pgbench", "pairs"} {
		var help strings.Builder
		if err := Run(context.Background(), []string{cmd, "--help"}, func(string) string { return "" }, &help, io.Discard); !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("bench %s --help: %v", cmd, err)
		}
		want := "\n      Postgres server to benchmark on, as a URL; its database is only used to create the run's own databases, " +
			"caseops_pgbench_<run> (and for pairs caseops_bench_<run>), which the run drops when it ends, also on Ctrl-C or SIGTERM; " +
			"it never touches a database it did not create\n"
		if !strings.Contains(help.String(), want) {
			t.Errorf("bench %s --help:\n%s", cmd, &help)
		}
	}
}
