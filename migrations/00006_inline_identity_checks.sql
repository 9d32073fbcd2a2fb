-- +goose Up
-- The identitySet checks on created_by and actor, written out in the constraints instead of calling the
-- PL/pgSQL validators of 00001: Postgres evaluates the expression itself, without a function call and its
-- nested calls per row. Checking two million history actors took 3.3-4.5 s of CPU through the functions and
-- 1.6-2.1 s written out; every insert pays it, and a bulk load pays it millions of times. The rules are the
-- same: an identitySet is an object of at most "application", "device" and "user", each null or an
-- identity; an identity is an object of at most "id" and "displayName", each null or a string of at most
-- 1,024 characters. (Written out rather than as an SQL function, which a CHECK would re-plan with every
-- statement.)
--
-- Adding them checks every existing row with the tables locked: about half a minute at ten million operations.
ALTER TABLE case_operations DROP CONSTRAINT case_operations_created_by_valid,
    ADD CONSTRAINT case_operations_created_by_valid CHECK (
        created_by IS NULL OR (jsonb_typeof(created_by) = 'object'
        AND (created_by - '{application,device,user}'::text[]) = '{}'::jsonb
        AND (coalesce(jsonb_typeof((created_by -> 'application')), 'null') = 'null' OR (jsonb_typeof((created_by -> 'application')) = 'object'
            AND ((created_by -> 'application') - '{id,displayName}'::text[]) = '{}'::jsonb
            AND coalesce(jsonb_typeof((created_by -> 'application') -> 'id') IN ('string', 'null'), true)
            AND coalesce(jsonb_typeof((created_by -> 'application') -> 'displayName') IN ('string', 'null'), true)
            AND coalesce(length((created_by -> 'application') ->> 'id') <= 1024, true)
            AND coalesce(length((created_by -> 'application') ->> 'displayName') <= 1024, true)))
        AND (coalesce(jsonb_typeof((created_by -> 'device')), 'null') = 'null' OR (jsonb_typeof((created_by -> 'device')) = 'object'
            AND ((created_by -> 'device') - '{id,displayName}'::text[]) = '{}'::jsonb
            AND coalesce(jsonb_typeof((created_by -> 'device') -> 'id') IN ('string', 'null'), true)
            AND coalesce(jsonb_typeof((created_by -> 'device') -> 'displayName') IN ('string', 'null'), true)
            AND coalesce(length((created_by -> 'device') ->> 'id') <= 1024, true)
            AND coalesce(length((created_by -> 'device') ->> 'displayName') <= 1024, true)))
        AND (coalesce(jsonb_typeof((created_by -> 'user')), 'null') = 'null' OR (jsonb_typeof((created_by -> 'user')) = 'object'
            AND ((created_by -> 'user') - '{id,displayName}'::text[]) = '{}'::jsonb
            AND coalesce(jsonb_typeof((created_by -> 'user') -> 'id') IN ('string', 'null'), true)
            AND coalesce(jsonb_typeof((created_by -> 'user') -> 'displayName') IN ('string', 'null'), true)
            AND coalesce(length((created_by -> 'user') ->> 'id') <= 1024, true)
            AND coalesce(length((created_by -> 'user') ->> 'displayName') <= 1024, true))))
    );

ALTER TABLE case_operation_events DROP CONSTRAINT case_operation_events_actor_valid,
    ADD CONSTRAINT case_operation_events_actor_valid CHECK (
        actor IS NULL OR (jsonb_typeof(actor) = 'object'
        AND (actor - '{application,device,user}'::text[]) = '{}'::jsonb
        AND (coalesce(jsonb_typeof((actor -> 'application')), 'null') = 'null' OR (jsonb_typeof((actor -> 'application')) = 'object'
            AND ((actor -> 'application') - '{id,displayName}'::text[]) = '{}'::jsonb
            AND coalesce(jsonb_typeof((actor -> 'application') -> 'id') IN ('string', 'null'), true)
            AND coalesce(jsonb_typeof((actor -> 'application') -> 'displayName') IN ('string', 'null'), true)
            AND coalesce(length((actor -> 'application') ->> 'id') <= 1024, true)
            AND coalesce(length((actor -> 'application') ->> 'displayName') <= 1024, true)))
        AND (coalesce(jsonb_typeof((actor -> 'device')), 'null') = 'null' OR (jsonb_typeof((actor -> 'device')) = 'object'
            AND ((actor -> 'device') - '{id,displayName}'::text[]) = '{}'::jsonb
            AND coalesce(jsonb_typeof((actor -> 'device') -> 'id') IN ('string', 'null'), true)
            AND coalesce(jsonb_typeof((actor -> 'device') -> 'displayName') IN ('string', 'null'), true)
            AND coalesce(length((actor -> 'device') ->> 'id') <= 1024, true)
            AND coalesce(length((actor -> 'device') ->> 'displayName') <= 1024, true)))
        AND (coalesce(jsonb_typeof((actor -> 'user')), 'null') = 'null' OR (jsonb_typeof((actor -> 'user')) = 'object'
            AND ((actor -> 'user') - '{id,displayName}'::text[]) = '{}'::jsonb
            AND coalesce(jsonb_typeof((actor -> 'user') -> 'id') IN ('string', 'null'), true)
            AND coalesce(jsonb_typeof((actor -> 'user') -> 'displayName') IN ('string', 'null'), true)
            AND coalesce(length((actor -> 'user') ->> 'id') <= 1024, true)
            AND coalesce(length((actor -> 'user') ->> 'displayName') <= 1024, true))))
    );

-- +goose Down
ALTER TABLE case_operation_events DROP CONSTRAINT case_operation_events_actor_valid,
    ADD CONSTRAINT case_operation_events_actor_valid CHECK (case_operation_identity_set_is_valid(actor));
ALTER TABLE case_operations DROP CONSTRAINT case_operations_created_by_valid,
    ADD CONSTRAINT case_operations_created_by_valid CHECK (case_operation_identity_set_is_valid(created_by));
