-- +goose Up
-- A POST answered 503, or never answered, may be sent again (OASIS Repeatable Requests, as Azure APIs take it):
-- the client names it with a Repeatability-Request-ID, and a repeat within the window gets the first answer
-- instead of a second operation. The first answer is written here in the transaction that creates the
-- operation, so every replica sees it or none does. The service deletes rows once they expire.
CREATE TABLE case_operation_repeatable_requests (
    tenant_id text NOT NULL,
    request_id text NOT NULL,
    -- SHA-256 of what the request asked for: a repeat that asks for something else is refused.
    request_hash bytea NOT NULL,
    first_sent timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    -- The operation as the first request created it: its row in case_operations, as jsonb.
    operation jsonb NOT NULL,
    CONSTRAINT case_operation_repeatable_requests_pkey PRIMARY KEY (tenant_id, request_id)
);
CREATE INDEX case_operation_repeatable_requests_expires_at ON case_operation_repeatable_requests (expires_at);
COMMENT ON TABLE case_operation_repeatable_requests IS
    'POSTs sent with a Repeatability-Request-ID, per tenant, with the operation each created, kept until expires_at so that a repeat is answered as the first request was.';

-- +goose Down
DROP TABLE case_operation_repeatable_requests;
