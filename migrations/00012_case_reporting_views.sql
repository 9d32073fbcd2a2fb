-- +goose Up
-- Reporting by eDiscovery case: what each case holds, and what its estimates found. Both read
-- case_operations live (a case's operations are found by the (tenant_id, case_id, ...) index of 00010), and
-- name every case, those with no operation of the kind asked about too, so that a case shows up as empty
-- rather than missing.

-- case_operations_per_case: operations of each case by type and current status.
CREATE VIEW case_operations_per_case AS
SELECT c.tenant_id, c.id AS case_id, c.display_name AS case_display_name, c.status AS case_status,
    o.operation_type, o.status, count(o.id) AS operations
FROM ediscovery_cases c
LEFT JOIN case_operations o ON o.tenant_id = c.tenant_id AND o.case_id = c.id
GROUP BY c.tenant_id, c.id, o.operation_type, o.status;
COMMENT ON VIEW case_operations_per_case IS
    'Operations of each eDiscovery case by operation_type and status; a case with none has one row of nulls and 0.';

-- case_estimate_totals: per case, its estimate operations, and the sums of what the finished ones
-- (succeeded or partiallySucceeded) counted. A running estimate's figures are partial, so they are left out.
CREATE VIEW case_estimate_totals AS
SELECT c.tenant_id, c.id AS case_id, c.display_name AS case_display_name,
    count(o.id) AS estimates,
    count(o.id) FILTER (WHERE f.finished) AS finished,
    coalesce(sum(o.indexed_item_count) FILTER (WHERE f.finished), 0)::bigint AS indexed_item_count,
    coalesce(sum(o.indexed_items_size) FILTER (WHERE f.finished), 0)::bigint AS indexed_items_size,
    coalesce(sum(o.unindexed_item_count) FILTER (WHERE f.finished), 0)::bigint AS unindexed_item_count,
    coalesce(sum(o.unindexed_items_size) FILTER (WHERE f.finished), 0)::bigint AS unindexed_items_size,
    coalesce(sum(o.mailbox_count) FILTER (WHERE f.finished), 0)::bigint AS mailbox_count,
    coalesce(sum(o.site_count) FILTER (WHERE f.finished), 0)::bigint AS site_count,
    max(o.completed_date_time) FILTER (WHERE f.finished) AS last_completed_date_time
FROM ediscovery_cases c
LEFT JOIN case_operations o ON o.tenant_id = c.tenant_id AND o.case_id = c.id
    AND o.operation_type = 'ediscoveryEstimateOperation'
CROSS JOIN LATERAL (SELECT o.status IN ('succeeded', 'partiallySucceeded') AS finished) f
GROUP BY c.tenant_id, c.id;
COMMENT ON VIEW case_estimate_totals IS
    'Per eDiscovery case: its estimate operations, and the item, size, mailbox and site totals of the finished ones.';

-- +goose Down
DROP VIEW case_estimate_totals;
DROP VIEW case_operations_per_case;
