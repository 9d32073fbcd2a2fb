package migrations_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/caseops/caseops/store/storetest"
)

// TestCasesMigrationKeepsEveryOperation loads operations of two tenants, with changes so that there are history
// events and versions above 1, at schema version 9, migrates up, and finds every operation in its tenant's default
// case with the same ETag inputs (version, last_modified_date_time), the same history and the same rollups.
func TestCasesMigrationKeepsEveryOperation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t, storetest.NewEmptyDatabase(t))
	p := newProvider(t, db)
	if _, err := p.UpTo(ctx, 9); err != nil {
		t.Fatalf("up to 9: %v", err)
	}
	exec(t, db, `
		INSERT INTO case_operations (tenant_id, id, status, percent_progress, created_date_time) VALUES
			('contoso', '00000000-0000-0000-0000-000000000001', 'running', 10, now() - interval '2 hours'),
			('contoso', '00000000-0000-0000-0000-000000000002', 'notStarted', NULL, now() - interval '1 hour'),
			('fabrikam', '00000000-0000-0000-0000-000000000001', 'running', 0, now() - interval '3 hours')`)
	exec(t, db, `UPDATE case_operations SET percent_progress = 50 WHERE tenant_id = 'contoso' AND id = '00000000-0000-0000-0000-000000000001'`)
	exec(t, db, `UPDATE case_operations SET status = 'succeeded', completed_date_time = now(), percent_progress = 100
		WHERE tenant_id = 'fabrikam'`)
	exec(t, db, `UPDATE case_operations SET percent_progress = 60 WHERE tenant_id = 'contoso' AND id = '00000000-0000-0000-0000-000000000001'`)

	const operations = `SELECT string_agg(format('%s %s v%s %s %s', tenant_id, id, version, last_modified_date_time, status),
		E'\n' ORDER BY tenant_id, id) FROM case_operations`
	// Every column as it was; case_id, which migration 13 adds, is NULL on these older events (TestEventCaseIDs).
	const events = `SELECT string_agg((to_jsonb(e) - 'case_id')::text, E'\n' ORDER BY seq) FROM case_operation_events e`
	const reports = `SELECT concat_ws(E'\n',
		(SELECT string_agg(to_jsonb(v)::text, E'\n' ORDER BY v::text) FROM case_operations_per_day v),
		(SELECT string_agg(to_jsonb(v)::text, E'\n' ORDER BY v::text) FROM case_operation_durations v),
		(SELECT string_agg(to_jsonb(v)::text, E'\n' ORDER BY v::text) FROM case_operation_status_changes_per_hour v))`
	beforeOps, beforeEvents, beforeReports := text(t, db, operations), text(t, db, events), text(t, db, reports)
	if strings.Count(beforeOps, "\n") != 2 || !strings.Contains(beforeOps, " v3 ") || strings.Count(beforeEvents, "\n") != 5 {
		t.Fatalf("the data at version 9 is not what the test wants:\n%s\n%s", beforeOps, beforeEvents)
	}

	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up: %v", err)
	}
	if got := text(t, db, operations); got != beforeOps {
		t.Errorf("operations after the migration:\n%s\nwant as before:\n%s", got, beforeOps)
	}
	if got := text(t, db, events); got != beforeEvents {
		t.Errorf("history after the migration:\n%s\nwant as before:\n%s", got, beforeEvents)
	}
	if got := text(t, db, reports); got != beforeReports {
		t.Errorf("reports after the migration:\n%s\nwant as before:\n%s", got, beforeReports)
	}
	const placed = `SELECT string_agg(format('%s %s %s %s %s', o.tenant_id, o.id, c.display_name, c.status,
			o.case_id = md5('caseops default case ' || o.tenant_id)::uuid), E'\n' ORDER BY o.tenant_id, o.id)
		FROM case_operations o JOIN ediscovery_cases c ON c.tenant_id = o.tenant_id AND c.id = o.case_id`
	want := strings.Join([]string{
		"contoso 00000000-0000-0000-0000-000000000001 Default case active t",
		"contoso 00000000-0000-0000-0000-000000000002 Default case active t",
		"fabrikam 00000000-0000-0000-0000-000000000001 Default case active t",
	}, "\n")
	if got := text(t, db, placed); got != want {
		t.Errorf("operations' cases after the migration:\n%s\nwant:\n%s", got, want)
	}
	if got := text(t, db, `SELECT count(*)::text FROM ediscovery_cases`); got != "2" {
		t.Errorf("%s cases after the migration, want one per tenant (2)", got)
	}
}

// TestCaseConstraints: what a direct SQL writer may not do with an operation's case.
func TestCaseConstraints(t *testing.T) {
	t.Parallel()
	db := openDB(t, storetest.NewDatabase(t))
	exec(t, db, `INSERT INTO ediscovery_cases (tenant_id, id, display_name) VALUES ('contoso', '10000000-0000-0000-0000-000000000000', 'Case 1')`)
	exec(t, db, `INSERT INTO case_operations (tenant_id, id, case_id, status) VALUES
		('contoso', '00000000-0000-0000-0000-000000000001', '10000000-0000-0000-0000-000000000000', 'running')`)
	// An INSERT that names no case goes to the tenant's default case, which it creates.
	exec(t, db, `INSERT INTO case_operations (tenant_id, id) VALUES ('contoso', '00000000-0000-0000-0000-000000000002')`)
	if got := text(t, db, `SELECT c.display_name || ' ' || c.status FROM case_operations o
		JOIN ediscovery_cases c ON (c.tenant_id, c.id) = (o.tenant_id, o.case_id)
		WHERE o.id = '00000000-0000-0000-0000-000000000002' AND o.case_id = case_operation_default_case_id('contoso')`); got != "Default case active" {
		t.Errorf("an operation inserted without a case is in %q, want the tenant's new default case", got)
	}

	for _, c := range []struct{ name, sql, constraint string }{
		{"a case that does not exist", `INSERT INTO case_operations (tenant_id, id, case_id) VALUES
			('contoso', '00000000-0000-0000-0000-000000000003', '20000000-0000-0000-0000-000000000000')`, "case_operations_case_fkey"},
		{"another tenant's case", `INSERT INTO case_operations (tenant_id, id, case_id) VALUES
			('fabrikam', '00000000-0000-0000-0000-000000000003', '10000000-0000-0000-0000-000000000000')`, "case_operations_case_fkey"},
		{"case_id set to NULL", `UPDATE case_operations SET case_id = NULL WHERE id = '00000000-0000-0000-0000-000000000001'`,
			"case_operations_immutable_columns"},
		{"case_id changed", `UPDATE case_operations SET case_id = case_operation_default_case_id('contoso')
			WHERE id = '00000000-0000-0000-0000-000000000001'`, "case_operations_immutable_columns"},
		{"a case with operations deleted", `DELETE FROM ediscovery_cases WHERE id = '10000000-0000-0000-0000-000000000000'`,
			"case_operations_case_fkey"},
		{"an empty display name", `INSERT INTO ediscovery_cases (tenant_id, id, display_name) VALUES
			('contoso', '30000000-0000-0000-0000-000000000000', '')`, "ediscovery_cases_display_name_length"},
		{"a malformed closedBy", `UPDATE ediscovery_cases SET closed_by = '{"user": 1}'`, "ediscovery_cases_closed_by_valid"},
	} {
		_, err := db.ExecContext(context.Background(), c.sql)
		if pgErr := (*pgconn.PgError)(nil); !errors.As(err, &pgErr) || pgErr.ConstraintName != c.constraint {
			t.Errorf("%s: %v; want a violation of %s", c.name, err, c.constraint)
		}
	}
	if got := text(t, db, `SELECT string_agg(id || ' ' || case_id, ', ' ORDER BY id) FROM case_operations`); got !=
		"00000000-0000-0000-0000-000000000001 10000000-0000-0000-0000-000000000000, 00000000-0000-0000-0000-000000000002 "+
			text(t, db, `SELECT case_operation_default_case_id('contoso')::text`) {
		t.Errorf("the refused statements changed the operations: %s", got)
	}
}

func exec(t *testing.T, db *sql.DB, query string) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func text(t *testing.T, db *sql.DB, query string) string {
	t.Helper()
	var s sql.NullString
	if err := db.QueryRowContext(context.Background(), query).Scan(&s); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return s.String
}
