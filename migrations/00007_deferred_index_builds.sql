-- +goose Up
-- A bulk load into empty tables (caseops seed) drops the indexes of case_operations and case_operation_events
-- and builds them again at its end. A load killed in between (SIGKILL, the OOM killer, a lost connection) used
-- to leave case_operations without its primary key for good, and nothing said so. The load now records each
-- index it drops here, in the transaction that drops it; building an index again deletes its row in the same
-- transaction. So a row here is an index still owed, and the next seed, migrate up or serve builds it.
CREATE TABLE case_operation_deferred_indexes (
    index_name text NOT NULL CONSTRAINT case_operation_deferred_indexes_pkey PRIMARY KEY,
    table_name text NOT NULL,
    create_index_statement text NOT NULL,
    -- ALTER TABLE ... ADD CONSTRAINT ... USING INDEX, when the index backs a primary key or unique constraint.
    add_constraint_statement text,
    -- COMMENT ON INDEX ..., when the index had a comment.
    comment_statement text,
    dropped_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE case_operation_deferred_indexes IS
    'Indexes of case_operations and case_operation_events that a bulk load dropped and has not built again yet, with the statements that restore them; empty unless a load is running or was killed. caseops seed, migrate up and serve build what is left here.';

-- +goose Down
-- A row is an index some table still lacks, with the only record of how to build it: refuse to forget it.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM case_operation_deferred_indexes) THEN
        RAISE EXCEPTION 'case_operation_deferred_indexes still lists indexes a bulk load dropped: run caseops migrate up to build them first';
    END IF;
END $$;
-- +goose StatementEnd
DROP TABLE case_operation_deferred_indexes;
