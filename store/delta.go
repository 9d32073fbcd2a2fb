package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// A delta query tells a client what changed since it last asked, from the history: every operation an event
// touched, once, as it stands now (or as removed).
//
// Where to resume cannot be a seq. seq comes from a sequence, and a transaction that took seq 10 may commit
// after one that took seq 11 and after a reader saw 11: resuming after 11 would skip 10 forever. So a delta
// round is bounded by Postgres snapshots instead. Every event carries the id of the transaction that wrote it
// (case_operation_events.transaction_id), and a round that read in snapshot S reports exactly the events whose
// transaction is visible in S; the next round reports the events whose transaction is visible in its own
// snapshot but was not in S. Visibility only grows, so every committed event falls in exactly one round: a
// transaction still running at S (however low its seq) is not visible in S, and is reported by the first round
// that sees it commit. Every transaction older than S's xmin had ended at S, so the events a round can still
// report have transaction_id >= xmin(S), which an index serves as a range.

// Snapshot is a Postgres pg_snapshot: every transaction below Xmin had ended, every one from Xmax on had not
// started, and in between the ones in InProgress were still running.
type Snapshot struct {
	Xmin, Xmax uint64
	InProgress []uint64
}

// String renders s as Postgres writes a pg_snapshot: xmin:xmax:xip,xip.
func (s Snapshot) String() string {
	xip := make([]string, len(s.InProgress))
	for i, x := range s.InProgress {
		xip[i] = strconv.FormatUint(x, 10)
	}
	return strconv.FormatUint(s.Xmin, 10) + ":" + strconv.FormatUint(s.Xmax, 10) + ":" + strings.Join(xip, ",")
}

// ParseSnapshot reads a pg_snapshot as String writes it, refusing one Postgres would not have made.
func ParseSnapshot(text string) (Snapshot, error) {
	parts := strings.Split(text, ":")
	if len(parts) != 3 {
		return Snapshot{}, errors.New("a snapshot is xmin:xmax:xip")
	}
	var s Snapshot
	var err1, err2 error
	s.Xmin, err1 = strconv.ParseUint(parts[0], 10, 64)
	s.Xmax, err2 = strconv.ParseUint(parts[1], 10, 64)
	// A full transaction id whose low 32 bits are 0 is InvalidTransactionId of its epoch: Postgres refuses it.
	if err1 != nil || err2 != nil || uint32(s.Xmin) == 0 || uint32(s.Xmax) == 0 || s.Xmin > s.Xmax || s.Xmax > 1<<62 {
		return Snapshot{}, errors.New("a snapshot needs 0 < xmin <= xmax, neither the first id of an epoch")
	}
	if parts[2] != "" {
		for _, p := range strings.Split(parts[2], ",") {
			x, err := strconv.ParseUint(p, 10, 64)
			if err != nil || x < s.Xmin || x >= s.Xmax || (len(s.InProgress) > 0 && x <= s.InProgress[len(s.InProgress)-1]) {
				return Snapshot{}, errors.New("a snapshot's running transactions are ascending, from xmin to below xmax")
			}
			s.InProgress = append(s.InProgress, x)
		}
	}
	return s, nil
}

// DeltaQuery asks for one page of a delta round.
type DeltaQuery struct {
	Top int // page size, at least 1
	// Since is the snapshot of the round the client finished last; nil for its first round,
	// which reports every current operation.
	Since *Snapshot
	// Until is this round's snapshot, nil on the round's first page: the page is read in a new one.
	Until *Snapshot
	// After is the last operation id of the previous page of this round.
	After *uuid.UUID
	// Case, when not nil, limits the round to the operations of that eDiscovery case.
	Case *uuid.UUID
}

// Change is one operation a delta round reports: as it stands now, or Operation nil when it no longer exists.
type Change struct {
	ID        uuid.UUID
	Operation *Operation
}

// DeltaPage is one page of a delta round. More says another page follows (after the last change's id);
// on the round's last page, Until is where the next round starts.
type DeltaPage struct {
	Changes []Change
	Until   Snapshot
	More    bool
}

// ErrInvalidSnapshot: a snapshot in a delta query that this database cannot have made.
var ErrInvalidSnapshot = errors.New("snapshot is not one this database made")

// Delta returns a page of the delta round q describes, ordered by operation id.
func (s *Store) Delta(ctx context.Context, tenant string, q DeltaQuery) (DeltaPage, error) {
	if q.Since != nil && q.Until != nil && q.Until.Xmax < q.Since.Xmax {
		return DeltaPage{}, ErrInvalidSnapshot
	}
	var page DeltaPage
	read := func(db pgx.Tx, until Snapshot) error {
		// Each shape of page has its own statement, so that a prepared statement's generic plan still starts
		// its index scan at the cursor ("$2 IS NULL OR id > $2" would make it filter a tenant's every row).
		// The case, when there is one, is always the statement's last parameter.
		var rows pgx.Rows
		switch {
		case q.Since == nil:
			args, where := []any{tenant}, ""
			if q.After != nil {
				args, where = append(args, *q.After), " AND id > $2"
			}
			if q.Case != nil {
				args = append(args, *q.Case)
				where += " AND case_id = $" + strconv.Itoa(len(args))
			}
			rows, _ = db.Query(ctx, `SELECT id, `+operationColumns+` FROM case_operations WHERE tenant_id = $1`+where+
				` ORDER BY id LIMIT `+strconv.Itoa(q.Top+1), args...)
		default:
			args, after, inCase := []any{tenant, q.Since.String(), until.String(), q.Top + 1}, "", ""
			if q.After != nil {
				args, after = append(args, *q.After), "AND operation_id > $5"
			}
			if q.Case != nil {
				args = append(args, *q.Case)
				inCase = fmt.Sprintf(deltaCaseCondition, len(args))
			}
			rows, _ = db.Query(ctx, fmt.Sprintf(deltaChangesSQL, after, inCase), args...)
		}
		changes, err := pgx.CollectRows(rows, scanChange)
		if err != nil {
			return err
		}
		page.Changes, page.Until = changes, until
		return nil
	}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		// The round's snapshot is the one this transaction reads in: repeatable read keeps it for both statements.
		var text string
		if err := tx.QueryRow(ctx, `SELECT pg_current_snapshot()::text`).Scan(&text); err != nil {
			return err
		}
		now, err := ParseSnapshot(text)
		if err != nil {
			return fmt.Errorf("postgres gave snapshot %q: %w", text, err)
		}
		// A snapshot from a token cannot be newer than the database: such a token was made up, and
		// would skip every change until the database caught up with it.
		for _, given := range []*Snapshot{q.Since, q.Until} {
			if given != nil && given.Xmax > now.Xmax {
				return ErrInvalidSnapshot
			}
		}
		if q.Until != nil {
			return read(tx, *q.Until)
		}
		return read(tx, now)
	})
	if err != nil {
		return DeltaPage{}, mapError(err)
	}
	if len(page.Changes) > q.Top {
		page.Changes, page.More = page.Changes[:q.Top], true
	}
	return page, nil
}

// deltaChangesSQL lists the operations that events of transactions visible in $3 but not in $2 touched, each
// once, with the operation as it stands (NULL columns when it no longer exists), $4 of them. The first %s is
// empty on a round's first page and "AND operation_id > $5" on the next ones; the second is empty or
// deltaCaseCondition.
const deltaChangesSQL = `
WITH changed AS (
	SELECT DISTINCT operation_id
	FROM case_operation_events e
	WHERE tenant_id = $1
		AND transaction_id >= pg_snapshot_xmin($2::text::pg_snapshot)
		AND transaction_id < pg_snapshot_xmax($3::text::pg_snapshot)
		AND NOT pg_visible_in_snapshot(transaction_id, $2::text::pg_snapshot)
		AND pg_visible_in_snapshot(transaction_id, $3::text::pg_snapshot)
		%s %s
	ORDER BY operation_id
	LIMIT $4
)
SELECT c.operation_id, o.tenant_id, o.id, o.odata_type, o.status, o.action, o.percent_progress, o.created_date_time,
	o.completed_date_time, o.created_by, o.result_code, o.result_message, o.result_subcode, o.version,
	o.last_modified_date_time, o.case_id, o.operation_type, o.description, o.display_name, o.output_name, o.cloud_attachment_version, o.document_version, o.report_file_metadata, o.export_file_metadata, o.indexed_item_count, o.indexed_items_size, o.unindexed_item_count, o.unindexed_items_size, o.mailbox_count, o.site_count, o.statistics_options, o.additional_data_options, o.items_to_include, o.export_options, o.export_structure, o.additional_options, o.export_criteria, o.export_location, o.export_format, o.export_single_items
FROM changed c LEFT JOIN case_operations o ON o.tenant_id = $1 AND o.id = c.operation_id
ORDER BY c.operation_id`

// deltaCaseCondition keeps the events of one case, the parameter %d: those that name it, and those written
// before events named their case (migration 00013) of an operation that is in the case or no longer exists.
// The events of a round are few, and the (tenant_id, transaction_id) index finds them; the case filters them.
const deltaCaseCondition = `AND (e.case_id = $%[1]d OR e.case_id IS NULL AND NOT EXISTS (
		SELECT FROM case_operations o WHERE o.tenant_id = $1 AND o.id = e.operation_id AND o.case_id <> $%[1]d))`

// scanChange reads an id and an operation whose columns are all NULL when it no longer exists.
func scanChange(row pgx.CollectableRow) (Change, error) { return scanChangeWith(row) }

// scanChangeWith is scanChange after the leading columns, which it scans into leading.
func scanChangeWith(row pgx.CollectableRow, leading ...any) (Change, error) {
	var c Change
	var r struct {
		TenantID, ODataType, Status, Action *string
		ID                                  *uuid.UUID
		CreatedDateTime, LastModified       *time.Time
		Version                             *int64
		CaseID                              *uuid.UUID
		OperationType                       *string
	}
	var full operationRow
	err := row.Scan(append(leading, &c.ID, &r.TenantID, &r.ID, &r.ODataType, &r.Status, &r.Action, &full.PercentProgress,
		&r.CreatedDateTime, &full.CompletedDateTime, &full.CreatedBy, &full.ResultCode, &full.ResultMessage,
		&full.ResultSubcode, &r.Version, &r.LastModified, &r.CaseID, &r.OperationType, &full.Props.Description, &full.Props.DisplayName, &full.Props.OutputName, &full.Props.CloudAttachmentVersion, &full.Props.DocumentVersion, &full.Props.ReportFileMetadata, &full.Props.ExportFileMetadata, &full.Props.IndexedItemCount, &full.Props.IndexedItemsSize, &full.Props.UnindexedItemCount, &full.Props.UnindexedItemsSize, &full.Props.MailboxCount, &full.Props.SiteCount, &full.Props.StatisticsOptions, &full.Props.AdditionalDataOptions, &full.Props.ItemsToInclude, &full.Props.ExportOptions, &full.Props.ExportStructure, &full.Props.AdditionalOptions, &full.Props.ExportCriteria, &full.Props.ExportLocation, &full.Props.ExportFormat, &full.Props.ExportSingleItems)...)
	if err != nil || r.ID == nil {
		return c, err
	}
	full.TenantID, full.ID, full.ODataType, full.Status, full.Action = *r.TenantID, *r.ID, *r.ODataType, *r.Status, *r.Action
	full.CreatedDateTime, full.Version, full.LastModifiedDateTime, full.CaseID = *r.CreatedDateTime, *r.Version, *r.LastModified, *r.CaseID
	full.OperationType = *r.OperationType
	op := full.toOperation()
	c.Operation = &op
	return c, nil
}
