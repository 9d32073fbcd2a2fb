-- +goose Up
-- The caseOperation enums, in Microsoft Graph's member order so that ORDER BY sorts as Graph does.
-- caseAction's unknownFutureValue is Graph's evolvable-enum sentinel and is never stored, so it is not a member.
CREATE TYPE case_operation_status AS ENUM (
    'notStarted', 'submissionFailed', 'running', 'succeeded', 'partiallySucceeded', 'failed'
);
CREATE TYPE case_action AS ENUM (
    'contentExport', 'applyTags', 'convertToPdf', 'index', 'estimateStatistics', 'addToReviewSet'
);

-- +goose StatementBegin
-- A terminal status never changes again, and completedDateTime is set exactly when the status is terminal.
CREATE FUNCTION case_operation_status_is_terminal(s case_operation_status) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN s IN ('succeeded', 'partiallySucceeded', 'failed', 'submissionFailed');
-- +goose StatementEnd

-- +goose StatementBegin
-- The status machine: notStarted may become anything, running may become running or succeeded,
-- partiallySucceeded or failed, and a terminal status only itself.
CREATE FUNCTION case_operation_status_can_become(old_status case_operation_status, new_status case_operation_status)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN old_status = new_status
    OR old_status = 'notStarted'
    OR (old_status = 'running' AND new_status IN ('succeeded', 'partiallySucceeded', 'failed'));
-- +goose StatementEnd

-- +goose StatementBegin
-- An identity is {"id": string|null, "displayName": string|null}, each string at most 1,024 characters.
-- PL/pgSQL rather than SQL so that a CHECK calling it is planned once, not with every statement.
CREATE FUNCTION case_operation_identity_is_valid(i jsonb) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF i IS NULL OR jsonb_typeof(i) = 'null' THEN
        RETURN true;
    END IF;
    RETURN jsonb_typeof(i) = 'object'
        AND (i - ARRAY['id', 'displayName']) = '{}'::jsonb
        AND coalesce(jsonb_typeof(i -> 'id') IN ('string', 'null'), true)
        AND coalesce(jsonb_typeof(i -> 'displayName') IN ('string', 'null'), true)
        AND coalesce(length(i ->> 'id') <= 1024, true)
        AND coalesce(length(i ->> 'displayName') <= 1024, true);
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- An identitySet is {"application", "device", "user"}, each an identity or null.
CREATE FUNCTION case_operation_identity_set_is_valid(s jsonb) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF s IS NULL THEN
        RETURN true;
    END IF;
    RETURN jsonb_typeof(s) = 'object'
        AND (s - ARRAY['application', 'device', 'user']) = '{}'::jsonb
        AND case_operation_identity_is_valid(s -> 'application')
        AND case_operation_identity_is_valid(s -> 'device')
        AND case_operation_identity_is_valid(s -> 'user');
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- RFC 7396 JSON Merge Patch: a member left out is kept, a null member is removed, objects merge recursively.
CREATE FUNCTION case_operation_merge_patch(target jsonb, patch jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    k text;
    v jsonb;
    result jsonb;
BEGIN
    IF patch IS NULL OR jsonb_typeof(patch) <> 'object' THEN
        RETURN patch;
    END IF;
    result := CASE WHEN jsonb_typeof(target) = 'object' THEN target ELSE '{}'::jsonb END;
    FOR k, v IN SELECT * FROM jsonb_each(patch) LOOP
        IF jsonb_typeof(v) = 'null' THEN
            result := result - k;
        ELSE
            result := jsonb_set(result, ARRAY[k], case_operation_merge_patch(result -> k, v));
        END IF;
    END LOOP;
    RETURN result;
END $$;
-- +goose StatementEnd

-- One row per operation of any caseOperation type. The same GUID in another tenant is another operation.
CREATE TABLE case_operations (
    tenant_id text NOT NULL
        CONSTRAINT case_operations_tenant_id_valid CHECK (tenant_id <> '' AND length(tenant_id) <= 256),
    id uuid NOT NULL,
    odata_type text NOT NULL DEFAULT '#microsoft.graph.tagOperation'
        CONSTRAINT case_operations_odata_type_known CHECK (odata_type IN (
            '#microsoft.graph.tagOperation',
            '#microsoft.graph.caseExportOperation',
            '#microsoft.graph.caseHoldOperation',
            '#microsoft.graph.caseIndexOperation',
            '#microsoft.graph.addToReviewSetOperation',
            '#microsoft.graph.estimateStatisticsOperation',
            '#microsoft.graph.purgeDataOperation'
        )),
    status case_operation_status NOT NULL DEFAULT 'notStarted',
    action case_action NOT NULL DEFAULT 'applyTags',
    percent_progress integer
        CONSTRAINT case_operations_percent_progress_range CHECK (percent_progress BETWEEN 0 AND 100),
    created_date_time timestamptz NOT NULL DEFAULT now(),
    completed_date_time timestamptz,
    created_by jsonb
        CONSTRAINT case_operations_created_by_valid CHECK (case_operation_identity_set_is_valid(created_by)),
    created_by_user_id text GENERATED ALWAYS AS (created_by #>> '{user,id}') STORED,
    created_by_user_display_name text GENERATED ALWAYS AS (created_by #>> '{user,displayName}') STORED,
    created_by_application_id text GENERATED ALWAYS AS (created_by #>> '{application,id}') STORED,
    created_by_application_display_name text GENERATED ALWAYS AS (created_by #>> '{application,displayName}') STORED,
    result_code integer,
    result_message text
        CONSTRAINT case_operations_result_message_length CHECK (length(result_message) <= 4096),
    result_subcode integer,
    version bigint NOT NULL DEFAULT 1
        CONSTRAINT case_operations_version_positive CHECK (version >= 1),
    last_modified_date_time timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT case_operations_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT case_operations_completed_when_terminal
        CHECK ((completed_date_time IS NOT NULL)
            = (status IN ('succeeded', 'partiallySucceeded', 'failed', 'submissionFailed'))),
    CONSTRAINT case_operations_completed_after_created
        CHECK (completed_date_time >= created_date_time),
    CONSTRAINT case_operations_modified_after_created
        CHECK (last_modified_date_time >= created_date_time)
);

COMMENT ON TABLE case_operations IS 'One row per eDiscovery caseOperation (tagOperation, ...), keyed by (tenant_id, id).';
COMMENT ON COLUMN case_operations.version IS 'Incremented by every write that changes the row; the ETag is derived from it.';

-- The list endpoint: a tenant's operations, newest first, keyset-paged on (created_date_time, id).
CREATE INDEX case_operations_tenant_created ON case_operations (tenant_id, created_date_time DESC, id DESC);

-- +goose StatementBegin
-- Timestamps in history entries read as they do in the API: RFC 3339 in UTC.
CREATE FUNCTION case_operation_json_time(t timestamptz) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
RETURN to_jsonb(to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'));
-- +goose StatementEnd
-- +goose StatementBegin
-- resultInfo as Graph shows it, or null when code, message and subcode are all null.
CREATE FUNCTION case_operation_result_info(code integer, message text, subcode integer) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE WHEN code IS NULL AND message IS NULL AND subcode IS NULL THEN NULL
    ELSE jsonb_build_object('code', code, 'message', message, 'subcode', subcode) END;
-- +goose StatementEnd

-- +goose StatementBegin
-- The history entry between two versions of a row: {"<Graph property>": {"old": ..., "new": ...}} for each
-- property that differs. o is NULL for a create and n is NULL for a delete. SQL-language functions of one
-- expression, so the planner inlines them into the statements that write history.
CREATE FUNCTION case_operation_changes(o case_operations, n case_operations) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE WHEN o.created_date_time IS DISTINCT FROM n.created_date_time
        THEN jsonb_build_object('createdDateTime', jsonb_build_object(
            'old', case_operation_json_time(o.created_date_time), 'new', case_operation_json_time(n.created_date_time)))
        ELSE '{}'::jsonb END
    || CASE WHEN o.completed_date_time IS DISTINCT FROM n.completed_date_time
        THEN jsonb_build_object('completedDateTime', jsonb_build_object(
            'old', case_operation_json_time(o.completed_date_time), 'new', case_operation_json_time(n.completed_date_time)))
        ELSE '{}'::jsonb END
    || CASE WHEN o.percent_progress IS DISTINCT FROM n.percent_progress
        THEN jsonb_build_object('percentProgress', jsonb_build_object('old', o.percent_progress, 'new', n.percent_progress))
        ELSE '{}'::jsonb END
    || CASE WHEN o.status IS DISTINCT FROM n.status
        THEN jsonb_build_object('status', jsonb_build_object('old', o.status, 'new', n.status))
        ELSE '{}'::jsonb END
    || CASE WHEN o.action IS DISTINCT FROM n.action
        THEN jsonb_build_object('action', jsonb_build_object('old', o.action, 'new', n.action))
        ELSE '{}'::jsonb END
    || CASE WHEN o.created_by IS DISTINCT FROM n.created_by
        THEN jsonb_build_object('createdBy', jsonb_build_object('old', o.created_by, 'new', n.created_by))
        ELSE '{}'::jsonb END
    || CASE WHEN (o.result_code, o.result_message, o.result_subcode) IS DISTINCT FROM (n.result_code, n.result_message, n.result_subcode)
        THEN jsonb_build_object('resultInfo', jsonb_build_object(
            'old', case_operation_result_info(o.result_code, o.result_message, o.result_subcode),
            'new', case_operation_result_info(n.result_code, n.result_message, n.result_subcode)))
        ELSE '{}'::jsonb END;
-- +goose StatementEnd

-- +goose StatementBegin
-- Rules a direct SQL writer must follow too: identity columns are immutable and the status only moves
-- notStarted -> anything, running -> running or a terminal status, terminal -> itself.
CREATE FUNCTION case_operations_guard_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.tenant_id <> OLD.tenant_id OR NEW.id <> OLD.id OR NEW.odata_type <> OLD.odata_type
       OR NEW.created_date_time <> OLD.created_date_time THEN
        RAISE EXCEPTION 'tenant_id, id, odata_type and created_date_time cannot change'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'case_operations_immutable_columns',
                  TABLE = 'case_operations';
    END IF;
    IF NOT case_operation_status_can_become(OLD.status, NEW.status) THEN
        RAISE EXCEPTION 'status cannot change from % to %', OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'case_operations_status_transition',
                  TABLE = 'case_operations';
    END IF;
    -- A writer that changes the row without moving its version (a direct SQL fix, say) still invalidates
    -- every ETag a client holds, so If-Match cannot overwrite that change unseen.
    IF NEW.version = OLD.version AND NEW IS DISTINCT FROM OLD THEN
        NEW.version := OLD.version + 1;
        IF NEW.last_modified_date_time = OLD.last_modified_date_time THEN
            NEW.last_modified_date_time := greatest(now(), OLD.last_modified_date_time);
        END IF;
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd

CREATE TRIGGER case_operations_guard_update
    BEFORE UPDATE ON case_operations
    FOR EACH ROW EXECUTE FUNCTION case_operations_guard_update();

-- The append-only history: one row per create, change and delete.
CREATE TYPE case_operation_event_kind AS ENUM ('created', 'updated', 'deleted');

CREATE TABLE case_operation_events (
    seq bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT case_operation_events_pkey PRIMARY KEY,
    tenant_id text NOT NULL,
    operation_id uuid NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    kind case_operation_event_kind NOT NULL,
    actor jsonb
        CONSTRAINT case_operation_events_actor_valid CHECK (case_operation_identity_set_is_valid(actor)),
    actor_user_id text GENERATED ALWAYS AS (actor #>> '{user,id}') STORED,
    actor_application_id text GENERATED ALWAYS AS (actor #>> '{application,id}') STORED,
    request_id text,
    changes jsonb NOT NULL
        CONSTRAINT case_operation_events_changes_object CHECK (jsonb_typeof(changes) = 'object')
);

COMMENT ON TABLE case_operation_events IS
    'Append-only history of case_operations. changes is {"<Graph property>": {"old": ..., "new": ...}}.';

-- +goose StatementBegin
CREATE FUNCTION case_operation_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'case_operation_events is append-only'
        USING ERRCODE = 'check_violation', CONSTRAINT = 'case_operation_events_append_only',
              TABLE = 'case_operation_events';
END $$;
-- +goose StatementEnd

CREATE TRIGGER case_operation_events_append_only
    BEFORE UPDATE OR DELETE ON case_operation_events
    FOR EACH ROW EXECUTE FUNCTION case_operation_events_append_only();
CREATE TRIGGER case_operation_events_no_truncate
    BEFORE TRUNCATE ON case_operation_events
    FOR EACH STATEMENT EXECUTE FUNCTION case_operation_events_append_only();

-- +goose Down
DROP TABLE case_operation_events;
DROP FUNCTION case_operation_events_append_only();
DROP TYPE case_operation_event_kind;
DROP FUNCTION case_operation_changes(case_operations, case_operations);
DROP TABLE case_operations;
DROP FUNCTION case_operations_guard_update();
DROP FUNCTION case_operation_result_info(integer, text, integer);
DROP FUNCTION case_operation_json_time(timestamptz);
DROP FUNCTION case_operation_merge_patch(jsonb, jsonb);
DROP FUNCTION case_operation_identity_set_is_valid(jsonb);
DROP FUNCTION case_operation_identity_is_valid(jsonb);
DROP FUNCTION case_operation_status_can_become(case_operation_status, case_operation_status);
DROP FUNCTION case_operation_status_is_terminal(case_operation_status);
DROP TYPE case_action;
DROP TYPE case_operation_status;
