package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/caseops/caseops/migrations"
	"github.com/caseops/caseops/store"
)

// migrateUp applies every pending migration under goose's Postgres advisory lock, then builds any index
// a killed bulk load left unbuilt, so that the service never runs on tables without their primary key.
func migrateUp(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	if err := applyMigrations(ctx, pool, logger); err != nil {
		return err
	}
	return store.New(pool).FinishDeferredIndexes(ctx, func(index string, took time.Duration) {
		logger.Info("built an index an interrupted bulk load had dropped", "index", index, "duration", took.String())
	})
}

// applyMigrations applies every pending migration under goose's Postgres advisory lock.
func applyMigrations(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	return withProvider(pool, logger, func(p *goose.Provider) error {
		results, err := p.Up(ctx)
		for _, r := range results {
			logger.Info("applied migration", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration.String())
		}
		return err
	})
}

func withProvider(pool *pgxpool.Pool, logger *slog.Logger, f func(*goose.Provider) error) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := migrations.NewProvider(db, nil)
	if err != nil {
		return err
	}
	_ = logger
	return f(p)
}

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	s := newSettings("migrate", "migrate up|down|status|version [flags]", getenv, stdout, stderr)
	dbURL := databaseURLFlag(s)
	if err := s.Parse(args); err != nil {
		return err
	}
	rest := s.Flags().Args()
	if len(rest) > 0 {
		// Flags may follow the command too: "migrate up --help" is help, as "migrate --help" is.
		verb := rest[0]
		if err := s.Parse(rest[1:]); err != nil {
			return err
		}
		rest = append([]string{verb}, s.Flags().Args()...)
	}
	if len(rest) != 1 {
		return s.Errorf("migrate needs exactly one of up, down, status, version")
	}
	logger := newLogger("text", stderr)
	verb := rest[0]
	switch verb {
	case "up", "down", "status", "version":
	default:
		return s.Errorf("unknown migrate command %q: use up, down, status or version", verb)
	}
	if verb == "up" {
		if _, err := store.EnsureDatabase(ctx, *dbURL); err != nil {
			return err
		}
	}
	pool, err := store.Connect(ctx, *dbURL, store.PoolConfig{})
	if err != nil {
		return err
	}
	defer pool.Close()

	if verb != "up" {
		// Only up creates the database: the others look, and a database that is not there has nothing to show.
		if err := store.Ping(ctx, pool); errors.Is(err, store.ErrNoDatabase) {
			cc := pool.Config().ConnConfig
			return fmt.Errorf("database %q does not exist on %s:%d; 'caseops migrate up' or 'caseops serve' creates it", cc.Database, cc.Host, cc.Port)
		} else if err != nil {
			return err
		}
	}
	return withProvider(pool, logger, func(p *goose.Provider) error {
		if verb != "up" {
			// goose would create its version table to answer; a command that only looks must not write.
			var versioned bool
			if err := pool.QueryRow(ctx, `SELECT to_regclass('goose_db_version') IS NOT NULL`).Scan(&versioned); err != nil {
				return err
			}
			if !versioned {
				return describeUnmigrated(verb, p.ListSources(), stdout)
			}
			if verb == "down" {
				// goose cannot roll back a version it has no file for: the explanation is the whole answer.
				if err := newerSchema(ctx, p); err != nil {
					return err
				}
			}
			warnNewerSchema(ctx, p, stderr)
		}
		switch verb {
		case "up":
			results, err := p.Up(ctx)
			for _, r := range results {
				fmt.Fprintf(stdout, "applied %s (%s)\n", r.Source.Path, r.Duration.Round(1e6))
			}
			if err != nil {
				return err
			}
			if len(results) == 0 {
				fmt.Fprintln(stdout, "no pending migrations")
				warnNewerSchema(ctx, p, stderr)
			}
			// An interrupted bulk load may have left indexes unbuilt; the schema is not whole without them.
			return store.New(pool).FinishDeferredIndexes(ctx, func(index string, took time.Duration) {
				fmt.Fprintf(stdout, "built index %s, which an interrupted bulk load had dropped (%s)\n", index, took.Round(1e6))
			})
		case "down":
			r, err := p.Down(ctx)
			if errors.Is(err, goose.ErrNoNextVersion) {
				fmt.Fprintln(stdout, "no migrations to roll back")
				return nil
			}
			if r != nil {
				fmt.Fprintf(stdout, "rolled back %s (%s)\n", r.Source.Path, r.Duration.Round(1e6))
			}
			return err
		case "status":
			statuses, err := p.Status(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tSTATE\tAPPLIED AT\tFILE")
			for _, st := range statuses {
				at := "-"
				if !st.AppliedAt.IsZero() {
					at = st.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", st.Source.Version, st.State, at, st.Source.Path)
			}
			return tw.Flush()
		default: // version
			v, err := p.GetDBVersion(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, v)
			return nil
		}
	})
}

// warnNewerSchema says so when a later caseops has migrated the database: this binary knows none of
// those migrations, so it can neither apply nor roll them back, and its status does not list them.
func warnNewerSchema(ctx context.Context, p *goose.Provider, stderr io.Writer) {
	if err := newerSchema(ctx, p); err != nil {
		fmt.Fprintf(stderr, "caseops: %v\n", err)
	}
}

// newerSchema is the explanation warnNewerSchema prints, or nil when this binary knows the database's schema.
func newerSchema(ctx context.Context, p *goose.Provider) error {
	if v, err := p.GetDBVersion(ctx); err == nil && v > migrations.LatestVersion() {
		return fmt.Errorf("the database's schema is at version %d, newer than this binary's %d: use the caseops that migrated it",
			v, migrations.LatestVersion())
	}
	return nil
}

// describeUnmigrated answers status, version or down for a database where no migration was ever applied.
func describeUnmigrated(verb string, sources []*goose.Source, stdout io.Writer) error {
	switch verb {
	case "version":
		fmt.Fprintln(stdout, 0)
	case "down":
		fmt.Fprintln(stdout, "no migrations to roll back")
	default: // status
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tSTATE\tAPPLIED AT\tFILE")
		for _, src := range sources {
			fmt.Fprintf(tw, "%d\t%s\t-\t%s\n", src.Version, goose.StatePending, src.Path)
		}
		return tw.Flush()
	}
	return nil
}
