// Package store is everything in caseops that speaks SQL: the operations table, its history,
// and the translation of Postgres errors into the store's own.
package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store reads and writes caseOperations. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	// onWrite, when set (by NewWatcher, before the store serves), is told after every write statement.
	onWrite func()
	// coalescer gathers concurrent PATCHes into shared transactions; nil when coalescing is off.
	coalescer *coalescer
}

// New returns a Store over pool that coalesces PATCHes as DefaultCoalescing says.
func New(pool *pgxpool.Pool) *Store { return NewWith(pool, DefaultCoalescing) }

// NewWith returns a Store over pool that coalesces PATCHes as c says.
func NewWith(pool *pgxpool.Pool, c Coalescing) *Store {
	s := &Store{pool: pool}
	if !c.Off {
		if c.MaxBatch < 1 {
			c.MaxBatch = DefaultCoalescing.MaxBatch
		}
		s.coalescer = newCoalescer(s, c)
	}
	return s
}

// Pool returns the pool the store uses, for health checks and statistics.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// operationColumns are the columns every read returns, in operationRow's order.
const operationColumns = `tenant_id, id, odata_type, status, action, percent_progress, created_date_time,
	completed_date_time, created_by, result_code, result_message, result_subcode, version, last_modified_date_time, case_id,
	operation_type, description, display_name, output_name, cloud_attachment_version, document_version, report_file_metadata, export_file_metadata, indexed_item_count, indexed_items_size, unindexed_item_count, unindexed_items_size, mailbox_count, site_count, statistics_options, additional_data_options, items_to_include, export_options, export_structure, additional_options, export_criteria, export_location, export_format, export_single_items`

// rowColumns selects operationColumns out of a composite case_operations value named r.
const rowColumns = `(r).tenant_id, (r).id, (r).odata_type, (r).status, (r).action, (r).percent_progress,
	(r).created_date_time, (r).completed_date_time, (r).created_by, (r).result_code, (r).result_message,
	(r).result_subcode, (r).version, (r).last_modified_date_time, (r).case_id,
	(r).operation_type, (r).description, (r).display_name, (r).output_name, (r).cloud_attachment_version, (r).document_version, (r).report_file_metadata, (r).export_file_metadata, (r).indexed_item_count, (r).indexed_items_size, (r).unindexed_item_count, (r).unindexed_items_size, (r).mailbox_count, (r).site_count, (r).statistics_options, (r).additional_data_options, (r).items_to_include, (r).export_options, (r).export_structure, (r).additional_options, (r).export_criteria, (r).export_location, (r).export_format, (r).export_single_items`

type operationRow struct {
	TenantID             string
	ID                   uuid.UUID
	ODataType            string
	Status               string
	Action               string
	PercentProgress      *int32
	CreatedDateTime      time.Time
	CompletedDateTime    *time.Time
	CreatedBy            *IdentitySet
	ResultCode           *int32
	ResultMessage        *string
	ResultSubcode        *int32
	Version              int64
	LastModifiedDateTime time.Time
	CaseID               uuid.UUID
	OperationType        string
	Props                TypeProps
}

// targets are where a scan of operationColumns goes.
func (r *operationRow) targets() []any {
	return []any{&r.TenantID, &r.ID, &r.ODataType, &r.Status, &r.Action, &r.PercentProgress,
		&r.CreatedDateTime, &r.CompletedDateTime, &r.CreatedBy, &r.ResultCode, &r.ResultMessage,
		&r.ResultSubcode, &r.Version, &r.LastModifiedDateTime, &r.CaseID, &r.OperationType, &r.Props.Description, &r.Props.DisplayName, &r.Props.OutputName, &r.Props.CloudAttachmentVersion, &r.Props.DocumentVersion, &r.Props.ReportFileMetadata, &r.Props.ExportFileMetadata, &r.Props.IndexedItemCount, &r.Props.IndexedItemsSize, &r.Props.UnindexedItemCount, &r.Props.UnindexedItemsSize, &r.Props.MailboxCount, &r.Props.SiteCount, &r.Props.StatisticsOptions, &r.Props.AdditionalDataOptions, &r.Props.ItemsToInclude, &r.Props.ExportOptions, &r.Props.ExportStructure, &r.Props.AdditionalOptions, &r.Props.ExportCriteria, &r.Props.ExportLocation, &r.Props.ExportFormat, &r.Props.ExportSingleItems}
}

func scanOperation(row pgx.CollectableRow) (Operation, error) {
	var r operationRow
	if err := row.Scan(r.targets()...); err != nil {
		return Operation{}, err
	}
	return r.toOperation(), nil
}

func (r operationRow) toOperation() Operation {
	op := Operation{
		TenantID:             r.TenantID,
		ID:                   r.ID,
		ODataType:            r.ODataType,
		Status:               Status(r.Status),
		Action:               Action(r.Action),
		PercentProgress:      r.PercentProgress,
		CreatedDateTime:      r.CreatedDateTime.UTC(),
		CompletedDateTime:    utc(r.CompletedDateTime),
		CreatedBy:            r.CreatedBy,
		Version:              r.Version,
		LastModifiedDateTime: r.LastModifiedDateTime.UTC(),
		CaseID:               r.CaseID,
		Type:                 r.OperationType,
		Props:                r.Props,
	}
	if r.ResultCode != nil || r.ResultMessage != nil || r.ResultSubcode != nil {
		op.ResultInfo = &ResultInfo{Code: r.ResultCode, Message: r.ResultMessage, Subcode: r.ResultSubcode}
	}
	return op
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// historyWritten marks a statement's transaction as one that writes its own history events, with their
// actor and request id, so the trigger that records direct SQL writes (migration 00006) leaves it alone.
// Each write statement below evaluates it before it writes its row.
const historyWritten = `set_config('caseops.history', 'written', true)`

// createSQL creates an operation and its history event. For a repeatable request ($14 not null) it first looks
// for the answer to an earlier one with the same id: found, it creates nothing and returns that operation with
// the earlier request's hash; else it records the answer with the operation, and clears out expired answers.
const createSQL = `
WITH mark AS (
	SELECT ` + historyWritten + `
), seen AS (
	SELECT q.request_hash, jsonb_populate_record(NULL::case_operations, q.operation) AS r
	FROM case_operation_repeatable_requests q
	WHERE q.tenant_id = $1 AND q.request_id = $14 AND q.expires_at > now()
), ins AS (
	INSERT INTO case_operations AS r (tenant_id, id, status, action, percent_progress, completed_date_time,
		created_by, result_code, result_message, result_subcode, odata_type,
		description, display_name, output_name, cloud_attachment_version, document_version, report_file_metadata, export_file_metadata, indexed_item_count, indexed_items_size, unindexed_item_count, unindexed_items_size, mailbox_count, site_count, statistics_options, additional_data_options, items_to_include, export_options, export_structure, additional_options, export_criteria, export_location, export_format, export_single_items, case_id)
	SELECT $1::text, $2::uuid, $3::case_operation_status, $4::case_action, $5::integer,
		CASE WHEN $6::timestamptz IS NULL AND case_operation_status_is_terminal($3) THEN now() ELSE $6 END,
		$7::jsonb, $8::integer, $9::text, $10::integer, $18::text,
		$19::text, $20::text, $21::text, $22::text, $23::text, $24::jsonb, $25::jsonb, $26::bigint, $27::bigint, $28::bigint, $29::bigint, $30::integer, $31::integer, $32::text, $33::text, $34::text, $35::text, $36::text, $37::text, $38::text, $39::text, $40::text, $41::boolean, $42::uuid
	FROM mark
	WHERE NOT EXISTS (SELECT FROM seen) AND case_operation_write_in_time($13)
		-- A closed case takes no new operation; one that does not exist fails the foreign key.
		AND NOT EXISTS (SELECT FROM ediscovery_cases WHERE tenant_id = $1 AND id = $42::uuid AND status = 'closed')
	RETURNING r
), ev AS (
	INSERT INTO case_operation_events (tenant_id, operation_id, case_id, kind, actor, request_id, changes)
	SELECT (r).tenant_id, (r).id, (r).case_id, 'created', $11, $12, case_operation_changes(NULL, r) FROM ins
), answer AS (
	INSERT INTO case_operation_repeatable_requests (tenant_id, request_id, request_hash, first_sent, expires_at, operation)
	SELECT $1, $14::text, $15::bytea, $16::timestamptz, now() + $17::bigint * interval '1 second', to_jsonb(r)
	FROM ins WHERE $14::text IS NOT NULL
), expired AS (
	DELETE FROM case_operation_repeatable_requests
	WHERE $14::text IS NOT NULL AND ctid = ANY (ARRAY(SELECT ctid FROM case_operation_repeatable_requests
		WHERE expires_at <= now() ORDER BY expires_at LIMIT 100 FOR UPDATE SKIP LOCKED))
)
SELECT NULL::bytea, ` + rowColumns + ` FROM ins
UNION ALL
SELECT request_hash, ` + rowColumns + ` FROM seen`

// RepeatabilityWindow is how long the answer to a repeatable create is kept: a repeat sent within it, counted
// from when the first request was first sent, gets that answer.
const RepeatabilityWindow = 10 * time.Minute

// Repeatable names a create that the client may send again (OASIS Repeatable Requests).
type Repeatable struct {
	RequestID string
	FirstSent time.Time
}

// Create stores a new operation for tenant and records its creation in the history, in one statement.
func (s *Store) Create(ctx context.Context, tenant string, n NewOperation, a Audit) (Operation, error) {
	op, _, err := s.create(ctx, tenant, n, a, nil)
	return op, err
}

// CreateRepeatable is Create for a request the client may repeat. The first request with r's id creates the
// operation and keeps the answer, in the same transaction; a repeat within RepeatabilityWindow creates nothing
// and gets that operation as it was created, with repeated true. A repeat that asks for something else (another
// body or another caller) is ErrRepeatMismatch.
func (s *Store) CreateRepeatable(ctx context.Context, tenant string, n NewOperation, a Audit, r Repeatable) (op Operation, repeated bool, err error) {
	op, repeated, err = s.create(ctx, tenant, n, a, &r)
	if errors.Is(err, errRepeatRace) {
		// A twin committed between this statement's snapshot and its insert, or an expired answer is in the
		// way: clear the latter and try once more, which finds the former.
		err = s.write(ctx, func(conn *pgxpool.Conn) error {
			_, err := conn.Exec(ctx, `DELETE FROM case_operation_repeatable_requests
				WHERE tenant_id = $1 AND request_id = $2 AND expires_at <= now()`, tenant, r.RequestID)
			return err
		})
		if err == nil {
			op, repeated, err = s.create(ctx, tenant, n, a, &r)
		}
	}
	return op, repeated, err
}

// errRepeatRace is a repeatable create that found its request id taken when it inserted it.
var errRepeatRace = errors.New("repeatable request id taken meanwhile")

func (s *Store) create(ctx context.Context, tenant string, n NewOperation, a Audit, rep *Repeatable) (Operation, bool, error) {
	var requestID *string
	var hash []byte
	var firstSent *time.Time
	if rep != nil {
		requestID, firstSent = &rep.RequestID, &rep.FirstSent
		b, _ := json.Marshal(n) // an operation of strings, numbers and times always marshals
		sum := sha256.Sum256(b)
		hash = sum[:]
	}
	id := n.ID
	if id == uuid.Nil {
		id = uuid.New()
	}
	status, action := n.Status, n.Action
	if status == "" {
		status = StatusNotStarted
	}
	if action == "" {
		action = ActionApplyTags
	}
	odataType := n.ODataType
	if odataType == "" {
		odataType = TagOperationODataType
	}
	var code, subcode *int32
	var message *string
	if n.ResultInfo != nil {
		code, message, subcode = n.ResultInfo.Code, n.ResultInfo.Message, n.ResultInfo.Subcode
	}
	var op Operation
	var seenHash []byte
	err := s.write(ctx, func(conn *pgxpool.Conn) error {
		rows, _ := conn.Query(ctx, createSQL, tenant, [16]byte(id), string(status), string(action), n.PercentProgress,
			n.CompletedDateTime, jsonOrNil(n.CreatedBy), code, message, subcode, jsonOrNil(a.Actor), a.RequestID, deadline(ctx),
			requestID, hash, firstSent, int64(RepeatabilityWindow/time.Second), odataType,
			n.Props.Description, n.Props.DisplayName, n.Props.OutputName, n.Props.CloudAttachmentVersion, n.Props.DocumentVersion, n.Props.ReportFileMetadata, n.Props.ExportFileMetadata, n.Props.IndexedItemCount, n.Props.IndexedItemsSize, n.Props.UnindexedItemCount, n.Props.UnindexedItemsSize, n.Props.MailboxCount, n.Props.SiteCount, n.Props.StatisticsOptions, n.Props.AdditionalDataOptions, n.Props.ItemsToInclude, n.Props.ExportOptions, n.Props.ExportStructure, n.Props.AdditionalOptions, n.Props.ExportCriteria, n.Props.ExportLocation, n.Props.ExportFormat, n.Props.ExportSingleItems, caseOrNil(n.CaseID))
		var err error
		op, err = pgx.CollectExactlyOneRow(rows, func(row pgx.CollectableRow) (Operation, error) {
			var r operationRow
			err := row.Scan(append([]any{&seenHash}, r.targets()...)...)
			return r.toOperation(), err
		})
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.ConstraintName == "case_operation_repeatable_requests_pkey" {
			return errRepeatRace
		}
		if errors.Is(err, pgx.ErrNoRows) && n.CaseID != uuid.Nil {
			return ErrCaseClosed // the one row the statement inserts when its case is open
		}
		return err
	})
	switch {
	case err != nil:
		return Operation{}, false, err
	case seenHash != nil && !bytes.Equal(seenHash, hash):
		return Operation{}, false, ErrRepeatMismatch
	}
	return op, seenHash != nil, nil
}

const getSQL = `SELECT ` + operationColumns + ` FROM case_operations
WHERE tenant_id = $1 AND id = $2 AND ($3::uuid IS NULL OR case_id = $3)`

// Get returns tenant's operation id.
func (s *Store) Get(ctx context.Context, tenant string, id uuid.UUID) (Operation, error) {
	return s.GetInCase(ctx, tenant, uuid.Nil, id)
}

// GetInCase returns tenant's operation id if it belongs to case caseID (uuid.Nil: any case); else ErrNotFound.
func (s *Store) GetInCase(ctx context.Context, tenant string, caseID, id uuid.UUID) (Operation, error) {
	rows, _ := s.pool.Query(ctx, getSQL, tenant, [16]byte(id), caseOrNil(caseID))
	op, err := pgx.CollectExactlyOneRow(rows, scanOperation)
	return op, mapError(err)
}

// patchSQL applies a Patch in one statement: it locks the row, computes the new values (absent properties keep
// theirs), checks the caller's preconditions, writes only when something changes, and appends the history event.
// The verdict column says what happened, old_status what the status was; the row columns are the operation as it now stands.
const patchSQL = `
WITH old AS (
	SELECT r, ` + historyWritten + ` FROM case_operations r
	WHERE tenant_id = $1 AND id = $2 AND ($71::uuid IS NULL OR case_id = $71) FOR UPDATE
), next AS (
	SELECT CASE WHEN $3 THEN $4::case_operation_status ELSE (old.r).status END AS status,
		CASE WHEN $5 THEN $6::case_action ELSE (old.r).action END AS action,
		CASE WHEN $7 THEN $8::integer ELSE (old.r).percent_progress END AS percent_progress,
		CASE WHEN $11 THEN case_operation_merge_patch((old.r).created_by, $12::jsonb) ELSE (old.r).created_by END AS created_by,
		CASE WHEN $13 THEN $14::integer ELSE (old.r).result_code END AS result_code,
		CASE WHEN $15 THEN $16::text ELSE (old.r).result_message END AS result_message,
		CASE WHEN $17 THEN $18::integer ELSE (old.r).result_subcode END AS result_subcode,
		CASE WHEN $25 THEN $26::text ELSE (old.r).description END AS description,
		CASE WHEN $27 THEN $28::text ELSE (old.r).display_name END AS display_name,
		CASE WHEN $29 THEN $30::text ELSE (old.r).output_name END AS output_name,
		CASE WHEN $31 THEN $32::text ELSE (old.r).cloud_attachment_version END AS cloud_attachment_version,
		CASE WHEN $33 THEN $34::text ELSE (old.r).document_version END AS document_version,
		CASE WHEN $35 THEN $36::jsonb ELSE (old.r).report_file_metadata END AS report_file_metadata,
		CASE WHEN $37 THEN $38::jsonb ELSE (old.r).export_file_metadata END AS export_file_metadata,
		CASE WHEN $39 THEN $40::bigint ELSE (old.r).indexed_item_count END AS indexed_item_count,
		CASE WHEN $41 THEN $42::bigint ELSE (old.r).indexed_items_size END AS indexed_items_size,
		CASE WHEN $43 THEN $44::bigint ELSE (old.r).unindexed_item_count END AS unindexed_item_count,
		CASE WHEN $45 THEN $46::bigint ELSE (old.r).unindexed_items_size END AS unindexed_items_size,
		CASE WHEN $47 THEN $48::integer ELSE (old.r).mailbox_count END AS mailbox_count,
		CASE WHEN $49 THEN $50::integer ELSE (old.r).site_count END AS site_count,
		CASE WHEN $51 THEN $52::text ELSE (old.r).statistics_options END AS statistics_options,
		CASE WHEN $53 THEN $54::text ELSE (old.r).additional_data_options END AS additional_data_options,
		CASE WHEN $55 THEN $56::text ELSE (old.r).items_to_include END AS items_to_include,
		CASE WHEN $57 THEN $58::text ELSE (old.r).export_options END AS export_options,
		CASE WHEN $59 THEN $60::text ELSE (old.r).export_structure END AS export_structure,
		CASE WHEN $61 THEN $62::text ELSE (old.r).additional_options END AS additional_options,
		CASE WHEN $63 THEN $64::text ELSE (old.r).export_criteria END AS export_criteria,
		CASE WHEN $65 THEN $66::text ELSE (old.r).export_location END AS export_location,
		CASE WHEN $67 THEN $68::text ELSE (old.r).export_format END AS export_format,
		CASE WHEN $69 THEN $70::boolean ELSE (old.r).export_single_items END AS export_single_items
	FROM old
), verdict AS (
	SELECT next.*,
		CASE WHEN $9 THEN $10::timestamptz
			WHEN (old.r).completed_date_time IS NULL AND case_operation_status_is_terminal(next.status) THEN now()
			ELSE (old.r).completed_date_time END AS completed_date_time,
		CASE WHEN $19::timestamptz IS NOT NULL AND $19::timestamptz <> (old.r).created_date_time THEN 'createdDateTime'
			WHEN $20::bigint[] IS NOT NULL AND NOT EXISTS (SELECT FROM unnest($20::bigint[], $23::timestamptz[]) m(version, created)
				WHERE m.version = (old.r).version AND m.created = (old.r).created_date_time) THEN 'stale'
			WHEN NOT case_operation_status_can_become((old.r).status, next.status) THEN 'transition'
			ELSE NULL END AS refusal
	FROM old, next
), decided AS (
	SELECT v.*, (old.r).status AS old_status, CASE WHEN v.refusal IS NOT NULL THEN v.refusal
		WHEN (v.status, v.action, v.percent_progress, v.completed_date_time, v.created_by,
			v.result_code, v.result_message, v.result_subcode,
			v.description, v.display_name, v.output_name, v.cloud_attachment_version, v.document_version, v.report_file_metadata, v.export_file_metadata, v.indexed_item_count, v.indexed_items_size, v.unindexed_item_count, v.unindexed_items_size, v.mailbox_count, v.site_count, v.statistics_options, v.additional_data_options, v.items_to_include, v.export_options, v.export_structure, v.additional_options, v.export_criteria, v.export_location, v.export_format, v.export_single_items)
			IS NOT DISTINCT FROM ((old.r).status, (old.r).action, (old.r).percent_progress,
			(old.r).completed_date_time, (old.r).created_by, (old.r).result_code, (old.r).result_message,
			(old.r).result_subcode, (old.r).description, (old.r).display_name, (old.r).output_name, (old.r).cloud_attachment_version, (old.r).document_version, (old.r).report_file_metadata, (old.r).export_file_metadata, (old.r).indexed_item_count, (old.r).indexed_items_size, (old.r).unindexed_item_count, (old.r).unindexed_items_size, (old.r).mailbox_count, (old.r).site_count, (old.r).statistics_options, (old.r).additional_data_options, (old.r).items_to_include, (old.r).export_options, (old.r).export_structure, (old.r).additional_options, (old.r).export_criteria, (old.r).export_location, (old.r).export_format, (old.r).export_single_items) THEN 'unchanged'
		ELSE 'updated' END AS verdict
	FROM verdict v, old
), upd AS (
	UPDATE case_operations r SET status = d.status, action = d.action, percent_progress = d.percent_progress,
		completed_date_time = d.completed_date_time, created_by = d.created_by, result_code = d.result_code,
		result_message = d.result_message, result_subcode = d.result_subcode,
		description = d.description, display_name = d.display_name, output_name = d.output_name, cloud_attachment_version = d.cloud_attachment_version, document_version = d.document_version, report_file_metadata = d.report_file_metadata, export_file_metadata = d.export_file_metadata, indexed_item_count = d.indexed_item_count, indexed_items_size = d.indexed_items_size, unindexed_item_count = d.unindexed_item_count, unindexed_items_size = d.unindexed_items_size, mailbox_count = d.mailbox_count, site_count = d.site_count, statistics_options = d.statistics_options, additional_data_options = d.additional_data_options, items_to_include = d.items_to_include, export_options = d.export_options, export_structure = d.export_structure, additional_options = d.additional_options, export_criteria = d.export_criteria, export_location = d.export_location, export_format = d.export_format, export_single_items = d.export_single_items,
		version = r.version + 1, last_modified_date_time = greatest(now(), r.last_modified_date_time)
	FROM decided d
	WHERE d.verdict = 'updated' AND r.tenant_id = $1 AND r.id = $2 AND case_operation_write_in_time($24)
	RETURNING r
), ev AS (
	INSERT INTO case_operation_events (tenant_id, operation_id, case_id, kind, actor, request_id, changes)
	SELECT $1, $2, (upd.r).case_id, 'updated', $21, $22, case_operation_changes(old.r, upd.r) FROM upd, old
)
SELECT d.verdict, d.old_status, ` + rowColumns + `
FROM decided d CROSS JOIN LATERAL (
	SELECT r FROM upd UNION ALL SELECT r FROM old WHERE NOT EXISTS (SELECT FROM upd)
) x(r)`

// PatchResult says what a Patch did beyond the operation it returns, for callers that count changes.
type PatchResult struct {
	// Changed: the row was written and its history event appended; false for a patch that changed nothing.
	Changed bool
	// OldStatus is the status the operation had before the patch.
	OldStatus Status
}

// Patch applies p to tenant's operation id as one statement: the row and its history event commit together.
// A patch that changes nothing writes nothing and returns the operation as it is.
func (s *Store) Patch(ctx context.Context, tenant string, id uuid.UUID, p Patch, a Audit) (Operation, PatchResult, error) {
	return s.PatchInCase(ctx, tenant, uuid.Nil, id, p, a)
}

// PatchInCase is Patch of an operation that must belong to case caseID (uuid.Nil: any case); else ErrNotFound.
// With coalescing on, PATCHes in flight together share one transaction, each answered as if alone.
func (s *Store) PatchInCase(ctx context.Context, tenant string, caseID, id uuid.UUID, p Patch, a Audit) (Operation, PatchResult, error) {
	versions, created := revisionArrays(p.IfMatch)
	args := []any{tenant, [16]byte(id),
		p.Status.Set, enumOrNil(p.Status),
		p.Action.Set, enumOrNil(p.Action),
		p.PercentProgress.Set, p.PercentProgress.Value,
		p.CompletedDateTime.Set, p.CompletedDateTime.Value,
		p.CreatedBy.Set, createdByMergePatch(p.CreatedBy.Value),
		false, nil, false, nil, false, nil,
		p.CreatedDateTime, versions,
		jsonOrNil(a.Actor), a.RequestID, created, deadline(ctx),
		p.Props.Description.Set, p.Props.Description.Value,
		p.Props.DisplayName.Set, p.Props.DisplayName.Value,
		p.Props.OutputName.Set, p.Props.OutputName.Value,
		p.Props.CloudAttachmentVersion.Set, p.Props.CloudAttachmentVersion.Value,
		p.Props.DocumentVersion.Set, p.Props.DocumentVersion.Value,
		p.Props.ReportFileMetadata.Set, p.Props.ReportFileMetadata.Value,
		p.Props.ExportFileMetadata.Set, p.Props.ExportFileMetadata.Value,
		p.Props.IndexedItemCount.Set, p.Props.IndexedItemCount.Value,
		p.Props.IndexedItemsSize.Set, p.Props.IndexedItemsSize.Value,
		p.Props.UnindexedItemCount.Set, p.Props.UnindexedItemCount.Value,
		p.Props.UnindexedItemsSize.Set, p.Props.UnindexedItemsSize.Value,
		p.Props.MailboxCount.Set, p.Props.MailboxCount.Value,
		p.Props.SiteCount.Set, p.Props.SiteCount.Value,
		p.Props.StatisticsOptions.Set, p.Props.StatisticsOptions.Value,
		p.Props.AdditionalDataOptions.Set, p.Props.AdditionalDataOptions.Value,
		p.Props.ItemsToInclude.Set, p.Props.ItemsToInclude.Value,
		p.Props.ExportOptions.Set, p.Props.ExportOptions.Value,
		p.Props.ExportStructure.Set, p.Props.ExportStructure.Value,
		p.Props.AdditionalOptions.Set, p.Props.AdditionalOptions.Value,
		p.Props.ExportCriteria.Set, p.Props.ExportCriteria.Value,
		p.Props.ExportLocation.Set, p.Props.ExportLocation.Value,
		p.Props.ExportFormat.Set, p.Props.ExportFormat.Value,
		p.Props.ExportSingleItems.Set, p.Props.ExportSingleItems.Value,
		caseOrNil(caseID),
	}
	if p.ResultInfo.Set {
		ri := p.ResultInfo.Value
		if ri == nil { // null clears all three
			ri = &ResultInfoPatch{Code: Some[*int32](nil), Message: Some[*string](nil), Subcode: Some[*int32](nil)}
		}
		args[12], args[13] = ri.Code.Set, ri.Code.Value
		args[14], args[15] = ri.Message.Set, ri.Message.Value
		args[16], args[17] = ri.Subcode.Set, ri.Subcode.Value
	}
	req := &patchRequest{ctx: ctx, tenant: tenant, id: [16]byte(id), args: args}
	if s.coalescer != nil {
		if err := s.coalescer.submit(ctx, req); err != nil {
			return Operation{}, PatchResult{}, err
		}
	} else {
		s.patchAlone(req)
	}
	if req.err != nil {
		return Operation{}, PatchResult{}, req.err
	}
	r := req.row
	switch req.verdict {
	case "stale":
		return Operation{}, PatchResult{}, ErrPreconditionFailed
	case "transition":
		return Operation{}, PatchResult{}, &TransitionError{From: Status(r.Status), To: p.Status.Value}
	case "createdDateTime":
		return Operation{}, PatchResult{}, &InvalidError{"createdDateTime",
			"createdDateTime is read-only; it may be sent only with the operation's current value."}
	}
	return r.toOperation(), PatchResult{Changed: req.verdict == "updated", OldStatus: Status(req.oldStatus)}, nil
}

// patchAlone runs r's statement as a transaction of its own.
func (s *Store) patchAlone(r *patchRequest) {
	r.err = s.write(r.ctx, func(conn *pgxpool.Conn) error {
		return conn.QueryRow(r.ctx, patchSQL, r.args...).Scan(r.targets()...)
	})
}

const deleteSQL = `
WITH old AS (
	SELECT r, ` + historyWritten + `, CASE WHEN $3::bigint[] IS NOT NULL AND NOT EXISTS (SELECT FROM unnest($3::bigint[], $6::timestamptz[]) m(version, created)
			WHERE m.version = r.version AND m.created = r.created_date_time) THEN 'stale'
		ELSE 'deleted' END AS verdict
	FROM case_operations r WHERE tenant_id = $1 AND id = $2 AND ($8::uuid IS NULL OR case_id = $8) FOR UPDATE
), del AS (
	DELETE FROM case_operations r USING old
	WHERE old.verdict = 'deleted' AND r.tenant_id = $1 AND r.id = $2 AND case_operation_write_in_time($7)
	RETURNING r
), ev AS (
	INSERT INTO case_operation_events (tenant_id, operation_id, case_id, kind, actor, request_id, changes)
	SELECT $1, $2, (del.r).case_id, 'deleted', $4, $5, case_operation_changes(del.r, NULL) FROM del
)
SELECT verdict FROM old`

// Delete removes tenant's operation id and records what it held in the history, in one statement.
// A non-nil ifMatch lists the revisions the caller expects; any other is ErrPreconditionFailed.
func (s *Store) Delete(ctx context.Context, tenant string, id uuid.UUID, ifMatch []Revision, a Audit) error {
	return s.DeleteInCase(ctx, tenant, uuid.Nil, id, ifMatch, a)
}

// DeleteInCase is Delete of an operation that must belong to case caseID (uuid.Nil: any case); else ErrNotFound.
func (s *Store) DeleteInCase(ctx context.Context, tenant string, caseID, id uuid.UUID, ifMatch []Revision, a Audit) error {
	var verdict string
	versions, created := revisionArrays(ifMatch)
	err := s.write(ctx, func(conn *pgxpool.Conn) error {
		return conn.QueryRow(ctx, deleteSQL, tenant, [16]byte(id), versions, jsonOrNil(a.Actor), a.RequestID, created,
			deadline(ctx), caseOrNil(caseID)).Scan(&verdict)
	})
	if err != nil {
		return err
	}
	if verdict == "stale" {
		return ErrPreconditionFailed
	}
	return nil
}

// write runs one write statement, which commits or rolls back on its own, on a connection of its own, so that
// its failure says whether anything was written. Refused by Postgres, or failed before a byte was sent, it
// wrote nothing. Lost after it was sent (the request's deadline passed before the answer came, the connection
// broke), it may have committed or not: that is ErrOutcomeUnknown.
func (s *Store) write(ctx context.Context, statement func(*pgxpool.Conn) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return mapError(err)
	}
	defer conn.Release()
	err = statement(conn)
	if s.onWrite != nil {
		s.onWrite() // even a failed write may have committed: a needless round finds nothing
	}
	if err != nil && lostInFlight(err) {
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, mapError(err))
	}
	return mapError(err)
}

// lostInFlight reports whether err says that a statement was sent and its answer never came.
func lostInFlight(err error) bool {
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr), errors.Is(err, pgx.ErrNoRows):
		return false // Postgres answered
	case pgconn.SafeToRetry(err):
		return false // nothing was sent
	case errors.Is(err, context.Canceled):
		return false // the client left: there is nobody to tell
	}
	return errors.Is(err, context.DeadlineExceeded) || isConnectionError(err)
}

// deadline is when ctx ends, for a write statement to refuse to run later than that; nil when it never does.
func deadline(ctx context.Context) *time.Time {
	if d, ok := ctx.Deadline(); ok {
		return &d
	}
	return nil
}

// createdByMergePatch renders a typed identitySet patch as the RFC 7396 document the database merges.
func createdByMergePatch(p *IdentitySetPatch) []byte {
	if p == nil {
		return nil
	}
	doc := map[string]any{}
	for name, ip := range map[string]Optional[*IdentityPatch]{"application": p.Application, "device": p.Device, "user": p.User} {
		if !ip.Set {
			continue
		}
		if ip.Value == nil {
			doc[name] = nil
			continue
		}
		identity := map[string]any{}
		if ip.Value.ID.Set {
			identity["id"] = ip.Value.ID.Value
		}
		if ip.Value.DisplayName.Set {
			identity["displayName"] = ip.Value.DisplayName.Value
		}
		doc[name] = identity
	}
	b, _ := json.Marshal(doc) // maps of strings and nils always marshal
	return b
}

// enumOrNil passes an absent enum property as NULL, which the enum type accepts.
func enumOrNil[T ~string](o Optional[T]) *string {
	if !o.Set {
		return nil
	}
	v := string(o.Value)
	return &v
}

// caseOrNil passes uuid.Nil, no case, as NULL: the tenant's default case.
func caseOrNil(id uuid.UUID) *[16]byte {
	if id == uuid.Nil {
		return nil
	}
	b := [16]byte(id)
	return &b
}

// jsonOrNil marshals v for a jsonb parameter, keeping a nil pointer as SQL NULL.
func jsonOrNil(v *IdentitySet) []byte {
	if v == nil {
		return nil
	}
	b, _ := json.Marshal(v) // an IdentitySet of strings always marshals
	return b
}
