package seed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caseops/caseops/store"
	"github.com/caseops/caseops/store/storetest"
)

// rows runs sql and renders each row as its columns joined by " | ", in the order the query gives.
func rows(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) []string {
	t.Helper()
	r, err := pool.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	out, err := pgx.CollectRows(r, func(row pgx.CollectableRow) (string, error) {
		values, err := row.Values()
		parts := make([]string, len(values))
		for i, v := range values {
			switch v := v.(type) {
			case time.Time:
				parts[i] = v.UTC().Format("2006-01-02T15:04:05.999999")
			case nil:
				parts[i] = "null"
			default:
				parts[i] = fmt.Sprint(v)
			}
		}
		return strings.Join(parts, " | "), err
	})
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

func assertRows(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %d rows\n  %s\nwant %d rows\n  %s", what, len(got), strings.Join(got, "\n  "), len(want), strings.Join(want, "\n  "))
	}
}

// assertSameRows compares two sets of rows in any order, and shows only the rows that differ.
func assertSameRows(t *testing.T, what string, got, want []string) {
	t.Helper()
	got, want = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if slices.Equal(got, want) {
		return
	}
	var missing, extra []string
	for _, w := range want {
		if _, found := slices.BinarySearch(got, w); !found {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if _, found := slices.BinarySearch(want, g); !found {
			extra = append(extra, g)
		}
	}
	t.Errorf("%s: %d rows, want %d; missing %d, unexpected %d:\n- %s\n+ %s", what, len(got), len(want), len(missing), len(extra),
		strings.Join(missing[:min(len(missing), 10)], "\n- "), strings.Join(extra[:min(len(extra), 10)], "\n+ "))
}

// Every view on a small, hand-made history whose answers can be worked out on paper, including changes and
// deletes after the fact, made the way an analyst's SQL would make them.
func TestReportingViewsOnAKnownHistory(t *testing.T) {
	t.Parallel()
	pool := storetest.NewPool(t)
	ctx := context.Background()
	// The operations are written without the history that direct SQL writes get (migration 00006), as a
	// bulk load writes them: the status changes the hourly view counts are the events written by hand below.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := tx.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`SET LOCAL caseops.history = 'written'`)
	// Ten applyTags operations of t1 created on 2026-01-01 at 10:00 that took 10.7, 20.7, ..., 100.7 seconds,
	// and succeeded; two index operations; then a running one, a stuck one, failures, and t2.
	for i := 1; i <= 10; i++ {
		exec(`INSERT INTO case_operations (tenant_id, id, status, action, percent_progress, created_date_time, completed_date_time, last_modified_date_time, result_code)
			VALUES ('t1', gen_random_uuid(), 'succeeded', 'applyTags', 100, '2026-01-01T10:00:00Z', $1::timestamptz, $1::timestamptz, 0)`,
			time.Date(2026, 1, 1, 10, 0, 10*i, 700_000_000, time.UTC))
	}
	exec(`INSERT INTO case_operations (tenant_id, id, status, action, created_date_time, completed_date_time, last_modified_date_time) VALUES
		('t1', gen_random_uuid(), 'succeeded', 'index', '2026-01-01T23:59:59Z', '2026-01-02T00:59:59Z', '2026-01-02T00:59:59Z'),
		('t1', gen_random_uuid(), 'succeeded', 'index', '2026-01-02T00:00:00Z', '2026-01-02T03:00:00Z', '2026-01-02T03:00:00Z')`)
	exec(`INSERT INTO case_operations (tenant_id, id, status, action, percent_progress, created_date_time, last_modified_date_time, created_by) VALUES
		('t1', '00000000-0000-4000-8000-000000000001', 'running', 'contentExport', 40, '2026-01-02T08:00:00Z', '2026-01-02T09:30:00Z', '{"user": {"id": "ada"}}'),
		('t1', '00000000-0000-4000-8000-000000000002', 'running', 'index', 5, '2026-01-02T08:00:00Z', '2026-01-02T08:05:00Z', '{"application": {"id": "tagger"}}'),
		('t2', '00000000-0000-4000-8000-000000000003', 'running', 'applyTags', 0, '2026-01-03T00:00:00Z', '2026-01-03T00:00:00Z', NULL)`)
	exec(`INSERT INTO case_operations (tenant_id, id, status, action, created_date_time, completed_date_time, last_modified_date_time, result_code, result_message) VALUES
		('t1', gen_random_uuid(), 'failed', 'applyTags', '2026-01-02T10:00:00Z', '2026-01-02T10:01:00Z', '2026-01-02T10:01:00Z', 503, 'unavailable'),
		('t1', gen_random_uuid(), 'failed', 'applyTags', '2026-01-02T11:00:00Z', '2026-01-02T11:02:00Z', '2026-01-02T11:02:00Z', 503, 'unavailable'),
		('t1', gen_random_uuid(), 'submissionFailed', 'applyTags', '2026-01-02T12:00:00Z', '2026-01-02T12:00:01Z', '2026-01-02T12:00:01Z', 400, 'bad query'),
		('t1', gen_random_uuid(), 'partiallySucceeded', 'applyTags', '2026-01-02T13:00:00Z', '2026-01-02T13:00:30Z', '2026-01-02T13:00:30Z', 207, 'some'),
		('t1', gen_random_uuid(), 'failed', 'applyTags', '2026-01-02T14:00:00Z', '2026-01-02T14:00:05Z', '2026-01-02T14:00:05Z', NULL, NULL),
		('t2', gen_random_uuid(), 'failed', 'index', '2026-01-03T00:00:00Z', '2026-01-03T00:00:03Z', '2026-01-03T00:00:03Z', 503, 'unavailable')`)
	// Afterwards the stuck t2 operation fails, and the failure without a code is deleted, in one transaction.
	exec(`UPDATE case_operations SET status = 'failed', completed_date_time = '2026-01-03T00:10:00Z', result_code = 500
		WHERE id = '00000000-0000-4000-8000-000000000003'`)
	exec(`DELETE FROM case_operations WHERE tenant_id = 't1' AND status = 'failed' AND result_code IS NULL`)
	// Status changes come from the history.
	exec(`INSERT INTO case_operation_events (tenant_id, operation_id, occurred_at, kind, changes) VALUES
		('t1', gen_random_uuid(), '2026-01-01T10:00:00Z', 'created', '{"status": {"old": null, "new": "running"}}'),
		('t1', gen_random_uuid(), '2026-01-01T10:59:59.999999Z', 'created', '{"status": {"old": null, "new": "running"}, "action": {"old": null, "new": "index"}}'),
		('t1', gen_random_uuid(), '2026-01-01T11:00:00Z', 'updated', '{"status": {"old": "running", "new": "succeeded"}}'),
		('t1', gen_random_uuid(), '2026-01-01T11:10:00Z', 'updated', '{"percentProgress": {"old": 1, "new": 2}}'),
		('t1', gen_random_uuid(), '2026-01-01T11:20:00Z', 'deleted', '{"status": {"old": "succeeded", "new": null}}'),
		('t2', gen_random_uuid(), '2026-01-01T10:30:00Z', 'updated', '{"status": {"old": "running", "new": "succeeded"}}')`)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	assertRows(t, "case_operations_per_day", rows(t, pool, `SELECT * FROM case_operations_per_day ORDER BY tenant_id, day, status, action`), []string{
		"t1 | 2026-01-01T00:00:00 | succeeded | applyTags | 10",
		"t1 | 2026-01-01T00:00:00 | succeeded | index | 1",
		"t1 | 2026-01-02T00:00:00 | submissionFailed | applyTags | 1",
		"t1 | 2026-01-02T00:00:00 | running | contentExport | 1",
		"t1 | 2026-01-02T00:00:00 | running | index | 1",
		"t1 | 2026-01-02T00:00:00 | succeeded | index | 1",
		"t1 | 2026-01-02T00:00:00 | partiallySucceeded | applyTags | 1",
		"t1 | 2026-01-02T00:00:00 | failed | applyTags | 2",
		"t2 | 2026-01-03T00:00:00 | failed | applyTags | 1",
		"t2 | 2026-01-03T00:00:00 | failed | index | 1",
	})
	// t1 applyTags took 10, 20, ..., 100 whole seconds, plus the failures' 60, 120, 1 and 30:
	// 14 durations 1 10 20 30 30 40 50 60 60 70 80 90 100 120. p50 sits at position 6.5 (50 and 60: 55),
	// p90 at 11.7 (90 and 100: 97), p99 at 12.87 (100 and 120: 117.4).
	assertRows(t, "case_operation_durations", rows(t, pool, `SELECT tenant_id, action, operations, p50::text, p90::text, p99::text
		FROM case_operation_durations ORDER BY tenant_id, action`), []string{
		"t1 | applyTags | 14 | 00:00:55 | 00:01:37 | 00:01:57.4",
		"t1 | index | 2 | 02:00:00 | 02:48:00 | 02:58:48",
		"t2 | applyTags | 1 | 00:10:00 | 00:10:00 | 00:10:00",
		"t2 | index | 1 | 00:00:03 | 00:00:03 | 00:00:03",
	})
	assertRows(t, "case_operations_running", rows(t, pool, `SELECT tenant_id, id, action, percent_progress, created_date_time,
			last_reported_date_time, since_last_report = now() - last_reported_date_time, running_for = now() - created_date_time,
			created_by_user_id, created_by_application_id
		FROM case_operations_running ORDER BY tenant_id, id`), []string{
		"t1 | [0 0 0 0 0 0 64 0 128 0 0 0 0 0 0 1] | contentExport | 40 | 2026-01-02T08:00:00 | 2026-01-02T09:30:00 | true | true | ada | null",
		"t1 | [0 0 0 0 0 0 64 0 128 0 0 0 0 0 0 2] | index | 5 | 2026-01-02T08:00:00 | 2026-01-02T08:05:00 | true | true | null | tagger",
	})
	assertRows(t, "case_operation_failures", rows(t, pool, `SELECT * FROM case_operation_failures ORDER BY tenant_id, result_code`), []string{
		"t1 | 207 | 0 | 0 | 1 | 2026-01-02T13:00:30 | 2026-01-02T13:00:30",
		"t1 | 400 | 0 | 1 | 0 | 2026-01-02T12:00:01 | 2026-01-02T12:00:01",
		"t1 | 503 | 2 | 0 | 0 | 2026-01-02T10:01:00 | 2026-01-02T11:02:00",
		"t2 | 500 | 1 | 0 | 0 | 2026-01-03T00:10:00 | 2026-01-03T00:10:00",
		"t2 | 503 | 1 | 0 | 0 | 2026-01-03T00:00:03 | 2026-01-03T00:00:03",
	})
	assertRows(t, "case_operation_status_changes_per_hour", rows(t, pool, `SELECT * FROM case_operation_status_changes_per_hour ORDER BY tenant_id, hour, status`), []string{
		"t1 | 2026-01-01T10:00:00 | running | 2",
		"t1 | 2026-01-01T11:00:00 | succeeded | 1",
		"t2 | 2026-01-01T10:00:00 | succeeded | 1",
	})
}

// Every view on generated operations matches what Go works out from the generated rows themselves; then, after
// the service's own writes and an analyst's direct updates and deletes, every rollup view still matches the
// same question asked of the tables directly.
func TestReportingViewsOnGeneratedOperations(t *testing.T) {
	t.Parallel()
	ops, events := generate(4000, 4)
	pool := load(t, ops, events)

	// Operations per day by status and action.
	perDay := map[string]int{}
	for _, o := range ops {
		perDay[fmt.Sprintf("%s | %s | %s | %s", o.TenantID, o.CreatedDateTime.UTC().Format("2006-01-02T00:00:00"), o.Status, o.Action)]++
	}
	assertSameRows(t, "per day", rows(t, pool, `SELECT tenant_id, day, status, action, operations FROM case_operations_per_day
		ORDER BY tenant_id, day, status, action`), render(perDay, func(k string) string { return k }))

	// Duration percentiles, as percentile_cont computes them, to the microsecond.
	durations := map[string][]float64{}
	for _, o := range ops {
		if o.CompletedDateTime != nil {
			key := o.TenantID + " | " + string(o.Action)
			durations[key] = append(durations[key], math.Floor(o.CompletedDateTime.Sub(o.CreatedDateTime).Seconds()))
		}
	}
	var wantDurations []string
	for key, d := range durations {
		sort.Float64s(d)
		row := fmt.Sprintf("%s | %d", key, len(d))
		for _, p := range []float64{0.5, 0.9, 0.99} {
			row += fmt.Sprintf(" | %d", int64(math.RoundToEven(percentileCont(d, p)*1e6)))
		}
		wantDurations = append(wantDurations, row)
	}
	sort.Slice(wantDurations, func(i, j int) bool { return rowKey(wantDurations[i], 2) < rowKey(wantDurations[j], 2) })
	assertSameRows(t, "durations", rows(t, pool, `SELECT tenant_id, action, operations, (extract(epoch FROM p50) * 1000000)::bigint,
		(extract(epoch FROM p90) * 1000000)::bigint, (extract(epoch FROM p99) * 1000000)::bigint
		FROM case_operation_durations ORDER BY tenant_id, action::text`), wantDurations)

	// Running operations.
	var wantRunning []string
	for _, o := range ops {
		if o.Status == store.StatusRunning {
			wantRunning = append(wantRunning, fmt.Sprintf("%s | %s | %s | %d | %s | %s", o.TenantID, o.ID, o.Action,
				*o.PercentProgress, o.CreatedDateTime.Format("2006-01-02T15:04:05.999999"), o.LastModifiedDateTime.Format("2006-01-02T15:04:05.999999")))
		}
	}
	sort.Slice(wantRunning, func(i, j int) bool { return rowKey(wantRunning[i], 2) < rowKey(wantRunning[j], 2) })
	if len(wantRunning) == 0 {
		t.Fatal("no running operations generated")
	}
	assertSameRows(t, "running", rows(t, pool, `SELECT tenant_id, id::text, action, percent_progress, created_date_time, last_reported_date_time
		FROM case_operations_running ORDER BY tenant_id, id::text`), wantRunning)

	// Failures by result code.
	type failure struct {
		failed, submission, partial int
		first, last                 time.Time
	}
	failures := map[string]*failure{}
	for _, o := range ops {
		if o.Status != store.StatusFailed && o.Status != store.StatusSubmissionFailed && o.Status != store.StatusPartiallySucceeded {
			continue
		}
		key := fmt.Sprintf("%s | %d", o.TenantID, *o.ResultCode)
		f := failures[key]
		if f == nil {
			f = &failure{first: *o.CompletedDateTime, last: *o.CompletedDateTime}
			failures[key] = f
		}
		switch o.Status {
		case store.StatusFailed:
			f.failed++
		case store.StatusSubmissionFailed:
			f.submission++
		default:
			f.partial++
		}
		f.first, f.last = minTime(f.first, *o.CompletedDateTime), maxTime(f.last, *o.CompletedDateTime)
	}
	var wantFailures []string
	for key, f := range failures {
		wantFailures = append(wantFailures, fmt.Sprintf("%s | %d | %d | %d | %s | %s", key, f.failed, f.submission, f.partial,
			f.first.Format("2006-01-02T15:04:05.999999"), f.last.Format("2006-01-02T15:04:05.999999")))
	}
	sort.Slice(wantFailures, func(i, j int) bool { return rowKey(wantFailures[i], 2) < rowKey(wantFailures[j], 2) })
	assertSameRows(t, "failures", rows(t, pool, `SELECT * FROM case_operation_failures ORDER BY tenant_id, lpad(result_code::text, 4, '0')`), wantFailures)

	// Status changes per hour, from the generated history.
	perHour := map[string]int{}
	for _, e := range events {
		var changes struct{ Status *struct{ New *string } }
		if err := json.Unmarshal(e.Changes, &changes); err != nil {
			t.Fatal(err)
		}
		if changes.Status != nil && changes.Status.New != nil {
			perHour[fmt.Sprintf("%s | %s | %s", e.TenantID, e.OccurredAt.UTC().Truncate(time.Hour).Format("2006-01-02T15:04:05"), *changes.Status.New)]++
		}
	}
	assertSameRows(t, "status changes per hour", rows(t, pool, `SELECT tenant_id, hour, status, changes FROM case_operation_status_changes_per_hour
		ORDER BY tenant_id, hour, status::text`), render(perHour, func(k string) string { return k }))

	// Now change things: the service's own statements through the store, and an analyst's direct SQL.
	ctx := context.Background()
	s := store.New(pool)
	audit := store.Audit{RequestID: "test"}
	changed := 0
	for i, o := range ops {
		var err error
		switch {
		case o.Status == store.StatusRunning && i%3 == 0:
			_, _, err = s.Patch(ctx, o.TenantID, o.ID, store.Patch{Status: store.Some(store.StatusSucceeded)}, audit)
		case o.Status == store.StatusRunning && i%3 == 1:
			p := int32(99)
			_, _, err = s.Patch(ctx, o.TenantID, o.ID, store.Patch{PercentProgress: store.Some(&p)}, audit)
		case o.Status == store.StatusNotStarted && i%2 == 0:
			_, _, err = s.Patch(ctx, o.TenantID, o.ID, store.Patch{Status: store.Some(store.StatusFailed), Action: store.Some(store.ActionIndex)}, audit)
		case o.Status == store.StatusSucceeded && i%97 == 0:
			err = s.Delete(ctx, o.TenantID, o.ID, nil, audit)
		case o.Status == store.StatusFailed && i%11 == 0:
			_, _, err = s.Patch(ctx, o.TenantID, o.ID, store.Patch{Action: store.Some(store.ActionConvertToPdf)}, audit)
		default:
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		changed++
	}
	if changed < 30 {
		t.Fatalf("only %d changes", changed)
	}
	if _, err := s.Create(ctx, "tenant-09", store.NewOperation{Status: store.StatusSucceeded}, audit); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		`UPDATE case_operations SET action = 'index' WHERE status = 'partiallySucceeded'`,
		`UPDATE case_operations SET completed_date_time = completed_date_time + interval '1 hour' WHERE status = 'failed' AND action = 'index'`,
		`DELETE FROM case_operations WHERE status = 'submissionFailed' AND result_code = 409`,
		`INSERT INTO case_operations (tenant_id, id, status, created_date_time, completed_date_time)
			SELECT tenant_id, gen_random_uuid(), 'succeeded', created_date_time, completed_date_time FROM case_operations WHERE status = 'failed'`,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	// A transaction may ask for the rollups to be counted per statement, as bulk loads do.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) // a failure below must not leave the pool's Close waiting for this connection
	for _, sql := range []string{
		`SET LOCAL caseops.bulk_load = 'on'`,
		`UPDATE case_operations SET action = 'addToReviewSet' WHERE status = 'succeeded' AND action = 'index'`,
		`DELETE FROM case_operations WHERE status = 'failed' AND result_code = 429`,
		`INSERT INTO case_operation_events (tenant_id, operation_id, kind, changes)
			SELECT tenant_id, id, 'updated', '{"status": {"old": "running", "new": "failed"}}' FROM case_operations WHERE status = 'running'`,
	} {
		if _, err := tx.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for view, direct := range map[string]string{
		`SELECT tenant_id, day, status, action, operations FROM case_operations_per_day ORDER BY 1, 2, 3, 4`: `
			SELECT tenant_id, (created_date_time AT TIME ZONE 'UTC')::date, status, action, count(*)
			FROM case_operations GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`,
		`SELECT tenant_id, action, operations, p50, p90, p99 FROM case_operation_durations ORDER BY 1, 2`: `
			SELECT tenant_id, action, count(*),
				make_interval(secs => percentile_cont(0.5) WITHIN GROUP (ORDER BY floor(extract(epoch FROM completed_date_time - created_date_time))::float8)),
				make_interval(secs => percentile_cont(0.9) WITHIN GROUP (ORDER BY floor(extract(epoch FROM completed_date_time - created_date_time))::float8)),
				make_interval(secs => percentile_cont(0.99) WITHIN GROUP (ORDER BY floor(extract(epoch FROM completed_date_time - created_date_time))::float8))
			FROM case_operations WHERE completed_date_time IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2`,
		`SELECT tenant_id, hour, status, changes FROM case_operation_status_changes_per_hour ORDER BY 1, 2, 3`: `
			SELECT tenant_id, date_trunc('hour', occurred_at AT TIME ZONE 'UTC'), (changes #>> '{status,new}')::case_operation_status, count(*)
			FROM case_operation_events WHERE kind <> 'deleted' AND changes ? 'status' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
	} {
		assertSameRows(t, view, rows(t, pool, view), rows(t, pool, direct))
	}
}

// percentileCont is PostgreSQL's percentile_cont over sorted values: the value at 0-based position p * (n - 1),
// interpolated between its neighbours, in the same floating-point operations.
func percentileCont(sorted []float64, p float64) float64 {
	at := p * float64(len(sorted)-1)
	lo, hi := math.Floor(at), math.Ceil(at)
	low, high := sorted[int(lo)], sorted[int(hi)]
	return low + (at-lo)*(high-low)
}

func render(counts map[string]int, key func(string) string) []string {
	var out []string
	for k, n := range counts {
		out = append(out, fmt.Sprintf("%s | %d", key(k), n))
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// rowKey is the first n columns of a rendered row, to sort by.
func rowKey(row string, n int) string {
	parts := strings.SplitN(row, " | ", n+1)
	return strings.Join(parts[:n], " | ")
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
