-- +goose Up
-- A write the service gave up on (its request answered 503 at the request timeout) must not commit later.
-- Postgres's statement_timeout ends a statement that runs too long, but not one that a frozen or overloaded
-- server only starts reading after the client has gone: each write statement passes its request's deadline
-- here, and one that the database reaches too late fails, and so writes nothing.
-- +goose StatementBegin
CREATE FUNCTION case_operation_write_in_time(deadline timestamptz) RETURNS boolean
LANGUAGE plpgsql VOLATILE PARALLEL SAFE AS $$
BEGIN
    IF deadline IS NOT NULL AND clock_timestamp() > deadline THEN
        RAISE EXCEPTION 'canceling a write whose request gave up at %', deadline USING ERRCODE = 'query_canceled';
    END IF;
    RETURN true;
END $$;
-- +goose StatementEnd
COMMENT ON FUNCTION case_operation_write_in_time(timestamptz) IS
    'Raises query_canceled when the write calling it runs after deadline, the time its HTTP request was answered 503; true otherwise.';

-- +goose Down
DROP FUNCTION case_operation_write_in_time(timestamptz);
