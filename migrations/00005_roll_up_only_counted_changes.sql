-- +goose Up
-- Workers PATCH progress far more often than anything else, and a progress report moves no rollup counter,
-- yet a statement-level UPDATE trigger runs for every UPDATE statement, with transition tables to fill. This
-- row-level trigger's WHEN clause lets Postgres skip it, in C, for every update that leaves tenant, creation
-- time, completion time, status and action alone; when it does fire, it moves the row from its old counters to
-- its new ones, in key order as before. Inserts and deletes keep their statement-level triggers, which count a
-- whole COPY at once.

-- +goose StatementBegin
CREATE FUNCTION case_operations_roll_up_changed_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    WITH delta AS (
        SELECT NEW.tenant_id AS tenant_id, NEW.created_date_time AS created_date_time,
            NEW.completed_date_time AS completed_date_time, NEW.status AS status, NEW.action AS action, 1 AS n
        UNION ALL
        SELECT OLD.tenant_id, OLD.created_date_time, OLD.completed_date_time, OLD.status, OLD.action, -1
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

DROP TRIGGER case_operations_roll_up_update ON case_operations;
CREATE TRIGGER case_operations_roll_up_changed_row AFTER UPDATE ON case_operations
    FOR EACH ROW
    WHEN ((OLD.tenant_id, OLD.created_date_time, OLD.completed_date_time, OLD.status, OLD.action)
        IS DISTINCT FROM (NEW.tenant_id, NEW.created_date_time, NEW.completed_date_time, NEW.status, NEW.action))
    EXECUTE FUNCTION case_operations_roll_up_changed_row();

-- +goose Down
DROP TRIGGER case_operations_roll_up_changed_row ON case_operations;
DROP FUNCTION case_operations_roll_up_changed_row();
CREATE TRIGGER case_operations_roll_up_update AFTER UPDATE ON case_operations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION case_operations_roll_up();
