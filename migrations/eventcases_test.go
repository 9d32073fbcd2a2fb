package migrations_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caseops/caseops/store"
	"github.com/caseops/caseops/store/storetest"
)

// TestEventCaseIDs loads cases, operations and history at schema version 12, where events name no case,
// migrates, and shows that delta rounds under a case started before the migration still report exactly the
// case's changes: the older events are read through their operations, and an operation deleted before the
// migration, whose case nothing records, is reported removed under every case (a removal a client ignores
// when it never saw the operation).
func TestEventCaseIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := storetest.NewEmptyDatabase(t)
	db := openDB(t, url)
	p := newProvider(t, db)
	if _, err := p.UpTo(ctx, 12); err != nil {
		t.Fatalf("up to 12: %v", err)
	}
	const (
		caseX = "10000000-0000-0000-0000-00000000000a"
		caseY = "10000000-0000-0000-0000-00000000000b"
		x1    = "00000000-0000-0000-0000-0000000000a1"
		x2    = "00000000-0000-0000-0000-0000000000a2"
		y1    = "00000000-0000-0000-0000-0000000000b1"
		d1    = "00000000-0000-0000-0000-0000000000d1"
	)
	exec(t, db, `INSERT INTO ediscovery_cases (tenant_id, id, display_name) VALUES
		('contoso', '`+caseX+`', 'X'), ('contoso', '`+caseY+`', 'Y')`)
	exec(t, db, `INSERT INTO case_operations (tenant_id, id, case_id, status) VALUES
		('contoso', '`+x1+`', '`+caseX+`', 'running'), ('contoso', '`+x2+`', '`+caseX+`', 'running'),
		('contoso', '`+y1+`', '`+caseY+`', 'running')`)
	exec(t, db, `INSERT INTO case_operations (tenant_id, id, status) VALUES ('contoso', '`+d1+`', 'running')`)
	since, err := store.ParseSnapshot(text(t, db, `SELECT pg_current_snapshot()::text`))
	if err != nil {
		t.Fatal(err)
	}
	// Changes at version 12, which the migration finds in the history without a case.
	exec(t, db, `UPDATE case_operations SET percent_progress = 10 WHERE id IN ('`+x1+`', '`+y1+`', '`+d1+`')`)
	exec(t, db, `DELETE FROM case_operations WHERE id = '`+x2+`'`)
	before := text(t, db, `SELECT string_agg((to_jsonb(e) - 'case_id')::text, E'\n' ORDER BY seq) FROM case_operation_events e`)

	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up: %v", err)
	}
	if got := text(t, db, `SELECT string_agg((to_jsonb(e) - 'case_id')::text, E'\n' ORDER BY seq) FROM case_operation_events e`); got != before {
		t.Errorf("the history changed:\n%s\nwant:\n%s", got, before)
	}
	if got := text(t, db, `SELECT count(*)::text FROM case_operation_events WHERE case_id IS NOT NULL`); got != "0" {
		t.Errorf("%s older events name a case; the migration moves no row", got)
	}
	// A direct write after the migration names its case, as the service's writes do.
	exec(t, db, `UPDATE case_operations SET percent_progress = 20 WHERE id = '`+y1+`'`)
	if got := text(t, db, `SELECT string_agg(kind || ' ' || case_id, ',') FROM case_operation_events WHERE case_id IS NOT NULL`); got != "updated "+caseY {
		t.Errorf("events naming a case after a direct update: %s", got)
	}

	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s := store.New(pool)
	round := func(caseID string) []string {
		t.Helper()
		q := store.DeltaQuery{Top: 100, Since: &since}
		if caseID != "" {
			id := uuid.MustParse(caseID)
			q.Case = &id
		}
		page, err := s.Delta(ctx, "contoso", q)
		if err != nil || page.More {
			t.Fatalf("delta under %q: %v (more: %v)", caseID, err, page.More)
		}
		var out []string
		for _, c := range page.Changes {
			what := c.ID.String()
			switch {
			case c.Operation == nil:
				what += " removed"
			case c.Operation.PercentProgress != nil:
				what += " " + strings.Repeat("+", int(*c.Operation.PercentProgress)/10)
			}
			out = append(out, what)
		}
		return out
	}
	for _, c := range []struct {
		caseID string
		want   []string
	}{
		{caseX, []string{x1 + " +", x2 + " removed"}},
		{caseY, []string{x2 + " removed", y1 + " ++"}},
		{store.DefaultCaseID("contoso").String(), []string{x2 + " removed", d1 + " +"}},
		{"", []string{x1 + " +", x2 + " removed", y1 + " ++", d1 + " +"}},
	} {
		want := slices.Clone(c.want)
		slices.Sort(want)
		if got := round(c.caseID); !slices.Equal(got, want) {
			t.Errorf("delta under case %q since before the migration: %v, want %v", c.caseID, got, want)
		}
	}
}
