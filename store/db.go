package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caseops/caseops/store/redact"
)

// parseError says why databaseURL could not be parsed without quoting its password. pgx's own message
// quotes the URL with the password masked, but only as far as it could make the URL out: a password
// holding an '@' showed through.
func parseError(databaseURL string, err error) error {
	reason := err.Error()
	var pce *pgconn.ParseConfigError
	if errors.As(err, &pce) {
		// "cannot parse `URL`: reason" or "cannot parse `URL`: reason (cause)": keep the reason and the cause.
		if cause := errors.Unwrap(pce); cause != nil {
			reason = strings.TrimSuffix(reason, " ("+cause.Error()+")")
			_, reason, _ = cutLast(reason, "`: ")
			reason += ": " + cause.Error()
		} else {
			_, reason, _ = cutLast(reason, "`: ")
		}
	}
	return fmt.Errorf("DATABASE_URL %s could not be parsed: %s", redact.URL(databaseURL), redact.Text(reason, databaseURL))
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return "", s, false
}

// DefaultConnectTimeout bounds each new connection, its TLS and authentication included, when the database
// URL sets no connect_timeout (or sets 0): without it a server that accepts the connection but never
// answers would hold a command, or serve's startup, forever.
const DefaultConnectTimeout = 10 * time.Second

// ParseConfig parses databaseURL as the pool does, so that its pool_* settings are read as such and not
// sent to Postgres as runtime parameters, which it would refuse; and it bounds connecting by
// DefaultConnectTimeout unless the URL says otherwise.
func ParseConfig(databaseURL string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, parseError(databaseURL, err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	return cfg, nil
}

// EnsureDatabase creates the database that databaseURL names when the server does not have it yet.
// It reports whether it created it. Several processes may race to do this; all of them succeed.
func EnsureDatabase(ctx context.Context, databaseURL string) (bool, error) {
	poolCfg, err := ParseConfig(databaseURL)
	if err != nil {
		return false, err
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
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) {
			// The server itself did not answer (refused, unreachable, timed out): asking it for another
			// database would only wait as long again.
			return false, mapError(fmt.Errorf("connect to %s: %w", cfg.Host, err))
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
	// StatementTimeout, when positive, is every connection's statement_timeout: Postgres itself ends, and
	// rolls back, a statement that runs longer. Below the request timeout, it makes a request that timed out
	// in the database one that wrote nothing.
	StatementTimeout time.Duration
	// Tracer, when set, sees every query; tests use it to count round trips.
	Tracer pgx.QueryTracer
}

// hotStatements are prepared on every new connection, so that the first request on it is one round trip
// like every other (pgx runs a statement whose text is a prepared statement's name as that statement).
var hotStatements = []string{createSQL, getSQL, patchSQL, deleteSQL, beginSQL, commitSQL}

// schemaBehind are the errors of a statement that names what the schema does not have yet.
var schemaBehind = map[string]bool{pgerrcode.UndefinedTable: true, pgerrcode.UndefinedColumn: true,
	pgerrcode.UndefinedFunction: true, pgerrcode.UndefinedObject: true}

// Connect opens a pool to databaseURL. It does not wait for the database: the pool connects on demand,
// so a service can start, and recover, while Postgres is away.
func Connect(ctx context.Context, databaseURL string, pc PoolConfig) (*pgxpool.Pool, error) {
	cfg, err := ParseConfig(databaseURL)
	if err != nil {
		return nil, err
	}
	if pc.MaxConns > 0 {
		cfg.MaxConns = pc.MaxConns
	}
	cfg.ConnConfig.Tracer = pc.Tracer
	if pc.StatementTimeout > 0 {
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(max(pc.StatementTimeout.Milliseconds(), 1), 10)
	}
	cfg.BeforeConnect = (&connectBackoff{}).beforeConnect
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		for _, sql := range hotStatements {
			_, err := conn.Prepare(ctx, sql, sql)
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && schemaBehind[pgErr.Code] {
				// Before the schema has what they use (a fresh database awaiting migration, an older schema)
				// there is nothing to prepare yet; pgx then prepares each statement on first use instead.
				return nil
			}
			if err != nil {
				return fmt.Errorf("prepare: %w", err)
			}
		}
		return nil
	}
	return pgxpool.NewWithConfig(ctx, cfg)
}

// Ping checks that the database answers; ErrNoDatabase when the server has no database of that name.
func Ping(ctx context.Context, pool *pgxpool.Pool) error {
	return mapError(pool.Ping(ctx))
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
