-- +goose NO TRANSACTION
-- The dashboard reads one operation's history, and the status changes of the last hour. The history had only its
-- primary key (seq) and (tenant_id, transaction_id), so both were scans of the whole table (20 million rows and
-- 12 GB in the seed). Built CONCURRENTLY, so that a live service keeps writing while they build.

-- +goose Up
-- GET .../operations/{id}/history: one operation's events in order, a page at a time after a seq.
CREATE INDEX CONCURRENTLY IF NOT EXISTS case_operation_events_tenant_operation
    ON case_operation_events (tenant_id, operation_id, seq);

-- The overview's status changes per minute: the history is appended in time order, so a BRIN index of a few
-- pages finds the last hour's rows among millions, and costs a write almost nothing.
CREATE INDEX CONCURRENTLY IF NOT EXISTS case_operation_events_occurred_at
    ON case_operation_events USING brin (occurred_at);

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS case_operation_events_occurred_at;
DROP INDEX CONCURRENTLY IF EXISTS case_operation_events_tenant_operation;
