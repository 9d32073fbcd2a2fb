package migrations_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver goose runs on
	"github.com/pressly/goose/v3"

	"github.com/caseops/caseops/migrations"
	"github.com/caseops/caseops/store/storetest"
)

// openDB opens url through database/sql, as goose needs, and closes it before the database is dropped.
func openDB(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newProvider(t *testing.T, db *sql.DB) *goose.Provider {
	t.Helper()
	p, err := migrations.NewProvider(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sourceVersions lists the embedded migrations' versions, oldest first.
func sourceVersions(t *testing.T, p *goose.Provider) []int64 {
	t.Helper()
	var versions []int64
	for _, s := range p.ListSources() {
		versions = append(versions, s.Version)
	}
	if len(versions) == 0 {
		t.Fatal("no embedded migrations")
	}
	return versions
}

func TestUpAppliesEveryMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t, storetest.NewEmptyDatabase(t))
	p := newProvider(t, db)
	want := sourceVersions(t, p)

	results, err := p.Up(ctx)
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	if got := appliedVersions(results); !slices.Equal(got, want) {
		t.Fatalf("up applied %v, want every embedded migration %v", got, want)
	}
	if v, err := p.GetDBVersion(ctx); err != nil || v != want[len(want)-1] {
		t.Fatalf("GetDBVersion = %d, %v; want %d", v, err, want[len(want)-1])
	}
	if latest := migrations.LatestVersion(); latest != want[len(want)-1] {
		t.Fatalf("LatestVersion = %d; the newest embedded migration is %d", latest, want[len(want)-1])
	}
	if results, err := p.Up(ctx); err != nil || len(results) != 0 {
		t.Fatalf("a second up applied %v, %v; want nothing", appliedVersions(results), err)
	}
}

// TestDownToZeroRemovesEverything rolls back one migration at a time, as pressly/goose's own tests do:
// every Down section must undo its Up completely, then the migrations must apply again one by one.
func TestDownToZeroRemovesEverything(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t, storetest.NewEmptyDatabase(t))
	p := newProvider(t, db)
	versions := sourceVersions(t, p)
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up: %v", err)
	}

	for i := len(versions) - 1; i >= 0; i-- {
		res, err := p.Down(ctx)
		if err != nil {
			t.Fatalf("down from version %d: %v", versions[i], err)
		}
		if res.Source.Version != versions[i] {
			t.Fatalf("down rolled back %d, want %d", res.Source.Version, versions[i])
		}
	}
	if res, err := p.Down(ctx); !errors.Is(err, goose.ErrNoNextVersion) {
		t.Fatalf("down with nothing applied = %v, %v; want ErrNoNextVersion", res, err)
	}
	if v, err := p.GetDBVersion(ctx); err != nil || v != 0 {
		t.Fatalf("GetDBVersion after down to zero = %d, %v; want 0", v, err)
	}
	if left := objectsOf(t, db); left != "" {
		t.Fatalf("down to zero left objects behind:\n%s", left)
	}

	upByOne(t, p, versions)
	if got, want := schemaOf(t, db), schemaOf(t, openDB(t, storetest.NewDatabase(t))); got != want {
		t.Fatalf("schema after up, down to zero and up again differs from a plain up:\n%s", diff(got, want))
	}
}

func TestUpByOneMatchesUp(t *testing.T) {
	t.Parallel()
	db := openDB(t, storetest.NewEmptyDatabase(t))
	p := newProvider(t, db)

	upByOne(t, p, sourceVersions(t, p))
	if got, want := schemaOf(t, db), schemaOf(t, openDB(t, storetest.NewDatabase(t))); got != want {
		t.Fatalf("schema after up by one differs from a plain up:\n%s", diff(got, want))
	}
}

// TestConcurrentUp starts two replicas at once on an empty database: the session advisory lock lets
// one migrate while the other waits, finds nothing pending, and succeeds too. Without the lock both
// would run the same migration and one would fail.
func TestConcurrentUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := storetest.NewEmptyDatabase(t)
	providers := []*goose.Provider{newProvider(t, openDB(t, url)), newProvider(t, openDB(t, url))}
	want := sourceVersions(t, providers[0])
	// Both replicas first see the migrations pending, so both go for the lock together. (This also
	// creates goose's version table, which goose otherwise races to create before taking the lock.)
	for i, p := range providers {
		if pending, err := p.HasPending(ctx); err != nil || !pending {
			t.Fatalf("replica %d: HasPending = %v, %v; want true", i, pending, err)
		}
	}

	start := make(chan struct{})
	results := make([][]*goose.MigrationResult, len(providers))
	errs := make([]error, len(providers))
	var wg sync.WaitGroup
	for i, p := range providers {
		wg.Go(func() {
			<-start
			results[i], errs[i] = p.Up(ctx)
		})
	}
	close(start)
	wg.Wait()

	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: up: %v", i, err)
		}
	}
	if got := append(appliedVersions(results[0]), appliedVersions(results[1])...); !slices.Equal(got, want) {
		t.Fatalf("the replicas applied %v and %v between them; want %v once",
			appliedVersions(results[0]), appliedVersions(results[1]), want)
	}
	var recorded []int64
	rows, err := openDB(t, url).QueryContext(ctx,
		`SELECT version_id FROM goose_db_version WHERE version_id > 0 ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		recorded = append(recorded, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(recorded, want) {
		t.Fatalf("goose_db_version records %v, want %v once each", recorded, want)
	}
}

// upByOne applies the migrations one at a time and checks that they come in order and then run out.
func upByOne(t *testing.T, p *goose.Provider, versions []int64) {
	t.Helper()
	ctx := context.Background()
	for _, want := range versions {
		res, err := p.UpByOne(ctx)
		if err != nil {
			t.Fatalf("up by one to version %d: %v", want, err)
		}
		if res.Source.Version != want {
			t.Fatalf("up by one applied %d, want %d", res.Source.Version, want)
		}
	}
	if res, err := p.UpByOne(ctx); !errors.Is(err, goose.ErrNoNextVersion) {
		t.Fatalf("up by one with nothing pending = %v, %v; want ErrNoNextVersion", res, err)
	}
	if v, err := p.GetDBVersion(ctx); err != nil || v != versions[len(versions)-1] {
		t.Fatalf("GetDBVersion after up by one = %d, %v; want %d", v, err, versions[len(versions)-1])
	}
}

// ourRelations limits a catalog query to schema public, leaving out goose's version table, its sequence
// and its index, which are goose's and outlive a down to zero by design.
const ourRelations = `
	SELECT c.oid, c.relname, c.relkind FROM pg_class c
	WHERE c.relnamespace = 'public'::regnamespace AND c.relname NOT LIKE 'goose\_db\_version%'`

// schemaOf dumps what an analyst sees of the schema, one sorted line per column, constraint, index,
// view, enum, function, trigger and comment, so that two schemas compare as whole strings.
func schemaOf(t *testing.T, db *sql.DB) string {
	t.Helper()
	return lines(t, db, `
WITH rel AS (`+ourRelations+`)
SELECT line FROM (
	SELECT format('column %s.%s %s %s%s%s%s', r.relname, lpad(a.attnum::text, 3, '0'), a.attname,
		format_type(a.atttypid, a.atttypmod),
		CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
		CASE a.attidentity WHEN 'a' THEN ' generated always as identity'
			WHEN 'd' THEN ' generated by default as identity' ELSE '' END,
		CASE WHEN a.attgenerated = 's' THEN ' generated always as (' || pg_get_expr(d.adbin, d.adrelid) || ') stored'
			WHEN d.adbin IS NOT NULL THEN ' default ' || pg_get_expr(d.adbin, d.adrelid) ELSE '' END)
	FROM rel r
	JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
	LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
	WHERE r.relkind IN ('r', 'p', 'v', 'm', 'f')
	UNION ALL
	SELECT format('constraint %s.%s %s', r.relname, con.conname, pg_get_constraintdef(con.oid))
	FROM pg_constraint con JOIN rel r ON r.oid = con.conrelid
	UNION ALL
	SELECT format('index %s', pg_get_indexdef(r.oid)) FROM rel r WHERE r.relkind IN ('i', 'I')
	UNION ALL
	SELECT format('view %s %s', r.relname, pg_get_viewdef(r.oid)) FROM rel r WHERE r.relkind IN ('v', 'm')
	UNION ALL
	SELECT format('enum %s (%s)', t.typname, string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder))
	FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
	WHERE t.typnamespace = 'public'::regnamespace
	GROUP BY t.typname
	UNION ALL
	SELECT format('function %s', pg_get_functiondef(p.oid))
	FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.prokind IN ('f', 'p')
	UNION ALL
	SELECT format('trigger %s', pg_get_triggerdef(tg.oid))
	FROM pg_trigger tg JOIN rel r ON r.oid = tg.tgrelid WHERE NOT tg.tgisinternal
	UNION ALL
	SELECT format('comment %s%s %s', r.relname, coalesce('.' || a.attname, ''), ds.description)
	FROM rel r JOIN pg_description ds ON ds.classoid = 'pg_class'::regclass AND ds.objoid = r.oid
	LEFT JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum = ds.objsubid AND ds.objsubid > 0
) AS dump(line)
ORDER BY line COLLATE "C"`)
}

// objectsOf lists every object of ours left in schema public: relations (tables, views, sequences,
// indexes), types, functions and triggers, plus extensions and event triggers anywhere.
func objectsOf(t *testing.T, db *sql.DB) string {
	t.Helper()
	return lines(t, db, `
WITH rel AS (`+ourRelations+`)
SELECT line FROM (
	SELECT format('relation %s (relkind %s)', r.relname, r.relkind) FROM rel r
	UNION ALL
	SELECT format('type %s', t.typname) FROM pg_type t
	WHERE t.typnamespace = 'public'::regnamespace AND t.typname NOT LIKE '%goose\_db\_version%'
	UNION ALL
	SELECT format('function %s(%s)', p.proname, pg_get_function_identity_arguments(p.oid))
	FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
	UNION ALL
	SELECT format('trigger %s on %s', tg.tgname, c.relname)
	FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid
	WHERE c.relnamespace = 'public'::regnamespace AND NOT tg.tgisinternal
	UNION ALL
	SELECT format('event trigger %s', evtname) FROM pg_event_trigger
	UNION ALL
	SELECT format('extension %s', extname) FROM pg_extension WHERE extname <> 'plpgsql'
) AS objects(line)
ORDER BY line COLLATE "C"`)
}

// lines runs a query returning one text column and joins its rows with newlines.
func lines(t *testing.T, db *sql.DB, query string) string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), query)
	if err != nil {
		t.Fatalf("catalog query: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		out = append(out, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("catalog query: %v", err)
	}
	return strings.Join(out, "\n")
}

// diff shows the lines only one of two sorted dumps has.
func diff(got, want string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	g, w := in(got), in(want)
	var b strings.Builder
	for _, l := range strings.Split(want, "\n") {
		if !g[l] {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range strings.Split(got, "\n") {
		if !w[l] {
			b.WriteString("+ " + l + "\n")
		}
	}
	return b.String()
}

func appliedVersions(results []*goose.MigrationResult) []int64 {
	var versions []int64
	for _, r := range results {
		versions = append(versions, r.Source.Version)
	}
	return versions
}
