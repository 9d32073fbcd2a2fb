-- +goose Up
-- The history records every write to case_operations, not only the service's: an analyst's UPDATE or a
-- repair script's DELETE gets its event too, without an actor or a request id, so that delta rounds and
-- the reports see it. The service writes each event itself, in the statement that writes the row and with
-- its actor and request id, and says so for its transaction with caseops.history = 'written' (bulk loads
-- too); the WHEN clause then skips this trigger before it is queued, so the service's writes pay almost
-- nothing for it.

-- +goose StatementBegin
CREATE FUNCTION case_operations_record_direct_write() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changes jsonb;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO case_operation_events (tenant_id, operation_id, kind, changes)
        VALUES (NEW.tenant_id, NEW.id, 'created', case_operation_changes(NULL, NEW));
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO case_operation_events (tenant_id, operation_id, kind, changes)
        VALUES (OLD.tenant_id, OLD.id, 'deleted', case_operation_changes(OLD, NULL));
    ELSE
        changes := case_operation_changes(OLD, NEW);
        -- An UPDATE that moves no Graph property (only the version, say) is no change a client can see.
        IF changes <> '{}' THEN
            INSERT INTO case_operation_events (tenant_id, operation_id, kind, changes)
            VALUES (NEW.tenant_id, NEW.id, 'updated', changes);
        END IF;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER case_operations_record_direct_write
    AFTER INSERT OR UPDATE OR DELETE ON case_operations
    FOR EACH ROW
    WHEN (current_setting('caseops.history', true) IS DISTINCT FROM 'written')
    EXECUTE FUNCTION case_operations_record_direct_write();

-- +goose Down
DROP TRIGGER case_operations_record_direct_write ON case_operations;
DROP FUNCTION case_operations_record_direct_write();
