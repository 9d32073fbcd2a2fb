-- +goose NO TRANSACTION
-- Indexes chosen from EXPLAIN (ANALYZE, BUFFERS) at ten million operations (README, "Performance at ten million
-- rows"). Built CONCURRENTLY, so that a live service keeps writing while they build (about 40 s at that size).

-- +goose Up
-- A $filter on status, in a tenant's newest-first order, reads its page straight off this index instead of
-- filtering the tenant's whole history (a rare status in a large tenant took 140 ms, now 1 ms); $count with such
-- a filter, and case_operations_running (status first, for every tenant), read only the matching entries.
CREATE INDEX CONCURRENTLY IF NOT EXISTS case_operations_status_tenant_created
    ON case_operations (status, tenant_id, created_date_time DESC, id DESC);

-- case_operation_failures reads this small index alone (1.3 s by a scan of the table, 0.2 s here).
CREATE INDEX CONCURRENTLY IF NOT EXISTS case_operations_failures
    ON case_operations (tenant_id, result_code) INCLUDE (status, completed_date_time)
    WHERE status IN ('submissionFailed', 'partiallySucceeded', 'failed');

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS case_operations_failures;
DROP INDEX CONCURRENTLY IF EXISTS case_operations_status_tenant_created;
