-- +goose Up
-- Every history event names the case of its operation, so that a delta round under one case can tell its
-- events from the others' without the operation, which a deleted one no longer has. The service writes the
-- case in the statement that writes the event, as the trigger recording direct SQL writes now does too.
--
-- Events written before this migration keep case_id NULL: adding a nullable column moves no row (the history
-- runs to tens of millions of rows), and an event of an operation deleted before now names its case nowhere
-- else. So do events a script inserts straight into the history without one. A delta under a case reads a
-- NULL-case event as its own when the operation is in the case, or when it no longer exists (reported as
-- removed: a removal of an operation the client never saw is one it ignores).
ALTER TABLE case_operation_events ADD COLUMN case_id uuid;
COMMENT ON COLUMN case_operation_events.case_id IS
    'The eDiscovery case of the operation when the event was written; NULL on events written before schema version 13, and on events inserted directly without it.';

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION case_operations_record_direct_write() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changes jsonb;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO case_operation_events (tenant_id, operation_id, case_id, kind, changes)
        VALUES (NEW.tenant_id, NEW.id, NEW.case_id, 'created', case_operation_changes(NULL, NEW));
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO case_operation_events (tenant_id, operation_id, case_id, kind, changes)
        VALUES (OLD.tenant_id, OLD.id, OLD.case_id, 'deleted', case_operation_changes(OLD, NULL));
    ELSE
        changes := case_operation_changes(OLD, NEW);
        -- An UPDATE that moves no Graph property (only the version, say) is no change a client can see.
        IF changes <> '{}' THEN
            INSERT INTO case_operation_events (tenant_id, operation_id, case_id, kind, changes)
            VALUES (NEW.tenant_id, NEW.id, NEW.case_id, 'updated', changes);
        END IF;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION case_operations_record_direct_write() RETURNS trigger
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
ALTER TABLE case_operation_events DROP COLUMN case_id;
