-- +goose Up
-- Reporting views: the questions analysts ask most, answered exactly and live. Times are UTC.
--
-- Three of the questions aggregate all of history, and scanning ten million operations (or twice as many
-- events) takes seconds. Those views read rollup tables instead, which statement-level triggers keep exact
-- in the same transaction as every write: a COPY of 20,000 rows updates a rollup once, an API write with one
-- small upsert. A rollup row is also keyed by a stripe (the writing backend's pid mod 8), so that concurrent
-- writers in one tenant seldom wait for each other on one counter; the views sum the stripes (one stripe's
-- count may be negative: a row counted by one backend and moved by another). Only the triggers write them.

CREATE TABLE case_operation_daily_counts (
    tenant_id text NOT NULL,
    day date NOT NULL,
    status case_operation_status NOT NULL,
    action case_action NOT NULL,
    stripe smallint NOT NULL,
    operations integer NOT NULL,
    CONSTRAINT case_operation_daily_counts_pkey PRIMARY KEY (tenant_id, day, status, action, stripe)
);
COMMENT ON TABLE case_operation_daily_counts IS
    'Rollup behind case_operations_per_day, kept by triggers on case_operations; query the view.';

-- Finished operations by whole seconds taken, and by 64-second block of them: the view finds the block that
-- holds a percentile among a few thousand blocks, then the second within the block among at most 64.
CREATE TABLE case_operation_duration_counts (
    tenant_id text NOT NULL,
    action case_action NOT NULL,
    seconds bigint NOT NULL,
    stripe smallint NOT NULL,
    operations integer NOT NULL,
    CONSTRAINT case_operation_duration_counts_pkey PRIMARY KEY (tenant_id, action, seconds, stripe)
);
COMMENT ON TABLE case_operation_duration_counts IS
    'Rollup behind case_operation_durations: finished operations by whole seconds taken, kept by triggers on case_operations; query the view.';

CREATE TABLE case_operation_duration_block_counts (
    tenant_id text NOT NULL,
    action case_action NOT NULL,
    block bigint NOT NULL, -- seconds / 64
    stripe smallint NOT NULL,
    operations integer NOT NULL,
    CONSTRAINT case_operation_duration_block_counts_pkey PRIMARY KEY (tenant_id, action, block, stripe)
);
COMMENT ON TABLE case_operation_duration_block_counts IS
    'Rollup behind case_operation_durations: finished operations by 64-second block of seconds taken, kept by triggers on case_operations; query the view.';

CREATE TABLE case_operation_hourly_status_changes (
    tenant_id text NOT NULL,
    hour timestamp NOT NULL,
    status case_operation_status NOT NULL,
    stripe smallint NOT NULL,
    status_changes integer NOT NULL,
    CONSTRAINT case_operation_hourly_status_changes_pkey PRIMARY KEY (tenant_id, hour, status, stripe)
);
COMMENT ON TABLE case_operation_hourly_status_changes IS
    'Rollup behind case_operation_status_changes_per_hour, kept by a trigger on case_operation_events; query the view.';

-- +goose StatementBegin
-- Counts the rows of new_rows into the operation rollups and takes the rows of old_rows out, as one net change
-- per counter, in key order so that two writers lock counters in the same order and cannot deadlock. An update
-- that moves no row from one counter to another (a progress report, say) writes nothing. The three branches
-- differ only in where the change comes from: a trigger sees only the transition tables it declares.
CREATE FUNCTION case_operations_roll_up() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        WITH delta AS (
            SELECT tenant_id, created_date_time, completed_date_time, status, action, 1 AS n FROM new_rows
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
    ELSIF TG_OP = 'UPDATE' THEN
        WITH delta AS (
            SELECT tenant_id, created_date_time, completed_date_time, status, action, 1 AS n FROM new_rows
            UNION ALL
            SELECT tenant_id, created_date_time, completed_date_time, status, action, -1 FROM old_rows
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
    ELSE -- DELETE
        WITH delta AS (
            SELECT tenant_id, created_date_time, completed_date_time, status, action, -1 AS n FROM old_rows
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
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION case_operations_roll_up_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM case_operation_daily_counts;
    DELETE FROM case_operation_duration_counts;
    DELETE FROM case_operation_duration_block_counts;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- Counts every created or updated event that set a status into the hour it happened and the status it entered.
-- The history is append-only, so the rollup only ever grows.
CREATE FUNCTION case_operation_events_roll_up() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO case_operation_hourly_status_changes AS c (tenant_id, hour, status, stripe, status_changes)
    SELECT tenant_id, date_trunc('hour', occurred_at AT TIME ZONE 'UTC'), (changes #>> '{status,new}')::case_operation_status,
        pg_backend_pid() % 8, count(*)
    FROM new_rows WHERE kind IN ('created', 'updated') AND changes #>> '{status,new}' IS NOT NULL
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (tenant_id, hour, status, stripe) DO UPDATE SET status_changes = c.status_changes + excluded.status_changes;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- The triggers lock the tables against writers until this migration commits, so the backfill below counts
-- every row exactly once.
CREATE TRIGGER case_operations_roll_up_insert AFTER INSERT ON case_operations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION case_operations_roll_up();
CREATE TRIGGER case_operations_roll_up_update AFTER UPDATE ON case_operations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION case_operations_roll_up();
CREATE TRIGGER case_operations_roll_up_delete AFTER DELETE ON case_operations
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION case_operations_roll_up();
CREATE TRIGGER case_operations_roll_up_truncate AFTER TRUNCATE ON case_operations
    FOR EACH STATEMENT EXECUTE FUNCTION case_operations_roll_up_truncate();
CREATE TRIGGER case_operation_events_roll_up AFTER INSERT ON case_operation_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION case_operation_events_roll_up();

INSERT INTO case_operation_daily_counts (tenant_id, day, status, action, stripe, operations)
SELECT tenant_id, (created_date_time AT TIME ZONE 'UTC')::date, status, action, 0, count(*)
FROM case_operations GROUP BY 1, 2, 3, 4;
INSERT INTO case_operation_duration_counts (tenant_id, action, seconds, stripe, operations)
SELECT tenant_id, action, floor(extract(epoch FROM completed_date_time - created_date_time))::bigint, 0, count(*)
FROM case_operations WHERE completed_date_time IS NOT NULL GROUP BY 1, 2, 3;
INSERT INTO case_operation_duration_block_counts (tenant_id, action, block, stripe, operations)
SELECT tenant_id, action, seconds / 64, 0, sum(operations) FROM case_operation_duration_counts GROUP BY 1, 2, 3;
INSERT INTO case_operation_hourly_status_changes (tenant_id, hour, status, stripe, status_changes)
SELECT tenant_id, date_trunc('hour', occurred_at AT TIME ZONE 'UTC'), (changes #>> '{status,new}')::case_operation_status, 0, count(*)
FROM case_operation_events WHERE kind IN ('created', 'updated') AND changes #>> '{status,new}' IS NOT NULL
GROUP BY 1, 2, 3;

-- How many operations were created each day, by tenant, current status and action?
CREATE VIEW case_operations_per_day AS
SELECT tenant_id, day, status, action, sum(operations) AS operations
FROM case_operation_daily_counts
GROUP BY tenant_id, day, status, action
HAVING sum(operations) <> 0;

COMMENT ON VIEW case_operations_per_day IS
    'Operations created per UTC day, by tenant, current status and action.';

-- +goose StatementBegin
-- The whole seconds of tenant's and action's (k+1)-th shortest finished operation (k 0-based), given the 64-second
-- block that holds it and how many operations took less than that block.
CREATE FUNCTION case_operation_duration_at(tenant text, operation_action case_action, block_number bigint,
    before_block bigint, k float8) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT seconds FROM (
        SELECT seconds, before_block + sum(sum(operations)) OVER (ORDER BY seconds) AS through
        FROM case_operation_duration_counts
        WHERE tenant_id = tenant AND action = operation_action
            AND seconds >= block_number * 64 AND seconds < (block_number + 1) * 64
        GROUP BY seconds
    ) s
    WHERE through > k ORDER BY seconds LIMIT 1
$$;
-- +goose StatementEnd

-- How long do finished operations take, by tenant and action? Duration is completedDateTime - createdDateTime
-- of operations in a terminal status, in whole seconds (rounded down). p50, p90 and p99 are exactly what
-- percentile_cont gives over those durations: the value at 0-based position p * (n - 1) in ascending order,
-- interpolated between its neighbours at floor and ceil of that position.
CREATE VIEW case_operation_durations AS
WITH blocks AS (
    SELECT tenant_id, action, block, sum(operations)::integer AS operations,
        sum(sum(operations)::integer) OVER (PARTITION BY tenant_id, action ORDER BY block) AS through,
        sum(sum(operations)::integer) OVER (PARTITION BY tenant_id, action) AS total
    FROM case_operation_duration_block_counts
    GROUP BY tenant_id, action, block
), positions AS (
    SELECT *, 0.5::float8 * (total - 1) AS at50, 0.9::float8 * (total - 1) AS at90, 0.99::float8 * (total - 1) AS at99
    FROM blocks
    WHERE total > 0
), located AS (
    -- For each neighbour, the first block whose cumulative count passes its position, and the count before it.
    SELECT tenant_id, action, total, at50, at90, at99,
        min(block) FILTER (WHERE through > floor(at50)) AS lo50_block, min(through - operations) FILTER (WHERE through > floor(at50)) AS lo50_before,
        min(block) FILTER (WHERE through > ceil(at50)) AS hi50_block, min(through - operations) FILTER (WHERE through > ceil(at50)) AS hi50_before,
        min(block) FILTER (WHERE through > floor(at90)) AS lo90_block, min(through - operations) FILTER (WHERE through > floor(at90)) AS lo90_before,
        min(block) FILTER (WHERE through > ceil(at90)) AS hi90_block, min(through - operations) FILTER (WHERE through > ceil(at90)) AS hi90_before,
        min(block) FILTER (WHERE through > floor(at99)) AS lo99_block, min(through - operations) FILTER (WHERE through > floor(at99)) AS lo99_before,
        min(block) FILTER (WHERE through > ceil(at99)) AS hi99_block, min(through - operations) FILTER (WHERE through > ceil(at99)) AS hi99_before
    FROM positions
    GROUP BY tenant_id, action, total, at50, at90, at99
), neighbours AS (
    SELECT tenant_id, action, total, at50, at90, at99,
        case_operation_duration_at(tenant_id, action, lo50_block, lo50_before, floor(at50)) AS lo50,
        case_operation_duration_at(tenant_id, action, hi50_block, hi50_before, ceil(at50)) AS hi50,
        case_operation_duration_at(tenant_id, action, lo90_block, lo90_before, floor(at90)) AS lo90,
        case_operation_duration_at(tenant_id, action, hi90_block, hi90_before, ceil(at90)) AS hi90,
        case_operation_duration_at(tenant_id, action, lo99_block, lo99_before, floor(at99)) AS lo99,
        case_operation_duration_at(tenant_id, action, hi99_block, hi99_before, ceil(at99)) AS hi99
    FROM located
)
SELECT tenant_id, action, total AS operations,
    make_interval(secs => lo50 + (at50 - floor(at50)) * (hi50 - lo50)) AS p50,
    make_interval(secs => lo90 + (at90 - floor(at90)) * (hi90 - lo90)) AS p90,
    make_interval(secs => lo99 + (at99 - floor(at99)) * (hi99 - lo99)) AS p99
FROM neighbours;

COMMENT ON VIEW case_operation_durations IS
    'p50, p90 and p99 of the whole seconds from createdDateTime to completedDateTime of finished operations, by tenant and action.';

-- Which operations are running now, how far along are they, and how long since their worker last reported?
-- A running operation's last report is its last write: every PATCH that changes it moves last_modified_date_time.
CREATE VIEW case_operations_running AS
SELECT tenant_id,
    id,
    action,
    percent_progress,
    created_date_time,
    last_modified_date_time AS last_reported_date_time,
    now() - last_modified_date_time AS since_last_report,
    now() - created_date_time AS running_for,
    created_by_user_id,
    created_by_application_id
FROM case_operations
WHERE status = 'running';

COMMENT ON VIEW case_operations_running IS
    'Running operations with their progress, when they last reported (their last write) and how long ago that was.';

-- What goes wrong, and how often? Failed, refused and partly successful operations by tenant and resultInfo code.
CREATE VIEW case_operation_failures AS
SELECT tenant_id,
    result_code,
    count(*) FILTER (WHERE status = 'failed') AS failed,
    count(*) FILTER (WHERE status = 'submissionFailed') AS submission_failed,
    count(*) FILTER (WHERE status = 'partiallySucceeded') AS partially_succeeded,
    min(completed_date_time) AS first_completed_date_time,
    max(completed_date_time) AS last_completed_date_time
FROM case_operations
WHERE status IN ('submissionFailed', 'partiallySucceeded', 'failed')
GROUP BY tenant_id, result_code;

COMMENT ON VIEW case_operation_failures IS
    'Failed, submissionFailed and partiallySucceeded operations by tenant and resultInfo code, and when the first and last of them completed.';

-- How many status changes happen each hour, and into which status? From the history: every created or updated
-- event that set a status (a creation enters its first status).
CREATE VIEW case_operation_status_changes_per_hour AS
SELECT tenant_id, hour, status, sum(status_changes) AS changes
FROM case_operation_hourly_status_changes
GROUP BY tenant_id, hour, status
HAVING sum(status_changes) <> 0;

COMMENT ON VIEW case_operation_status_changes_per_hour IS
    'Status changes per UTC hour from the history, by tenant and the status entered (a creation enters its first status).';

-- +goose Down
DROP VIEW case_operation_status_changes_per_hour;
DROP VIEW case_operation_failures;
DROP VIEW case_operations_running;
DROP VIEW case_operation_durations;
DROP FUNCTION case_operation_duration_at(text, case_action, bigint, bigint, float8);
DROP VIEW case_operations_per_day;
DROP TRIGGER case_operation_events_roll_up ON case_operation_events;
DROP TRIGGER case_operations_roll_up_truncate ON case_operations;
DROP TRIGGER case_operations_roll_up_delete ON case_operations;
DROP TRIGGER case_operations_roll_up_update ON case_operations;
DROP TRIGGER case_operations_roll_up_insert ON case_operations;
DROP FUNCTION case_operation_events_roll_up();
DROP FUNCTION case_operations_roll_up_truncate();
DROP FUNCTION case_operations_roll_up();
DROP TABLE case_operation_hourly_status_changes;
DROP TABLE case_operation_duration_block_counts;
DROP TABLE case_operation_duration_counts;
DROP TABLE case_operation_daily_counts;
