package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/caseops/caseops/store/redact"
)

// dropTimeout bounds dropping a run's databases, which happens after an interrupt too, when the run's own
// context is already cancelled.
const dropTimeout = 30 * time.Second

// runDatabases are the databases one benchmark run creates on the server that --database-url names. Each is
// named for the run (prefix_<12 hex digits>), so that two runs, or a run and anything else on the server, never
// share one; the run drops them when it ends, and it never drops, or writes to, a database it did not create.
type runDatabases struct {
	server string // the URL they are created through
	run    string
	log    io.Writer
	owned  []string // created by this run, or being created when it was interrupted
}

func newRunDatabases(server string, log io.Writer) (*runDatabases, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return &runDatabases{server: server, run: hex.EncodeToString(b), log: log}, nil
}

// create makes the empty database prefix_<run> and returns its name and URL.
func (d *runDatabases) create(ctx context.Context, prefix string) (name, dbURL string, err error) {
	name = prefix + "_" + d.run
	if dbURL, err = withDatabase(d.server, name); err != nil {
		return "", "", err
	}
	conn, err := connect(ctx, d.server)
	if err != nil {
		return "", "", fmt.Errorf("connect to %s: %s", redact.URL(d.server), redact.Text(err.Error(), d.server))
	}
	defer conn.Close(ctx)
	// Owned before it exists: an interrupt may come after the server created it but before it answered.
	d.owned = append(d.owned, name)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == pgerrcode.DuplicateDatabase {
		d.owned = d.owned[:len(d.owned)-1]
		return "", "", fmt.Errorf("database %s already exists on the server of --database-url: bench only works on databases it creates, so it leaves that one alone; run it again", name)
	}
	if err != nil {
		return "", "", fmt.Errorf("create database %s: %w", name, err)
	}
	fmt.Fprintf(d.log, "bench: created database %s\n", name)
	const why = "caseops bench created this database for one run and drops it when the run ends; one still here is from a run that was killed, and may be dropped"
	if _, err := conn.Exec(ctx, "COMMENT ON DATABASE "+pgx.Identifier{name}.Sanitize()+" IS '"+why+"'"); err != nil {
		return "", "", fmt.Errorf("comment on database %s: %w", name, err)
	}
	return name, dbURL, nil
}

// drop drops every database the run created, also after ctx is cancelled, so that an interrupted run leaves
// none behind. Whoever still uses one (the service, pgbench) is disconnected.
func (d *runDatabases) drop(ctx context.Context) error {
	if len(d.owned) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dropTimeout)
	defer cancel()
	left := strings.Join(d.owned, ", ")
	conn, err := connect(ctx, d.server)
	if err != nil {
		return fmt.Errorf("drop this run's databases (%s): connect to %s: %s; drop them yourself",
			left, redact.URL(d.server), redact.Text(err.Error(), d.server))
	}
	defer conn.Close(ctx)
	var errs []error
	for _, name := range d.owned {
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			errs = append(errs, fmt.Errorf("drop database %s: %w; drop it yourself", name, err))
			continue
		}
		fmt.Fprintf(d.log, "bench: dropped database %s\n", name)
	}
	d.owned = nil
	return errors.Join(errs...)
}
