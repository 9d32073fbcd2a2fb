-- +goose Up
-- Change streams wake on the Postgres channel caseops_changes. The service notifies it itself, once per burst of
-- its writes and outside their transactions; a write straight in SQL notifies it here, once per statement, so
-- that streams report it as soon as it commits. The service's own writes say caseops.history = 'written'
-- (migration 00006), which keeps this trigger out of them, and out of bulk loads.
-- +goose StatementBegin
CREATE FUNCTION case_operations_notify_direct_write() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('caseops_changes', '');
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER case_operations_notify_direct_write
    AFTER INSERT OR UPDATE OR DELETE ON case_operations
    FOR EACH STATEMENT
    WHEN (current_setting('caseops.history', true) IS DISTINCT FROM 'written')
    EXECUTE FUNCTION case_operations_notify_direct_write();

-- +goose Down
DROP TRIGGER case_operations_notify_direct_write ON case_operations;
DROP FUNCTION case_operations_notify_direct_write();
