package store

import (
	"context"
	"crypto/md5"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// CaseStatus is Graph's caseStatus, without the unknownFutureValue sentinel.
type CaseStatus string

const (
	CaseStatusUnknown         CaseStatus = "unknown"
	CaseStatusActive          CaseStatus = "active"
	CaseStatusPendingDelete   CaseStatus = "pendingDelete"
	CaseStatusClosing         CaseStatus = "closing"
	CaseStatusClosed          CaseStatus = "closed"
	CaseStatusClosedWithError CaseStatus = "closedWithError"
)

// CaseStatuses lists every CaseStatus in Graph's member order.
var CaseStatuses = []CaseStatus{CaseStatusUnknown, CaseStatusActive, CaseStatusPendingDelete, CaseStatusClosing,
	CaseStatusClosed, CaseStatusClosedWithError}

var (
	// ErrCaseNotFound: no such eDiscovery case in the tenant.
	ErrCaseNotFound = errors.New("case not found")
	// ErrCaseAlreadyExists: the tenant already has a case with that id.
	ErrCaseAlreadyExists = errors.New("case already exists")
	// ErrCaseClosed: the case is closed and takes no new operation.
	ErrCaseClosed = errors.New("case is closed")
	// ErrCaseBusy: the case holds an operation whose status is not terminal, so it cannot be deleted.
	ErrCaseBusy = errors.New("case holds an operation that is not finished")
)

// Case is one eDiscovery case (microsoft.graph.security.ediscoveryCase).
type Case struct {
	ID                   uuid.UUID
	DisplayName          string
	Description          *string
	ExternalID           *string
	Status               CaseStatus
	CreatedDateTime      time.Time
	LastModifiedDateTime time.Time
	LastModifiedBy       *IdentitySet
	ClosedBy             *IdentitySet
	ClosedDateTime       *time.Time
	Version              int64
}

// NewCase is what a case create stores.
type NewCase struct {
	ID          uuid.UUID // uuid.Nil: the server makes one
	DisplayName string
	Description *string
	ExternalID  *string
}

// CasePatch is a partial update of a Case; absent properties are left as they are. Status is not patchable:
// CloseCase and ReopenCase move it.
type CasePatch struct {
	DisplayName Optional[string]
	Description Optional[*string]
	ExternalID  Optional[*string]
	// IfMatch, when not nil, is the version the caller expects; any other is ErrPreconditionFailed.
	IfMatch *int64
}

// DefaultCaseID is the id of tenant's default case, which holds the operations created without a case; it
// mirrors the SQL function case_operation_default_case_id.
func DefaultCaseID(tenant string) uuid.UUID {
	sum := md5.Sum([]byte("caseops default case " + tenant))
	return uuid.UUID(sum)
}

const caseColumns = `id, display_name, description, external_id, status, created_date_time,
	last_modified_date_time, last_modified_by, closed_by, closed_date_time, version`

func scanCase(row pgx.CollectableRow) (Case, error) { return scanCaseAnd(row) }

// scanCaseAnd scans caseColumns, then any columns after them into more.
func scanCaseAnd(row pgx.CollectableRow, more ...any) (Case, error) {
	var c Case
	var status string
	err := row.Scan(append([]any{&c.ID, &c.DisplayName, &c.Description, &c.ExternalID, &status, &c.CreatedDateTime,
		&c.LastModifiedDateTime, &c.LastModifiedBy, &c.ClosedBy, &c.ClosedDateTime, &c.Version}, more...)...)
	c.Status = CaseStatus(status)
	c.CreatedDateTime, c.LastModifiedDateTime, c.ClosedDateTime = c.CreatedDateTime.UTC(), c.LastModifiedDateTime.UTC(), utc(c.ClosedDateTime)
	return c, err
}

// oneCase collects the single case a statement returns; none is ErrCaseNotFound.
func oneCase(rows pgx.Rows, err error) (Case, error) {
	if err != nil {
		return Case{}, err
	}
	c, err := pgx.CollectExactlyOneRow(rows, scanCase)
	if errors.Is(err, pgx.ErrNoRows) {
		return Case{}, ErrCaseNotFound
	}
	return c, err
}

const createCaseSQL = `INSERT INTO ediscovery_cases (tenant_id, id, display_name, description, external_id, last_modified_by)
SELECT $1, $2, $3, $4, $5, $6 WHERE case_operation_write_in_time($7)
RETURNING ` + caseColumns

// CreateCase stores a new active case for tenant; lastModifiedBy is the caller.
func (s *Store) CreateCase(ctx context.Context, tenant string, n NewCase, a Audit) (Case, error) {
	id := n.ID
	if id == uuid.Nil {
		id = uuid.New()
	}
	var c Case
	err := s.write(ctx, func(conn *pgxpool.Conn) error {
		rows, err := conn.Query(ctx, createCaseSQL, tenant, [16]byte(id), n.DisplayName, n.Description, n.ExternalID,
			jsonOrNil(a.Actor), deadline(ctx))
		c, err = oneCase(rows, err)
		return err
	})
	return c, err
}

const getCaseSQL = `SELECT ` + caseColumns + ` FROM ediscovery_cases WHERE tenant_id = $1 AND id = $2`

// GetCase returns tenant's case id.
func (s *Store) GetCase(ctx context.Context, tenant string, id uuid.UUID) (Case, error) {
	rows, err := s.pool.Query(ctx, getCaseSQL, tenant, [16]byte(id))
	c, err := oneCase(rows, err)
	return c, mapError(err)
}

// CaseCursor is where a page of ListCases starts: after the case with this creation time and id.
type CaseCursor struct {
	Created time.Time
	ID      uuid.UUID
}

// The case properties a list may filter on, and their columns.
const (
	CaseFieldDisplayName          Field = "displayName"
	CaseFieldDescription          Field = "description"
	CaseFieldExternalID           Field = "externalId"
	CaseFieldStatus               Field = "status"
	CaseFieldCreatedDateTime      Field = "createdDateTime"
	CaseFieldLastModifiedDateTime Field = "lastModifiedDateTime"
	CaseFieldClosedDateTime       Field = "closedDateTime"
)

// CaseFields lists the case fields in the order messages name them.
var CaseFields = []Field{CaseFieldDisplayName, CaseFieldDescription, CaseFieldExternalID, CaseFieldStatus,
	CaseFieldCreatedDateTime, CaseFieldLastModifiedDateTime, CaseFieldClosedDateTime}

var caseFieldColumns = map[Field]fieldColumn{
	CaseFieldDisplayName:          {"display_name", "text", kindText, false},
	CaseFieldDescription:          {"description", "text", kindText, true},
	CaseFieldExternalID:           {"external_id", "text", kindText, true},
	CaseFieldStatus:               {"status", "ediscovery_case_status", kindText, false},
	CaseFieldCreatedDateTime:      {"created_date_time", "timestamptz", kindTime, false},
	CaseFieldLastModifiedDateTime: {"last_modified_date_time", "timestamptz", kindTime, false},
	CaseFieldClosedDateTime:       {"closed_date_time", "timestamptz", kindTime, true},
}

// CaseQuery selects a page of a tenant's cases, newest first.
type CaseQuery struct {
	Filter Filter      // over CaseFields; nil: every case
	After  *CaseCursor // nil: the first page
	Top    int
	Count  bool // also count every case the filter matches
}

// ListCases returns up to q.Top of tenant's cases, newest first, and with q.Count how many the filter
// matches in all, in one statement.
func (s *Store) ListCases(ctx context.Context, tenant string, q CaseQuery) ([]Case, *int64, error) {
	b := &sqlBuilder{columns: caseFieldColumns}
	where := "tenant_id = " + b.arg(tenant, "text")
	if q.Filter != nil {
		cond, err := b.filter(q.Filter, false)
		if err != nil {
			return nil, nil, err
		}
		where += " AND " + cond
	}
	whereArgs := len(b.args)
	page := where
	if q.After != nil {
		page += " AND (created_date_time, id) < (" + b.arg(q.After.Created, "timestamptz") + ", " +
			b.arg([16]byte(q.After.ID), "uuid") + ")"
	}
	count := "NULL::bigint"
	if q.Count {
		count = "(SELECT count(*) FROM ediscovery_cases WHERE " + where + ")"
	}
	sql := "SELECT " + caseColumns + ", " + count + " FROM ediscovery_cases WHERE " + page +
		" ORDER BY created_date_time DESC, id DESC LIMIT " + b.arg(q.Top, "integer")
	rows, _ := s.pool.Query(ctx, sql, b.args...)
	var total *int64
	cases, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Case, error) { return scanCaseAnd(row, &total) })
	if err != nil {
		return nil, nil, mapError(err)
	}
	if q.Count && total == nil { // no case on this page: count apart
		var n int64
		if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM ediscovery_cases WHERE "+where, b.args[:whereArgs]...).Scan(&n); err != nil {
			return nil, nil, mapError(err)
		}
		total = &n
	}
	return cases, total, nil
}

// patchCaseSQL locks the case, checks If-Match, and writes only when something changes; verdict says which.
const patchCaseSQL = `
WITH old AS (
	SELECT c.*, CASE WHEN $9::bigint IS NOT NULL AND c.version <> $9 THEN 'stale'
		WHEN (CASE WHEN $3 THEN $4::text ELSE c.display_name END,
			CASE WHEN $5 THEN $6::text ELSE c.description END,
			CASE WHEN $7 THEN $8::text ELSE c.external_id END)
			IS NOT DISTINCT FROM (c.display_name, c.description, c.external_id) THEN 'unchanged'
		ELSE 'updated' END AS verdict
	FROM ediscovery_cases c WHERE tenant_id = $1 AND id = $2 FOR UPDATE
), upd AS (
	UPDATE ediscovery_cases c SET display_name = CASE WHEN $3 THEN $4::text ELSE c.display_name END,
		description = CASE WHEN $5 THEN $6::text ELSE c.description END,
		external_id = CASE WHEN $7 THEN $8::text ELSE c.external_id END,
		last_modified_by = $10, version = c.version + 1,
		last_modified_date_time = greatest(now(), c.last_modified_date_time)
	FROM old WHERE old.verdict = 'updated' AND c.tenant_id = $1 AND c.id = $2 AND case_operation_write_in_time($11)
	RETURNING c.*
)
SELECT old.verdict, x.* FROM old CROSS JOIN LATERAL (
	SELECT ` + caseColumns + ` FROM upd UNION ALL SELECT ` + caseColumns + ` FROM old WHERE NOT EXISTS (SELECT FROM upd)
) x`

// PatchCase applies p to tenant's case id in one statement. A patch that changes nothing writes nothing.
func (s *Store) PatchCase(ctx context.Context, tenant string, id uuid.UUID, p CasePatch, a Audit) (Case, error) {
	var verdict string
	var c Case
	err := s.write(ctx, func(conn *pgxpool.Conn) error {
		rows, err := conn.Query(ctx, patchCaseSQL, tenant, [16]byte(id), p.DisplayName.Set, p.DisplayName.Value,
			p.Description.Set, p.Description.Value, p.ExternalID.Set, p.ExternalID.Value, p.IfMatch,
			jsonOrNil(a.Actor), deadline(ctx))
		if err != nil {
			return err
		}
		c, err = pgx.CollectExactlyOneRow(rows, func(row pgx.CollectableRow) (Case, error) {
			var c Case
			var status string
			err := row.Scan(&verdict, &c.ID, &c.DisplayName, &c.Description, &c.ExternalID, &status, &c.CreatedDateTime,
				&c.LastModifiedDateTime, &c.LastModifiedBy, &c.ClosedBy, &c.ClosedDateTime, &c.Version)
			c.Status = CaseStatus(status)
			c.CreatedDateTime, c.LastModifiedDateTime, c.ClosedDateTime = c.CreatedDateTime.UTC(), c.LastModifiedDateTime.UTC(), utc(c.ClosedDateTime)
			return c, err
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrCaseNotFound
		}
		return err
	})
	if err != nil {
		return Case{}, err
	}
	if verdict == "stale" {
		return Case{}, ErrPreconditionFailed
	}
	return c, nil
}

const closeCaseSQL = `UPDATE ediscovery_cases c SET status = 'closed', closed_by = $3, closed_date_time = now(),
	last_modified_by = $3, version = c.version + 1, last_modified_date_time = greatest(now(), c.last_modified_date_time)
WHERE tenant_id = $1 AND id = $2 AND case_operation_write_in_time($4)
RETURNING ` + caseColumns

// CloseCase closes tenant's case id: status closed, closedBy the caller, closedDateTime now. A closed case
// takes no new operation.
func (s *Store) CloseCase(ctx context.Context, tenant string, id uuid.UUID, a Audit) (Case, error) {
	return s.setCaseStatus(ctx, closeCaseSQL, tenant, id, a)
}

const reopenCaseSQL = `UPDATE ediscovery_cases c SET status = 'active', closed_by = NULL, closed_date_time = NULL,
	last_modified_by = $3, version = c.version + 1, last_modified_date_time = greatest(now(), c.last_modified_date_time)
WHERE tenant_id = $1 AND id = $2 AND case_operation_write_in_time($4)
RETURNING ` + caseColumns

// ReopenCase makes tenant's case id active again and clears closedBy and closedDateTime.
func (s *Store) ReopenCase(ctx context.Context, tenant string, id uuid.UUID, a Audit) (Case, error) {
	return s.setCaseStatus(ctx, reopenCaseSQL, tenant, id, a)
}

func (s *Store) setCaseStatus(ctx context.Context, statement, tenant string, id uuid.UUID, a Audit) (Case, error) {
	var c Case
	err := s.write(ctx, func(conn *pgxpool.Conn) error {
		rows, err := conn.Query(ctx, statement, tenant, [16]byte(id), jsonOrNil(a.Actor), deadline(ctx))
		c, err = oneCase(rows, err)
		return err
	})
	return c, err
}

// deleteCaseSQL deletes a case whose operations are all terminal, with those operations and their 'deleted'
// history events. The case row is locked first, so no operation can be created in it meanwhile.
const deleteCaseSQL = `
WITH c AS (
	SELECT id, ` + historyWritten + ` FROM ediscovery_cases WHERE tenant_id = $1 AND id = $2 FOR UPDATE
), busy AS (
	SELECT EXISTS (SELECT FROM case_operations WHERE tenant_id = $1 AND case_id = $2
		AND NOT case_operation_status_is_terminal(status)) AS busy FROM c
), ops AS (
	DELETE FROM case_operations r USING busy
	WHERE NOT busy.busy AND r.tenant_id = $1 AND r.case_id = $2 AND case_operation_write_in_time($5)
	RETURNING r
), ev AS (
	INSERT INTO case_operation_events (tenant_id, operation_id, case_id, kind, actor, request_id, changes)
	SELECT $1, (r).id, $2, 'deleted', $3, $4, case_operation_changes(r, NULL) FROM ops
), del AS (
	DELETE FROM ediscovery_cases d USING busy
	WHERE NOT busy.busy AND d.tenant_id = $1 AND d.id = $2 AND case_operation_write_in_time($5)
)
SELECT busy FROM busy`

// DeleteCase deletes tenant's case id with its operations, recording each operation's deletion in the history,
// in one statement. A case that holds an operation whose status is not terminal is ErrCaseBusy.
func (s *Store) DeleteCase(ctx context.Context, tenant string, id uuid.UUID, a Audit) error {
	var busy bool
	err := s.write(ctx, func(conn *pgxpool.Conn) error {
		err := conn.QueryRow(ctx, deleteCaseSQL, tenant, [16]byte(id), jsonOrNil(a.Actor), a.RequestID, deadline(ctx)).Scan(&busy)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrCaseNotFound
		}
		return err
	})
	if err == nil && busy {
		return ErrCaseBusy
	}
	return err
}
