-- Creates operations 1 to $1 of tenant 'bench' for patch.pgbench, as POST {"status":"running","percentProgress":0}
-- stores them: the row, and its 'created' history event, which the database records for a direct INSERT
-- (migration 00006). Operation n has the id md5(n::text)::uuid.
INSERT INTO case_operations (tenant_id, id, status, percent_progress)
SELECT 'bench', md5(n::text)::uuid, 'running', 0 FROM generate_series(1, $1::integer) AS n
