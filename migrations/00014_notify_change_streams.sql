-- +goose Up
-- Change streams wake on the Postgres channel caseops_changes. The service notifies it itself, once per burst of
-- its writes and outside their transactions; a write straight in SQL notifies it here, in the trigger that records
-- its history, so that streams report it as soon as it commits. Postgres folds a transaction's identical
-- notifications into one.
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
    -- Wake the change streams of every process (each notification of a transaction counts once).
    PERFORM pg_notify('caseops_changes', '');
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
