package seed_test

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caseops/caseops/cmd/caseops/seed"
	"github.com/caseops/caseops/store"
)

// The README's Reporting section shows analysts queries to copy into psql: each one must run, as written,
// on a seeded database, and answer something.
func TestREADMEReportingQueriesRun(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, found := strings.Cut(string(readme), "\n## Reporting\n")
	if !found {
		t.Fatal("the README has no Reporting section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	blocks := regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(section, -1)
	for _, view := range []string{"case_operations_per_day", "case_operation_durations", "case_operations_running",
		"case_operation_failures", "case_operation_status_changes_per_hour", "case_operations_per_case", "case_estimate_totals"} {
		if !regexp.MustCompile(`\bFROM ` + view + `\b`).MatchString(section) {
			t.Errorf("the Reporting section's SQL queries no FROM %s; want a query of each of the seven views", view)
		}
	}

	// Seeded as caseops seed does, relative to now, so that "the last day" has operations in it.
	g := seed.New(8000, 3, time.Now(), 1)
	ops, events := g.Batch(0, 8000, nil, nil)
	pool := load(t, ops, events)
	for _, block := range blocks {
		for _, statement := range strings.Split(block[1], ";\n") {
			if strings.TrimSpace(statement) == "" {
				continue
			}
			rows, err := pool.Query(context.Background(), statement)
			if err != nil {
				t.Errorf("%s\n: %v", statement, err)
				continue
			}
			n := 0
			for rows.Next() {
				n++
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				t.Errorf("%s\n: %v", statement, err)
			} else if n == 0 {
				t.Errorf("%s\n: no rows on a seeded database", statement)
			}
		}
	}
	var running int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM case_operations WHERE status = $1`, string(store.StatusRunning)).Scan(&running); err != nil || running == 0 {
		t.Errorf("the seeded database has %d running operations (%v)", running, err)
	}
}
