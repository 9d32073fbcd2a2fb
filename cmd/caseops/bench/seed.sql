-- Creates operations 1 to $1 of tenant 'bench' for patch.pgbench, as POST {"status":"running","percentProgress":0}
-- stores them: the row and its 'created' history event. Operation n has the id md5(n::text)::uuid.
WITH created AS (
    INSERT INTO case_operations AS r (tenant_id, id, status, percent_progress)
    SELECT 'bench', md5(n::text)::uuid, 'running', 0 FROM generate_series(1, $1::integer) AS n
    RETURNING r
)
INSERT INTO case_operation_events (tenant_id, operation_id, kind, request_id, changes)
SELECT (r).tenant_id, (r).id, 'created', 'seed', case_operation_changes(NULL, r) FROM created
