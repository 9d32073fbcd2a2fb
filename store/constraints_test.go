package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caseops/caseops/store/storetest"
)

// These tests write to the tables directly, as an analyst or a rogue writer would, and check that the
// schema itself refuses what the API would refuse (CONTRACT.md section 6): a direct SQL writer must not
// be able to store an operation the service could never have produced.

var statuses = []string{"notStarted", "submissionFailed", "running", "succeeded", "partiallySucceeded", "failed"}

var terminal = map[string]bool{"submissionFailed": true, "succeeded": true, "partiallySucceeded": true, "failed": true}

// seedOperation inserts, in a tenant of its own, one operation in status (the database records its
// creation event), and returns the named arguments @tenant and @id that name it.
func seedOperation(t *testing.T, pool *pgxpool.Pool, status string) pgx.NamedArgs {
	t.Helper()
	args := pgx.NamedArgs{"tenant": "tenant-" + uuid.NewString(), "id": uuid.New(), "status": status}
	_, err := pool.Exec(context.Background(), `
		INSERT INTO case_operations (tenant_id, id, status, percent_progress, completed_date_time, created_by, result_message)
		VALUES (@tenant, @id, @status::case_operation_status, 40,
			CASE WHEN case_operation_status_is_terminal(@status::case_operation_status) THEN now() END,
			'{"user": {"id": "u1", "displayName": "Ada"}}', 'tagging')`, args)
	if err != nil {
		t.Fatalf("seed a %s operation: %v", status, err)
	}
	return args
}

// tenantRows returns everything the tenant has in both tables, as JSON, to tell whether a statement wrote anything.
func tenantRows(t *testing.T, pool *pgxpool.Pool, args pgx.NamedArgs) string {
	t.Helper()
	var rows string
	err := pool.QueryRow(context.Background(), `
		SELECT (SELECT coalesce(jsonb_agg(to_jsonb(o) ORDER BY o.id), '[]') FROM case_operations o WHERE o.tenant_id = @tenant)::text
			|| E'\n' ||
			(SELECT coalesce(jsonb_agg(to_jsonb(e) ORDER BY e.seq), '[]') FROM case_operation_events e WHERE e.tenant_id = @tenant)::text`,
		args).Scan(&rows)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// refusal is a statement the schema must refuse, with the error Postgres must give.
type refusal struct {
	name       string
	from       string // status of the seeded operation; notStarted when empty
	sql        string // @tenant and @id name the seeded operation
	code       string // SQLSTATE
	constraint string // the constraint the error names; Postgres names none for invalid enum input
	column     string // the column a not-null violation names
}

func TestSchemaRefusesWhatTheContractForbids(t *testing.T) {
	t.Parallel()
	pool := storetest.NewPool(t)

	const (
		insert = `INSERT INTO case_operations (tenant_id, id, %s) VALUES (@tenant, gen_random_uuid(), %s)`
		update = `UPDATE case_operations SET %s WHERE tenant_id = @tenant AND id = @id`
		check  = pgerrcode.CheckViolation
	)
	cases := []refusal{
		{name: "percent_progress 101", sql: fmt.Sprintf(insert, "percent_progress", "101"),
			code: check, constraint: "case_operations_percent_progress_range"},
		{name: "percent_progress -1", sql: fmt.Sprintf(update, "percent_progress = -1"),
			code: check, constraint: "case_operations_percent_progress_range"},

		{name: "completed_date_time on a running operation", from: "running",
			sql:  fmt.Sprintf(update, "completed_date_time = now()"),
			code: check, constraint: "case_operations_completed_when_terminal"},
		{name: "completed_date_time on a new notStarted operation",
			sql:  fmt.Sprintf(insert, "status, completed_date_time", "'notStarted', now()"),
			code: check, constraint: "case_operations_completed_when_terminal"},
		{name: "running to succeeded without completed_date_time", from: "running",
			sql:  fmt.Sprintf(update, "status = 'succeeded'"),
			code: check, constraint: "case_operations_completed_when_terminal"},
		{name: "completed_date_time cleared on a succeeded operation", from: "succeeded",
			sql:  fmt.Sprintf(update, "completed_date_time = NULL"),
			code: check, constraint: "case_operations_completed_when_terminal"},
		{name: "completed before created",
			sql:  fmt.Sprintf(insert, "status, created_date_time, completed_date_time", "'succeeded', now(), now() - interval '1 second'"),
			code: check, constraint: "case_operations_completed_after_created"},
		{name: "completed moved before created", from: "failed",
			sql:  fmt.Sprintf(update, "completed_date_time = created_date_time - interval '1 microsecond'"),
			code: check, constraint: "case_operations_completed_after_created"},

		{name: "unknown status paused", sql: fmt.Sprintf(insert, "status", "'paused'"),
			code: pgerrcode.InvalidTextRepresentation},
		{name: "status set to paused", sql: fmt.Sprintf(update, "status = 'paused'"),
			code: pgerrcode.InvalidTextRepresentation},
		{name: "status in the wrong case", sql: fmt.Sprintf(insert, "status", "'Running'"),
			code: pgerrcode.InvalidTextRepresentation},
		{name: "unknown action", sql: fmt.Sprintf(insert, "action", "'deleteEverything'"),
			code: pgerrcode.InvalidTextRepresentation},
		{name: "action unknownFutureValue", sql: fmt.Sprintf(insert, "action", "'unknownFutureValue'"),
			code: pgerrcode.InvalidTextRepresentation},
		{name: "action set to unknownFutureValue", sql: fmt.Sprintf(update, "action = 'unknownFutureValue'"),
			code: pgerrcode.InvalidTextRepresentation},
		{name: "status null", sql: fmt.Sprintf(insert, "status", "NULL"),
			code: pgerrcode.NotNullViolation, column: "status"},
		{name: "action null", sql: fmt.Sprintf(update, "action = NULL"),
			code: pgerrcode.NotNullViolation, column: "action"},

		{name: "odata_type unknown", sql: fmt.Sprintf(insert, "odata_type", "'#microsoft.graph.user'"),
			code: check, constraint: "case_operations_odata_type_known"},
		{name: "odata_type without its #", sql: fmt.Sprintf(insert, "odata_type", "'microsoft.graph.tagOperation'"),
			code: check, constraint: "case_operations_odata_type_known"},
		{name: "odata_type null", sql: fmt.Sprintf(insert, "odata_type", "NULL"),
			code: pgerrcode.NotNullViolation, column: "odata_type"},
		{name: "odata_type of a security type that does not exist",
			sql:  fmt.Sprintf(insert, "odata_type", "'#microsoft.graph.security.ediscoveryDeleteOperation'"),
			code: check, constraint: "case_operations_odata_type_known"},
		{name: "estimate with a negative indexed_item_count",
			sql:  fmt.Sprintf(insert, "odata_type, indexed_item_count", "'#microsoft.graph.security.ediscoveryEstimateOperation', -1"),
			code: check, constraint: "case_operations_indexed_item_count_nonnegative"},
		{name: "export_format on a tag operation", sql: fmt.Sprintf(update, "export_format = 'pst'"),
			code: check, constraint: "case_operations_own_properties_only"},
		{name: "statistics_options on a legacy estimate of another type",
			sql:  fmt.Sprintf(insert, "odata_type, statistics_options", "'#microsoft.graph.caseExportOperation', 'includeRefiners'"),
			code: check, constraint: "case_operations_own_properties_only"},
		{name: "flags with an unknown member",
			sql:  fmt.Sprintf(insert, "odata_type, export_options", "'#microsoft.graph.security.ediscoveryExportOperation', 'originalFiles,everything'"),
			code: check, constraint: "case_operations_export_options_valid"},
		{name: "flags out of member order",
			sql:  fmt.Sprintf(insert, "odata_type, export_options", "'#microsoft.graph.security.ediscoveryExportOperation', 'tags,originalFiles'"),
			code: check, constraint: "case_operations_export_options_valid"},
		{name: "flags empty",
			sql:  fmt.Sprintf(insert, "odata_type, export_criteria", "'#microsoft.graph.security.ediscoverySearchExportOperation', ''"),
			code: check, constraint: "case_operations_export_criteria_valid"},
		{name: "flags unknownFutureValue",
			sql:  fmt.Sprintf(insert, "odata_type, items_to_include", "'#microsoft.graph.security.ediscoveryAddToReviewSetOperation', 'unknownFutureValue'"),
			code: check, constraint: "case_operations_items_to_include_valid"},
		{name: "metadata that is not an array",
			sql:  fmt.Sprintf(insert, "odata_type, report_file_metadata", `'#microsoft.graph.security.ediscoveryEstimateOperation', '{"fileName": "a"}'`),
			code: check, constraint: "case_operations_report_file_metadata_valid"},
		{name: "metadata with a negative size",
			sql:  fmt.Sprintf(insert, "odata_type, export_file_metadata", `'#microsoft.graph.security.ediscoveryExportOperation', '[{"size": -1}]'`),
			code: check, constraint: "case_operations_export_file_metadata_valid"},
		{name: "metadata with an unknown member",
			sql:  fmt.Sprintf(insert, "odata_type, export_file_metadata", `'#microsoft.graph.security.ediscoveryExportOperation', '[{"url": "x"}]'`),
			code: check, constraint: "case_operations_export_file_metadata_valid"},
		{name: "metadata fileName a number",
			sql:  fmt.Sprintf(insert, "odata_type, report_file_metadata", `'#microsoft.graph.security.ediscoveryHoldPolicySyncOperation', '[{"fileName": 5}]'`),
			code: check, constraint: "case_operations_report_file_metadata_valid"},
		{name: "cloud_attachment_version unknown",
			sql:  fmt.Sprintf(insert, "odata_type, cloud_attachment_version", "'#microsoft.graph.security.ediscoverySearchExportOperation', 'recent5'"),
			code: check, constraint: "case_operations_cloud_attachment_version_known"},

		{name: "created_by user is a number", sql: fmt.Sprintf(insert, "created_by", `'{"user": 5}'`),
			code: check, constraint: "case_operations_created_by_valid"},
		{name: "created_by has an unknown member", sql: fmt.Sprintf(update, `created_by = '{"boss": {}}'`),
			code: check, constraint: "case_operations_created_by_valid"},
		{name: "created_by id of 1025 characters",
			sql:  fmt.Sprintf(insert, "created_by", `jsonb_build_object('user', jsonb_build_object('id', repeat('x', 1025)))`),
			code: check, constraint: "case_operations_created_by_valid"},
		{name: "created_by displayName of 1025 characters",
			sql:  fmt.Sprintf(update, `created_by = jsonb_build_object('application', jsonb_build_object('displayName', repeat('é', 1025)))`),
			code: check, constraint: "case_operations_created_by_valid"},
		{name: "created_by id is a number", sql: fmt.Sprintf(insert, "created_by", `'{"device": {"id": 5}}'`),
			code: check, constraint: "case_operations_created_by_valid"},
		{name: "created_by identity has an unknown member",
			sql:  fmt.Sprintf(insert, "created_by", `'{"user": {"id": "u1", "mail": "ada"}}'`),
			code: check, constraint: "case_operations_created_by_valid"},
		{name: "created_by is a string", sql: fmt.Sprintf(insert, "created_by", `'"Ada"'`),
			code: check, constraint: "case_operations_created_by_valid"},
		{name: "created_by is an array", sql: fmt.Sprintf(insert, "created_by", `'[]'`),
			code: check, constraint: "case_operations_created_by_valid"},
		{name: "created_by is JSON null", sql: fmt.Sprintf(insert, "created_by", `'null'`),
			code: check, constraint: "case_operations_created_by_valid"},
		{name: "generated created_by_user_id written", sql: fmt.Sprintf(update, "created_by_user_id = 'forged'"),
			code: pgerrcode.GeneratedAlways},

		{name: "result_message of 4097 characters", sql: fmt.Sprintf(insert, "result_message", "repeat('x', 4097)"),
			code: check, constraint: "case_operations_result_message_length"},

		{name: "tenant_id empty", sql: `INSERT INTO case_operations (tenant_id, id) VALUES ('', @id)`,
			code: check, constraint: "case_operations_tenant_id_valid"},
		{name: "version 0", sql: fmt.Sprintf(update, "version = 0"),
			code: check, constraint: "case_operations_version_positive"},
		{name: "last modified before created",
			sql:  fmt.Sprintf(update, "last_modified_date_time = created_date_time - interval '1 second'"),
			code: check, constraint: "case_operations_modified_after_created"},

		{name: "succeeded to running", from: "succeeded",
			sql:  fmt.Sprintf(update, "status = 'running', completed_date_time = NULL"),
			code: check, constraint: "case_operations_status_transition"},
		{name: "running to notStarted", from: "running", sql: fmt.Sprintf(update, "status = 'notStarted'"),
			code: check, constraint: "case_operations_status_transition"},
		{name: "failed to succeeded", from: "failed", sql: fmt.Sprintf(update, "status = 'succeeded'"),
			code: check, constraint: "case_operations_status_transition"},
		{name: "running to submissionFailed", from: "running",
			sql:  fmt.Sprintf(update, "status = 'submissionFailed', completed_date_time = now()"),
			code: check, constraint: "case_operations_status_transition"},

		{name: "id changed", sql: fmt.Sprintf(update, "id = gen_random_uuid()"),
			code: check, constraint: "case_operations_immutable_columns"},
		{name: "created_date_time changed", sql: fmt.Sprintf(update, "created_date_time = created_date_time - interval '1 hour'"),
			code: check, constraint: "case_operations_immutable_columns"},
		{name: "tenant_id changed", sql: fmt.Sprintf(update, "tenant_id = @tenant::text || '-moved'"),
			code: check, constraint: "case_operations_immutable_columns"},
		{name: "odata_type changed", sql: fmt.Sprintf(update, "odata_type = '#microsoft.graph.caseExportOperation'"),
			code: check, constraint: "case_operations_immutable_columns"},

		{name: "duplicate (tenant_id, id)", sql: `INSERT INTO case_operations (tenant_id, id) VALUES (@tenant, @id)`,
			code: pgerrcode.UniqueViolation, constraint: "case_operations_pkey"},

		{name: "event updated", sql: `UPDATE case_operation_events SET changes = '{}' WHERE tenant_id = @tenant`,
			code: check, constraint: "case_operation_events_append_only"},
		{name: "event deleted", sql: `DELETE FROM case_operation_events WHERE tenant_id = @tenant`,
			code: check, constraint: "case_operation_events_append_only"},
		{name: "event with a chosen seq",
			sql:  `INSERT INTO case_operation_events (seq, tenant_id, operation_id, kind, changes) VALUES (1, @tenant, @id, 'updated', '{}')`,
			code: pgerrcode.GeneratedAlways},
		{name: "event of an unknown kind",
			sql:  `INSERT INTO case_operation_events (tenant_id, operation_id, kind, changes) VALUES (@tenant, @id, 'archived', '{}')`,
			code: pgerrcode.InvalidTextRepresentation},
		{name: "event actor not an identitySet",
			sql:  `INSERT INTO case_operation_events (tenant_id, operation_id, kind, actor, changes) VALUES (@tenant, @id, 'updated', '{"user": "Ada"}', '{}')`,
			code: check, constraint: "case_operation_events_actor_valid"},
		{name: "event changes not an object",
			sql:  `INSERT INTO case_operation_events (tenant_id, operation_id, kind, changes) VALUES (@tenant, @id, 'updated', '[]')`,
			code: check, constraint: "case_operation_events_changes_object"},
	}
	for s := range terminal {
		cases = append(cases, refusal{name: s + " without completed_date_time",
			sql:  fmt.Sprintf(insert, "status", "'"+s+"'"),
			code: check, constraint: "case_operations_completed_when_terminal"})
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			from := c.from
			if from == "" {
				from = "notStarted"
			}
			args := seedOperation(t, pool, from)
			before := tenantRows(t, pool, args)

			_, err := pool.Exec(context.Background(), c.sql, args)
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) {
				t.Fatalf("got %v, want SQLSTATE %s %s", err, c.code, c.constraint)
			}
			if pgErr.Code != c.code || pgErr.ConstraintName != c.constraint || pgErr.ColumnName != c.column {
				t.Fatalf("got SQLSTATE %s constraint %q column %q (%s), want %s %q %q",
					pgErr.Code, pgErr.ConstraintName, pgErr.ColumnName, pgErr.Message, c.code, c.constraint, c.column)
			}
			if after := tenantRows(t, pool, args); after != before {
				t.Fatalf("a refused statement changed the tenant's rows:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// TestStatusTransitionsFollowTheContract tries every status change by direct UPDATE, keeping
// completed_date_time consistent with the new status, against CONTRACT.md's state machine.
func TestStatusTransitionsFollowTheContract(t *testing.T) {
	t.Parallel()
	pool := storetest.NewPool(t)
	allowed := func(from, to string) bool {
		switch {
		case from == "notStarted", from == to:
			return true
		case from == "running":
			return to == "succeeded" || to == "partiallySucceeded" || to == "failed"
		}
		return false
	}

	for _, from := range statuses {
		for _, to := range statuses {
			t.Run(from+" to "+to, func(t *testing.T) {
				t.Parallel()
				args := seedOperation(t, pool, from)
				args["to"] = to
				before := tenantRows(t, pool, args)

				_, err := pool.Exec(context.Background(), `
					UPDATE case_operations SET status = @to::case_operation_status,
						completed_date_time = CASE WHEN case_operation_status_is_terminal(@to::case_operation_status)
							THEN coalesce(completed_date_time, now()) END
					WHERE tenant_id = @tenant AND id = @id`, args)

				var status string
				if err := pool.QueryRow(context.Background(),
					`SELECT status FROM case_operations WHERE tenant_id = @tenant AND id = @id`, args).Scan(&status); err != nil {
					t.Fatal(err)
				}
				if allowed(from, to) {
					if err != nil || status != to {
						t.Fatalf("got %v and status %s, want the change to %s accepted", err, status, to)
					}
					return
				}
				var pgErr *pgconn.PgError
				if !errors.As(err, &pgErr) || pgErr.Code != pgerrcode.CheckViolation ||
					pgErr.ConstraintName != "case_operations_status_transition" {
					t.Fatalf("got %v, want check_violation of case_operations_status_transition", err)
				}
				if after := tenantRows(t, pool, args); after != before {
					t.Fatalf("a refused transition changed the row:\nbefore %s\nafter  %s", before, after)
				}
			})
		}
	}
}

func TestSchemaAcceptsWhatTheContractAllows(t *testing.T) {
	t.Parallel()
	pool := storetest.NewPool(t)
	ctx := context.Background()

	t.Run("notStarted, running, succeeded", func(t *testing.T) {
		t.Parallel()
		args := seedOperation(t, pool, "notStarted")
		for _, step := range []string{
			`UPDATE case_operations SET status = 'running', percent_progress = 50 WHERE tenant_id = @tenant AND id = @id`,
			`UPDATE case_operations SET percent_progress = 90 WHERE tenant_id = @tenant AND id = @id`,
			`UPDATE case_operations SET status = 'succeeded', percent_progress = 100, completed_date_time = now()
				WHERE tenant_id = @tenant AND id = @id`,
			`UPDATE case_operations SET status = 'succeeded' WHERE tenant_id = @tenant AND id = @id`,
		} {
			if tag, err := pool.Exec(ctx, step, args); err != nil || tag.RowsAffected() != 1 {
				t.Fatalf("%s: %v, %d rows", step, err, tag.RowsAffected())
			}
		}
		var got string
		err := pool.QueryRow(ctx, `SELECT format('%s %s%% completed after creation: %s', status, percent_progress,
			(completed_date_time >= created_date_time)::text) FROM case_operations WHERE tenant_id = @tenant AND id = @id`,
			args).Scan(&got)
		if want := "succeeded 100% completed after creation: true"; err != nil || got != want {
			t.Fatalf("got %q, %v; want %q", got, err, want)
		}
	})

	t.Run("enums in Graph's member order", func(t *testing.T) {
		t.Parallel()
		var got string
		err := pool.QueryRow(ctx, `SELECT enum_range(NULL::case_operation_status)::text || ' ' || enum_range(NULL::case_action)::text`).Scan(&got)
		want := "{notStarted,submissionFailed,running,succeeded,partiallySucceeded,failed} " +
			"{contentExport,applyTags,convertToPdf,index,estimateStatistics,addToReviewSet,holdUpdate,purgeData,exportReport,exportResult,holdPolicySync}"
		if err != nil || got != want {
			t.Fatalf("got %s, %v; want %s", got, err, want)
		}
	})

	t.Run("same id in another tenant", func(t *testing.T) {
		t.Parallel()
		args := seedOperation(t, pool, "notStarted")
		tag, err := pool.Exec(ctx, `INSERT INTO case_operations (tenant_id, id) VALUES (@tenant::text || '-other', @id)`, args)
		if err != nil || tag.RowsAffected() != 1 {
			t.Fatalf("%v, %d rows", err, tag.RowsAffected())
		}
		var tenants []string
		rows, _ := pool.Query(ctx, `SELECT tenant_id FROM case_operations WHERE id = @id ORDER BY tenant_id`, args)
		tenants, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if want := []string{args["tenant"].(string), args["tenant"].(string) + "-other"}; err != nil || !slices.Equal(tenants, want) {
			t.Fatalf("id %v is held by %v, %v; want %v", args["id"], tenants, err, want)
		}
	})

	for _, c := range []struct{ name, sql string }{
		{"percent_progress 0 and 100", `INSERT INTO case_operations (tenant_id, id, percent_progress)
			VALUES (@tenant, gen_random_uuid(), 0), (@tenant, gen_random_uuid(), 100)`},
		{"result_message of 4096 characters", `INSERT INTO case_operations (tenant_id, id, result_message)
			VALUES (@tenant, gen_random_uuid(), repeat('é', 4096))`},
		{"created_by id and displayName of 1024 characters", `INSERT INTO case_operations (tenant_id, id, created_by)
			VALUES (@tenant, gen_random_uuid(), jsonb_build_object('user',
				jsonb_build_object('id', repeat('x', 1024), 'displayName', repeat('é', 1024))))`},
		{"created_by with null identities and members", `INSERT INTO case_operations (tenant_id, id, created_by)
			VALUES (@tenant, gen_random_uuid(), '{"application": null, "device": {"id": null}, "user": {"displayName": null}}')`},
		{"completed as it is created", `INSERT INTO case_operations (tenant_id, id, status, created_date_time, completed_date_time)
			VALUES (@tenant, gen_random_uuid(), 'partiallySucceeded', '2024-05-01T10:00:00Z', '2024-05-01T10:00:00Z')`},
		{"every other odata_type", `INSERT INTO case_operations (tenant_id, id, odata_type, action)
			SELECT @tenant, gen_random_uuid(), t, 'contentExport' FROM unnest(ARRAY['#microsoft.graph.caseExportOperation',
				'#microsoft.graph.caseHoldOperation', '#microsoft.graph.caseIndexOperation',
				'#microsoft.graph.addToReviewSetOperation', '#microsoft.graph.estimateStatisticsOperation',
				'#microsoft.graph.purgeDataOperation']) t`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			args := pgx.NamedArgs{"tenant": "tenant-" + uuid.NewString()}
			if _, err := pool.Exec(ctx, c.sql, args); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestGeneratedColumnsHoldWhatCreatedByHolds checks the flat columns analysts filter on against created_by,
// on insert and after created_by changes.
func TestGeneratedColumnsHoldWhatCreatedByHolds(t *testing.T) {
	t.Parallel()
	pool := storetest.NewPool(t)
	ctx := context.Background()
	args := pgx.NamedArgs{"tenant": "tenant-" + uuid.NewString(), "id": uuid.New()}
	generated := func() string {
		t.Helper()
		var got string
		err := pool.QueryRow(ctx, `SELECT format('user %L %L, application %L %L', created_by_user_id,
				created_by_user_display_name, created_by_application_id, created_by_application_display_name)
			FROM case_operations WHERE tenant_id = @tenant AND id = @id`, args).Scan(&got)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	for _, step := range []struct{ sql, want string }{
		{`INSERT INTO case_operations (tenant_id, id, created_by) VALUES (@tenant, @id,
			'{"user": {"id": "u1", "displayName": "Ada Lovelace"}, "application": {"id": "app-1", "displayName": "Tagger"}, "device": {"id": "d1"}}')`,
			"user 'u1' 'Ada Lovelace', application 'app-1' 'Tagger'"},
		{`UPDATE case_operations SET created_by = '{"application": {"id": "app-2", "displayName": null}}'
			WHERE tenant_id = @tenant AND id = @id`,
			"user NULL NULL, application 'app-2' NULL"},
		{`UPDATE case_operations SET created_by = case_operation_merge_patch(created_by, '{"user": {"displayName": "Grace"}}')
			WHERE tenant_id = @tenant AND id = @id`,
			"user NULL 'Grace', application 'app-2' NULL"},
		{`UPDATE case_operations SET created_by = NULL WHERE tenant_id = @tenant AND id = @id`,
			"user NULL NULL, application NULL NULL"},
	} {
		if _, err := pool.Exec(ctx, step.sql, args); err != nil {
			t.Fatalf("%s: %v", step.sql, err)
		}
		if got := generated(); got != step.want {
			t.Fatalf("after %s:\ngot  %s\nwant %s", step.sql, got, step.want)
		}
	}
}

// The identitySet rules, as the validator function and both constraints that call it apply them: each
// document is refused or stored exactly as labelled, in both columns.
func TestIdentitySetChecks(t *testing.T) {
	t.Parallel()
	pool := storetest.NewPool(t)
	long := `"` + strings.Repeat("é", 1024) + `"`
	tooLong := `"` + strings.Repeat("x", 1025) + `"`
	for _, c := range []struct {
		doc   string // SQL NULL when empty
		valid bool
	}{
		{"", true},
		{`{}`, true},
		{`{"user": {"id": "u1", "displayName": "Ada"}}`, true},
		{`{"application": {"id": "a1"}, "device": null, "user": {"displayName": null}}`, true},
		{`{"user": {}}`, true},
		{`{"user": null, "application": null, "device": null}`, true},
		{`{"user": {"id": ` + long + `, "displayName": ` + long + `}}`, true},
		{`null`, false},
		{`"Ada"`, false},
		{`[]`, false},
		{`5`, false},
		{`{"boss": {}}`, false},
		{`{"user": {"id": "u1"}, "boss": null}`, false},
		{`{"user": 5}`, false},
		{`{"user": "Ada"}`, false},
		{`{"device": []}`, false},
		{`{"application": {"id": 5}}`, false},
		{`{"application": {"displayName": true}}`, false},
		{`{"user": {"id": {"nested": "x"}}}`, false},
		{`{"user": {"id": "u1", "mail": "ada@example.com"}}`, false},
		{`{"device": {"id": ` + tooLong + `}}`, false},
		{`{"user": {"displayName": ` + tooLong + `}}`, false},
	} {
		var doc any
		if c.doc != "" {
			doc = c.doc
		}
		var function *bool
		if err := pool.QueryRow(context.Background(), `SELECT case_operation_identity_set_is_valid($1::jsonb)`, doc).Scan(&function); err != nil {
			t.Fatal(err)
		}
		if function == nil || *function != c.valid {
			t.Errorf("case_operation_identity_set_is_valid(%.60s) = %v, labelled %v", c.doc, function, c.valid)
		}
		for _, w := range []struct{ sql, constraint string }{
			{`INSERT INTO case_operations (tenant_id, id, created_by) VALUES ('t', gen_random_uuid(), $1)`, "case_operations_created_by_valid"},
			{`INSERT INTO case_operation_events (tenant_id, operation_id, case_id, kind, actor, changes) VALUES ('t', gen_random_uuid(), gen_random_uuid(), 'created', $1, '{}')`, "case_operation_events_actor_valid"},
		} {
			_, err := pool.Exec(context.Background(), w.sql, doc)
			var pgErr *pgconn.PgError
			switch {
			case c.valid && err != nil:
				t.Errorf("%s refused %.60s: %v", w.constraint, c.doc, err)
			case !c.valid && (!errors.As(err, &pgErr) || pgErr.Code != pgerrcode.CheckViolation || pgErr.ConstraintName != w.constraint):
				t.Errorf("%.60s: got %v, want a check violation of %s", c.doc, err, w.constraint)
			}
		}
	}
}
