package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Event is one row of an operation's history (case_operation_events): who changed what, and when.
type Event struct {
	Seq        int64
	OccurredAt time.Time
	Kind       string       // created, updated or deleted
	Actor      *IdentitySet // nil for a direct SQL write that named nobody
	RequestID  *string
	// Changes is {"<Graph property>": {"old": ..., "new": ...}}, as the history stores it.
	Changes json.RawMessage
}

// HistoryQuery asks for a page of one operation's history, oldest first.
type HistoryQuery struct {
	Case      uuid.UUID // uuid.Nil: the operation may be in any case
	Operation uuid.UUID
	AfterSeq  int64 // the page starts after this event; 0 from the start
	Top       int   // events in the page, at least 1
}

// HistoryPage is a page of history; More says whether events follow the last one.
type HistoryPage struct {
	Events []Event
	More   bool
}

// historySQL reads a page of an operation's history through the (tenant_id, operation_id, seq) index of
// migration 00015. The operation must exist (in the case, when one is named): a missing one gives no row at
// all, and one with no event after the page's start gives one row of nulls. An operation created with the id of
// a deleted one starts after that one's deletion: the events before it are another operation's.
const historySQL = `
SELECT e.seq, e.occurred_at, e.kind, e.actor, e.request_id, e.changes
FROM (SELECT (SELECT max(seq) FROM case_operation_events
		WHERE tenant_id = $1 AND operation_id = $2 AND kind = 'deleted') AS deleted_seq
	FROM case_operations WHERE tenant_id = $1 AND id = $2 AND ($3::uuid IS NULL OR case_id = $3)) op
LEFT JOIN LATERAL (
	SELECT seq, occurred_at, kind::text, actor, request_id, changes FROM case_operation_events
	WHERE tenant_id = $1 AND operation_id = $2 AND seq > greatest($4, coalesce(op.deleted_seq, 0))
	ORDER BY seq LIMIT $5
) e ON true`

// History returns a page of tenant's operation's history, oldest first; ErrNotFound when the operation does
// not exist (or is not in the case). A deleted operation's history stays in the table for SQL, not here.
func (s *Store) History(ctx context.Context, tenant string, q HistoryQuery) (HistoryPage, error) {
	rows, err := s.pool.Query(ctx, historySQL, tenant, [16]byte(q.Operation), caseOrNil(q.Case), q.AfterSeq, q.Top+1)
	if err != nil {
		return HistoryPage{}, mapError(err)
	}
	var page HistoryPage
	found := false
	for rows.Next() {
		found = true
		var (
			seq        *int64
			occurredAt *time.Time
			kind       *string
			actor      *IdentitySet
			e          Event
		)
		if err := rows.Scan(&seq, &occurredAt, &kind, &actor, &e.RequestID, &e.Changes); err != nil {
			rows.Close()
			return HistoryPage{}, mapError(err)
		}
		if seq == nil {
			continue // the operation exists, and nothing follows AfterSeq
		}
		e.Seq, e.OccurredAt, e.Kind, e.Actor = *seq, occurredAt.UTC(), *kind, actor
		page.Events = append(page.Events, e)
	}
	if err := rows.Err(); err != nil {
		return HistoryPage{}, mapError(err)
	}
	if !found {
		return HistoryPage{}, ErrNotFound
	}
	if len(page.Events) > q.Top {
		page.Events, page.More = page.Events[:q.Top], true
	}
	return page, nil
}

// Overview is what a dashboard shows at a glance for a tenant or one of its cases.
type Overview struct {
	// Statuses counts the operations in each status now; a status no operation has is absent.
	Statuses map[Status]int64
	// Since is the start of the first minute of StatusChanges, which counts the status changes (a creation
	// enters its first status) in each of the last 60 minutes, oldest first; the last is the current minute.
	Since         time.Time
	StatusChanges []int64
	// Failures counts failed and submissionFailed operations by resultInfo code (nil: no code), most first.
	Failures []FailureCount
}

// FailureCount is how many failed operations have a result code.
type FailureCount struct {
	Code  *int32
	Count int64
}

// overviewSQL answers all of Overview in one statement, whether the case exists included. The statuses come from
// the (status, tenant_id, ...) index of migration 00004, the failures from its partial failures index, and the last
// hour's status changes from the BRIN index on occurred_at of migration 00015. Events before migration 00013 have
// no case_id, but none of them is from the last hour.
const overviewSQL = `
WITH minutes AS (
	SELECT date_trunc('minute', now()) - interval '59 minutes' AS since
)
SELECT $2::uuid IS NULL OR EXISTS (SELECT FROM ediscovery_cases WHERE tenant_id = $1 AND id = $2),
	(SELECT since FROM minutes),
	(SELECT coalesce(jsonb_object_agg(status, n), '{}') FROM (
		SELECT status, count(*) AS n FROM case_operations
		WHERE tenant_id = $1 AND ($2::uuid IS NULL OR case_id = $2) GROUP BY status) s),
	(SELECT array_agg(coalesce(c.n, 0) ORDER BY m.minute)
		FROM generate_series((SELECT since FROM minutes), date_trunc('minute', now()), interval '1 minute') AS m(minute)
		LEFT JOIN (
			SELECT date_trunc('minute', occurred_at) AS minute, count(*) AS n FROM case_operation_events
			WHERE occurred_at >= (SELECT since FROM minutes) AND tenant_id = $1 AND ($2::uuid IS NULL OR case_id = $2)
				AND kind <> 'deleted' AND changes ? 'status'
			GROUP BY 1) c ON c.minute = m.minute),
	(SELECT coalesce(jsonb_agg(jsonb_build_object('code', result_code, 'count', n) ORDER BY n DESC, result_code NULLS LAST), '[]') FROM (
		SELECT result_code, count(*) AS n FROM case_operations
		WHERE tenant_id = $1 AND ($2::uuid IS NULL OR case_id = $2) AND status IN ('submissionFailed', 'failed')
		GROUP BY result_code ORDER BY n DESC, result_code NULLS LAST LIMIT 10) f)`

// Overview counts tenant's operations (in caseID, unless uuid.Nil) by status, their status changes over the
// last hour, and their failures by result code (the ten most common codes); ErrCaseNotFound when the tenant has
// no case caseID.
func (s *Store) Overview(ctx context.Context, tenant string, caseID uuid.UUID) (Overview, error) {
	var (
		o        Overview
		found    bool
		failures []struct {
			Code  *int32 `json:"code"`
			Count int64  `json:"count"`
		}
	)
	err := s.pool.QueryRow(ctx, overviewSQL, tenant, caseOrNil(caseID)).Scan(&found, &o.Since, &o.Statuses, &o.StatusChanges, &failures)
	if err != nil {
		return Overview{}, mapError(err)
	}
	if !found {
		return Overview{}, ErrCaseNotFound
	}
	o.Since = o.Since.UTC()
	o.Failures = make([]FailureCount, len(failures))
	for i, f := range failures {
		o.Failures[i] = FailureCount{Code: f.Code, Count: f.Count}
	}
	return o, nil
}
