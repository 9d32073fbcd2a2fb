package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EnsureDatabase creates the database that databaseURL names when the server does not have it yet.
// It reports whether it created it. Several processes may race to do this; all of them succeed.
func EnsureDatabase(ctx context.Context, databaseURL string) (bool, error) {
	// Parsed as the pool parses it, so that its pool_* settings are read as such and not sent to
	// Postgres as runtime parameters, which it would refuse.
	poolCfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return false, fmt.Errorf("DATABASE_URL: %w", err)
	}
	cfg := poolCfg.ConnConfig
	name := cfg.Database
	if name == "" {
		return false, errors.New("DATABASE_URL names no database")
	}
	// Ask a database that always exists; postgres normally, template1 where an operator dropped it.
	var conn *pgx.Conn
	for _, maintenance := range []string{"postgres", "template1"} {
		c := cfg.Copy()
		c.Database = maintenance
		conn, err = pgx.ConnectConfig(ctx, c)
		if err == nil {
			break
		}
	}
	if err != nil {
		// Connecting to the target itself may still work when the maintenance databases are closed to us.
		if c, err2 := pgx.ConnectConfig(ctx, cfg); err2 == nil {
			_ = c.Close(ctx)
			return false, nil
		}
		return false, mapError(fmt.Errorf("connect to %s: %w", cfg.Host, err))
	}
	defer conn.Close(ctx)

	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return false, mapError(err)
	}
	if exists {
		return false, nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == pgerrcode.DuplicateDatabase || pgErr.Code == pgerrcode.UniqueViolation) {
		return false, nil // another replica created it first
	}
	if err != nil {
		return false, fmt.Errorf("create database %s: %w", name, err)
	}
	return true, nil
}

// PoolConfig tunes the connection pool.
type PoolConfig struct {
	MaxConns int32 // 0: pgxpool's default
	// Tracer, when set, sees every query; tests use it to count round trips.
	Tracer pgx.QueryTracer
}

// hotStatements are prepared on every new connection, so that the first request on it is one round trip
// like every other (pgx runs a statement whose text is a prepared statement's name as that statement).
var hotStatements = []string{createSQL, getSQL, patchSQL, deleteSQL}

// Connect opens a pool to databaseURL. It does not wait for the database: the pool connects on demand,
// so a service can start, and recover, while Postgres is away.
func Connect(ctx context.Context, databaseURL string, pc PoolConfig) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if pc.MaxConns > 0 {
		cfg.MaxConns = pc.MaxConns
	}
	cfg.ConnConfig.Tracer = pc.Tracer
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		// Before the schema exists (a fresh database awaiting migration) there is nothing to prepare yet;
		// pgx then prepares each statement on first use instead.
		var ready bool
		if err := conn.QueryRow(ctx, `SELECT to_regclass('case_operation_events') IS NOT NULL`).Scan(&ready); err != nil || !ready {
			return err
		}
		for _, sql := range hotStatements {
			if _, err := conn.Prepare(ctx, sql, sql); err != nil {
				return fmt.Errorf("prepare: %w", err)
			}
		}
		return nil
	}
	return pgxpool.NewWithConfig(ctx, cfg)
}

// Warm opens n connections, so the first burst of requests does not wait for connection setup.
func Warm(ctx context.Context, pool *pgxpool.Pool, n int) error {
	conns := make([]*pgxpool.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Release()
		}
	}()
	for range n {
		c, err := pool.Acquire(ctx)
		if err != nil {
			return mapError(err)
		}
		conns = append(conns, c)
	}
	return nil
}
