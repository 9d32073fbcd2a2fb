package migrations_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caseops/caseops/store/storetest"
)

// The case views answer from what the tables hold: every case (an empty one too) with its operations by type
// and status, and the totals of its finished estimates only.
func TestCaseReportingViews(t *testing.T) {
	t.Parallel()
	pool := storetest.NewPool(t)
	ctx := context.Background()
	const est = "'#microsoft.graph.security.ediscoveryEstimateOperation'"
	_, err := pool.Exec(ctx, `
INSERT INTO ediscovery_cases (tenant_id, id, display_name) VALUES
    ('t1', '00000000-0000-0000-0000-0000000000a1', 'Contoso v. Fabrikam'),
    ('t1', '00000000-0000-0000-0000-0000000000a2', 'Empty'),
    ('t2', '00000000-0000-0000-0000-0000000000b1', 'Other tenant');
INSERT INTO case_operations (tenant_id, id, case_id, odata_type, status, action, indexed_item_count,
    indexed_items_size, unindexed_item_count, unindexed_items_size, mailbox_count, site_count, completed_date_time) VALUES
    ('t1', gen_random_uuid(), '00000000-0000-0000-0000-0000000000a1', `+est+`, 'succeeded', 'estimateStatistics', 100, 1000, 5, 50, 3, 1, now()),
    ('t1', gen_random_uuid(), '00000000-0000-0000-0000-0000000000a1', `+est+`, 'partiallySucceeded', 'estimateStatistics', 20, 200, 1, 10, 1, 0, now()),
    ('t1', gen_random_uuid(), '00000000-0000-0000-0000-0000000000a1', `+est+`, 'running', 'estimateStatistics', 7, 70, 0, 0, 1, 1, NULL),
    ('t2', gen_random_uuid(), '00000000-0000-0000-0000-0000000000b1', `+est+`, 'succeeded', 'estimateStatistics', 9, 9, 9, 9, 9, 9, now());
INSERT INTO case_operations (tenant_id, id, case_id, odata_type, status) VALUES
    ('t1', gen_random_uuid(), '00000000-0000-0000-0000-0000000000a1', '#microsoft.graph.security.ediscoveryHoldOperation', 'running');
INSERT INTO case_operations (tenant_id, id, status) VALUES ('t1', gen_random_uuid(), 'notStarted');`)
	if err != nil {
		t.Fatal(err)
	}
	perCase := rows(t, pool, `SELECT case_display_name, case_status, coalesce(operation_type, '-'), coalesce(status::text, '-'), operations
		FROM case_operations_per_case WHERE tenant_id = 't1'`)
	slices.Sort(perCase)
	want := []string{
		"Contoso v. Fabrikam active ediscoveryEstimateOperation partiallySucceeded 1",
		"Contoso v. Fabrikam active ediscoveryEstimateOperation running 1",
		"Contoso v. Fabrikam active ediscoveryEstimateOperation succeeded 1",
		"Contoso v. Fabrikam active ediscoveryHoldOperation running 1",
		"Default case active ediscoveryTagOperation notStarted 1",
		"Empty active - - 0",
	}
	if !slices.Equal(perCase, want) {
		t.Errorf("case_operations_per_case:\n%q\nwant\n%q", perCase, want)
	}

	totals := rows(t, pool, `SELECT case_display_name, estimates, finished, indexed_item_count, indexed_items_size,
		unindexed_item_count, unindexed_items_size, mailbox_count, site_count, last_completed_date_time IS NOT NULL
		FROM case_estimate_totals WHERE tenant_id = 't1'`)
	slices.Sort(totals)
	want = []string{
		"Contoso v. Fabrikam 3 2 120 1200 6 60 4 1 true",
		"Default case 0 0 0 0 0 0 0 0 false",
		"Empty 0 0 0 0 0 0 0 0 false",
	}
	if !slices.Equal(totals, want) {
		t.Errorf("case_estimate_totals:\n%q\nwant\n%q", totals, want)
	}
}

// rows renders each row of sql as its values joined by spaces.
func rows(t *testing.T, pool *pgxpool.Pool, sql string) []string {
	t.Helper()
	r, err := pool.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	out, err := pgx.CollectRows(r, func(row pgx.CollectableRow) (string, error) {
		values, err := row.Values()
		parts := make([]string, len(values))
		for i, v := range values {
			parts[i] = fmt.Sprint(v)
		}
		return strings.Join(parts, " "), err
	})
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}
