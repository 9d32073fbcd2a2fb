-- +goose Up
-- The transaction that wrote each event. seq comes from a sequence, so a transaction that took a lower seq
-- can commit after one that took a higher seq: "every event after seq N" is not a safe place to resume a
-- delta query from. A transaction id is: every transaction older than a snapshot's xmin has ended, and
-- pg_visible_in_snapshot says exactly which events a snapshot saw, so a delta query resumes from the snapshot
-- it read (see store/delta.go). The default fills it on every insert, the service's and a bulk COPY's alike;
-- writers must leave it to the default.
ALTER TABLE case_operation_events
    ADD COLUMN transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id();

COMMENT ON COLUMN case_operation_events.transaction_id IS
    'The transaction that wrote the event (pg_current_xact_id()); delta queries resume from a snapshot of these.';

-- Delta reads: one tenant's events of the transactions between two snapshots.
CREATE INDEX case_operation_events_tenant_transaction ON case_operation_events (tenant_id, transaction_id);

-- +goose Down
DROP INDEX case_operation_events_tenant_transaction;
ALTER TABLE case_operation_events DROP COLUMN transaction_id;
