// Package migrations holds caseops's schema as goose SQL files, embedded in the binary,
// and applies them through a goose Provider guarded by a Postgres advisory lock, so that
// several replicas may start at once.
package migrations

import (
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed *.sql
var files embed.FS

// NewProvider returns a goose Provider over the embedded migrations for db.
// A nil logger keeps goose quiet.
func NewProvider(db *sql.DB, logger *slog.Logger) (*goose.Provider, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	opts := []goose.ProviderOption{goose.WithSessionLocker(locker)}
	if logger != nil {
		opts = append(opts, goose.WithSlog(logger))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, files, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

// LatestVersion is the schema version this binary expects: the highest version among the embedded migrations.
// Readiness compares it with the version goose recorded in the database.
func LatestVersion() int64 {
	var latest int64
	names, _ := fs.Glob(files, "*.sql") // the pattern is valid
	for _, name := range names {
		// A name without a version makes NewProvider fail, so every binary that serves has well-named files.
		if v, err := goose.NumericComponent(name); err == nil && v > latest {
			latest = v
		}
	}
	return latest
}

// Files returns the embedded migration sources, for tools that fingerprint the schema.
func Files() fs.FS { return files }
