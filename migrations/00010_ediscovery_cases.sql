-- +goose Up
-- In Microsoft Graph every caseOperation belongs to an eDiscovery case (microsoft.graph.security.ediscoveryCase).
-- Each tenant gets a default case ("Default case"): the older /beta/tagOperations routes, direct SQL writers and
-- bulk loads that name no case put their operations there, and every operation that existed before cases did
-- moves into it unchanged.

-- caseStatus in Graph's member order; unknownFutureValue is the evolvable-enum sentinel and is never stored.
CREATE TYPE ediscovery_case_status AS ENUM (
    'unknown', 'active', 'pendingDelete', 'closing', 'closed', 'closedWithError'
);

CREATE TABLE ediscovery_cases (
    tenant_id text NOT NULL
        CONSTRAINT ediscovery_cases_tenant_id_valid CHECK (tenant_id <> '' AND length(tenant_id) <= 256),
    id uuid NOT NULL,
    display_name text NOT NULL
        CONSTRAINT ediscovery_cases_display_name_length CHECK (length(display_name) BETWEEN 1 AND 256),
    description text,
    external_id text,
    status ediscovery_case_status NOT NULL DEFAULT 'active',
    created_date_time timestamptz NOT NULL DEFAULT now(),
    last_modified_date_time timestamptz NOT NULL DEFAULT now(),
    last_modified_by jsonb
        CONSTRAINT ediscovery_cases_last_modified_by_valid CHECK (case_operation_identity_set_is_valid(last_modified_by)),
    closed_by jsonb
        CONSTRAINT ediscovery_cases_closed_by_valid CHECK (case_operation_identity_set_is_valid(closed_by)),
    closed_date_time timestamptz,
    version bigint NOT NULL DEFAULT 1
        CONSTRAINT ediscovery_cases_version_positive CHECK (version >= 1),
    CONSTRAINT ediscovery_cases_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT ediscovery_cases_modified_after_created CHECK (last_modified_date_time >= created_date_time)
);

COMMENT ON TABLE ediscovery_cases IS
    'One row per eDiscovery case (microsoft.graph.security.ediscoveryCase), keyed by (tenant_id, id); case_operations.case_id names it.';

-- +goose StatementBegin
-- The id of tenant's default case: the same on every replica and in every database, without a lookup.
CREATE FUNCTION case_operation_default_case_id(tenant text) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN md5('caseops default case ' || tenant)::uuid;
-- +goose StatementEnd

-- Every existing tenant's default case, created when its first operation was.
INSERT INTO ediscovery_cases (tenant_id, id, display_name, created_date_time, last_modified_date_time)
SELECT tenant_id, case_operation_default_case_id(tenant_id), 'Default case', min(created_date_time), min(created_date_time)
FROM case_operations GROUP BY tenant_id;

ALTER TABLE case_operations ADD COLUMN case_id uuid;

-- Moving the operations into their default cases is no change a client can see: with the user triggers off, the
-- version, last_modified_date_time (so the ETags), the history and the rollups stay as they are.
ALTER TABLE case_operations DISABLE TRIGGER USER;
UPDATE case_operations SET case_id = case_operation_default_case_id(tenant_id);
ALTER TABLE case_operations ENABLE TRIGGER USER;

ALTER TABLE case_operations ALTER COLUMN case_id SET NOT NULL,
    ADD CONSTRAINT case_operations_case_fkey FOREIGN KEY (tenant_id, case_id)
        REFERENCES ediscovery_cases (tenant_id, id) ON DELETE RESTRICT;
COMMENT ON COLUMN case_operations.case_id IS
    'The eDiscovery case the operation belongs to (ediscovery_cases.id); left NULL on INSERT, the tenant''s default case. Never changes.';

-- A case's operations, newest first, as the list under a case pages them; also what the foreign key's
-- ON DELETE RESTRICT check on a case reads.
CREATE INDEX case_operations_tenant_case_created ON case_operations (tenant_id, case_id, created_date_time DESC, id DESC);

-- +goose StatementBegin
-- An INSERT that names no case (the older routes, seed, direct SQL) goes to the tenant's default case, created
-- on first use.
CREATE FUNCTION case_operations_default_case() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.case_id := case_operation_default_case_id(NEW.tenant_id);
    -- An invalid tenant id is left to case_operations' own CHECK to name.
    IF NEW.tenant_id <> '' AND length(NEW.tenant_id) <= 256
       AND NOT EXISTS (SELECT FROM ediscovery_cases WHERE tenant_id = NEW.tenant_id AND id = NEW.case_id) THEN
        INSERT INTO ediscovery_cases (tenant_id, id, display_name) VALUES (NEW.tenant_id, NEW.case_id, 'Default case')
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd

CREATE TRIGGER case_operations_default_case
    BEFORE INSERT ON case_operations
    FOR EACH ROW WHEN (NEW.case_id IS NULL) EXECUTE FUNCTION case_operations_default_case();

-- +goose StatementBegin
CREATE FUNCTION case_operations_case_id_fixed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'case_id cannot change'
        USING ERRCODE = 'check_violation', CONSTRAINT = 'case_operations_immutable_columns',
              TABLE = 'case_operations';
END $$;
-- +goose StatementEnd

-- An operation never moves to another case.
CREATE TRIGGER case_operations_case_id_fixed
    BEFORE UPDATE OF case_id ON case_operations
    FOR EACH ROW WHEN (NEW.case_id IS DISTINCT FROM OLD.case_id) EXECUTE FUNCTION case_operations_case_id_fixed();

-- +goose Down
DROP TRIGGER case_operations_case_id_fixed ON case_operations;
DROP FUNCTION case_operations_case_id_fixed();
DROP TRIGGER case_operations_default_case ON case_operations;
DROP FUNCTION case_operations_default_case();
DROP INDEX case_operations_tenant_case_created;
ALTER TABLE case_operations DROP COLUMN case_id;
DROP FUNCTION case_operation_default_case_id(text);
DROP TABLE ediscovery_cases;
DROP TYPE ediscovery_case_status;
