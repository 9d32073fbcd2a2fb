-- +goose Up
-- The rollups behind the reporting views cost the API's hot path too much when every statement ran a
-- statement-level trigger: a progress report, which moves no counter at all, took a third longer
-- (BenchmarkProgressReport: 560-620 µs per PATCH without the rollups, 735-830 µs with them). So the service's
-- writes are now counted row by row, by row-level triggers whose WHEN clauses Postgres evaluates itself and
-- which skip a progress report outright (600-640 µs); and bulk loads keep the statement-level triggers, which
-- count a COPY of 20,000 rows with one upsert per counter. A transaction chooses the bulk way with
-- SET LOCAL caseops.bulk_load = on (caseops seed does); exactly one of the two ways counts each change, so the
-- rollups stay exact either way. An analyst's UPDATE of a million rows is faster with it too.

-- +goose StatementBegin
-- Moves one operation from its old counters (OLD, unless inserted) to its new ones (NEW, unless deleted),
-- in key order as the statement-level trigger does.
CREATE FUNCTION case_operations_roll_up_row() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed case_operations[] := '{}';
    signs integer[] := '{}';
BEGIN
    IF TG_OP <> 'DELETE' THEN
        changed := changed || NEW;
        signs := signs || 1;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        changed := changed || OLD;
        signs := signs || -1;
    END IF;
    WITH delta AS (
        SELECT (changed[i]).tenant_id, (changed[i]).created_date_time, (changed[i]).completed_date_time,
            (changed[i]).status, (changed[i]).action, signs[i] AS n
        FROM generate_subscripts(changed, 1) AS i
    ), durations AS (
        SELECT tenant_id, action, floor(extract(epoch FROM completed_date_time - created_date_time))::bigint AS seconds, n
        FROM delta WHERE completed_date_time IS NOT NULL
    ), daily AS (
        INSERT INTO case_operation_daily_counts AS c (tenant_id, day, status, action, stripe, operations)
        SELECT tenant_id, (created_date_time AT TIME ZONE 'UTC')::date, status, action, pg_backend_pid() % 8, sum(n)
        FROM delta GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0 ORDER BY 1, 2, 3, 4
        ON CONFLICT (tenant_id, day, status, action, stripe) DO UPDATE SET operations = c.operations + excluded.operations
    ), seconds AS (
        INSERT INTO case_operation_duration_counts AS c (tenant_id, action, seconds, stripe, operations)
        SELECT tenant_id, action, seconds, pg_backend_pid() % 8, sum(n)
        FROM durations GROUP BY 1, 2, 3 HAVING sum(n) <> 0 ORDER BY 1, 2, 3
        ON CONFLICT (tenant_id, action, seconds, stripe) DO UPDATE SET operations = c.operations + excluded.operations
    )
    INSERT INTO case_operation_duration_block_counts AS c (tenant_id, action, block, stripe, operations)
    SELECT tenant_id, action, seconds / 64, pg_backend_pid() % 8, sum(n)
    FROM durations GROUP BY 1, 2, 3 HAVING sum(n) <> 0 ORDER BY 1, 2, 3
    ON CONFLICT (tenant_id, action, block, stripe) DO UPDATE SET operations = c.operations + excluded.operations;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- Counts one event that set a status into its hour and the status it entered.
CREATE FUNCTION case_operation_events_roll_up_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO case_operation_hourly_status_changes AS c (tenant_id, hour, status, stripe, status_changes)
    VALUES (NEW.tenant_id, date_trunc('hour', NEW.occurred_at AT TIME ZONE 'UTC'),
        (NEW.changes #>> '{status,new}')::case_operation_status, pg_backend_pid() % 8, 1)
    ON CONFLICT (tenant_id, hour, status, stripe) DO UPDATE SET status_changes = c.status_changes + 1;
    RETURN NULL;
END $$;
-- +goose StatementEnd

DROP TRIGGER case_operations_roll_up_insert ON case_operations;
DROP TRIGGER case_operations_roll_up_update ON case_operations;
DROP TRIGGER case_operations_roll_up_delete ON case_operations;
DROP TRIGGER case_operation_events_roll_up ON case_operation_events;

-- Bulk loads: one count per statement.
CREATE TRIGGER case_operations_roll_up_insert AFTER INSERT ON case_operations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    WHEN (current_setting('caseops.bulk_load', true) = 'on')
    EXECUTE FUNCTION case_operations_roll_up();
CREATE TRIGGER case_operations_roll_up_update AFTER UPDATE ON case_operations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    WHEN (current_setting('caseops.bulk_load', true) = 'on')
    EXECUTE FUNCTION case_operations_roll_up();
CREATE TRIGGER case_operations_roll_up_delete AFTER DELETE ON case_operations
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    WHEN (current_setting('caseops.bulk_load', true) = 'on')
    EXECUTE FUNCTION case_operations_roll_up();
CREATE TRIGGER case_operation_events_roll_up AFTER INSERT ON case_operation_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    WHEN (current_setting('caseops.bulk_load', true) = 'on')
    EXECUTE FUNCTION case_operation_events_roll_up();

-- Everything else: one count per row that moves a counter.
CREATE TRIGGER case_operations_roll_up_inserted_row AFTER INSERT ON case_operations
    FOR EACH ROW
    WHEN (current_setting('caseops.bulk_load', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION case_operations_roll_up_row();
CREATE TRIGGER case_operations_roll_up_changed_row AFTER UPDATE ON case_operations
    FOR EACH ROW
    WHEN (current_setting('caseops.bulk_load', true) IS DISTINCT FROM 'on'
        AND (OLD.tenant_id, OLD.created_date_time, OLD.completed_date_time, OLD.status, OLD.action)
            IS DISTINCT FROM (NEW.tenant_id, NEW.created_date_time, NEW.completed_date_time, NEW.status, NEW.action))
    EXECUTE FUNCTION case_operations_roll_up_row();
CREATE TRIGGER case_operations_roll_up_deleted_row AFTER DELETE ON case_operations
    FOR EACH ROW
    WHEN (current_setting('caseops.bulk_load', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION case_operations_roll_up_row();
CREATE TRIGGER case_operation_events_roll_up_row AFTER INSERT ON case_operation_events
    FOR EACH ROW
    WHEN (current_setting('caseops.bulk_load', true) IS DISTINCT FROM 'on'
        AND NEW.kind <> 'deleted' AND NEW.changes #>> '{status,new}' IS NOT NULL)
    EXECUTE FUNCTION case_operation_events_roll_up_row();

-- +goose Down
DROP TRIGGER case_operation_events_roll_up_row ON case_operation_events;
DROP TRIGGER case_operations_roll_up_deleted_row ON case_operations;
DROP TRIGGER case_operations_roll_up_changed_row ON case_operations;
DROP TRIGGER case_operations_roll_up_inserted_row ON case_operations;
DROP TRIGGER case_operation_events_roll_up ON case_operation_events;
DROP TRIGGER case_operations_roll_up_delete ON case_operations;
DROP TRIGGER case_operations_roll_up_update ON case_operations;
DROP TRIGGER case_operations_roll_up_insert ON case_operations;
DROP FUNCTION case_operation_events_roll_up_row();
DROP FUNCTION case_operations_roll_up_row();
CREATE TRIGGER case_operations_roll_up_insert AFTER INSERT ON case_operations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION case_operations_roll_up();
CREATE TRIGGER case_operations_roll_up_update AFTER UPDATE ON case_operations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION case_operations_roll_up();
CREATE TRIGGER case_operations_roll_up_delete AFTER DELETE ON case_operations
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION case_operations_roll_up();
CREATE TRIGGER case_operation_events_roll_up AFTER INSERT ON case_operation_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION case_operation_events_roll_up();
