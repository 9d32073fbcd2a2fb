package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// BulkOperation is one operation row as a bulk load writes it, with its identitySet already JSON
// (a generator reuses a few identities millions of times).
type BulkOperation struct {
	TenantID             string
	ID                   uuid.UUID
	Status               Status
	Action               Action
	PercentProgress      *int32
	CreatedDateTime      time.Time
	CompletedDateTime    *time.Time
	CreatedBy            []byte // identitySet JSON; nil for null
	ResultCode           *int32
	ResultMessage        *string
	ResultSubcode        *int32
	Version              int64
	LastModifiedDateTime time.Time
}

// EventKind is the kind of a history event.
type EventKind string

// The kinds of history event.
const (
	EventCreated EventKind = "created"
	EventUpdated EventKind = "updated"
	EventDeleted EventKind = "deleted"
)

// BulkEvent is one history event as a bulk load writes it. Changes is the JSON the service would have
// recorded: {"<Graph property>": {"old": ..., "new": ...}}.
type BulkEvent struct {
	TenantID    string
	OperationID uuid.UUID
	OccurredAt  time.Time
	Kind        EventKind
	Actor       []byte // identitySet JSON; nil for null
	RequestID   string
	Changes     []byte
}

var (
	bulkOperationColumns = []string{"tenant_id", "id", "status", "action", "percent_progress", "created_date_time",
		"completed_date_time", "created_by", "result_code", "result_message", "result_subcode", "version",
		"last_modified_date_time"}
	bulkEventColumns = []string{"tenant_id", "operation_id", "occurred_at", "kind", "actor", "request_id", "changes", "case_id"}
	enumTypes        = []string{"case_operation_status", "case_action", "case_operation_event_kind"}
)

// BulkLoader loads many batches of operations and their events, from several goroutines at once.
//
// Into empty tables it loads as pg_restore does: it drops the indexes first (all but the history's
// primary key, which grows in order and costs little) and builds them once at the end, which is several
// times cheaper than updating them row by row. Every CHECK constraint stays in place and checks each row
// as COPY writes it; the primary key, rebuilt at the end, checks uniqueness then.
//
// Each dropped index is listed in case_operation_deferred_indexes in the transaction that drops it, and
// its row is deleted in the transaction that builds it again, so a load killed before Finish leaves the
// list of what it owes; FinishDeferredIndexes builds it.
type BulkLoader struct {
	s        *Store
	deferred int // how many indexes it dropped
	finished bool
}

// NewBulkLoader prepares a bulk load. Finish must be called, even after a failed load, to rebuild any
// indexes it dropped; if the process dies first, FinishDeferredIndexes builds them.
func (s *Store) NewBulkLoader(ctx context.Context) (*BulkLoader, error) {
	l := &BulkLoader{s: s}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var empty bool
		if err := tx.QueryRow(ctx, `SELECT NOT EXISTS (SELECT FROM case_operations) AND NOT EXISTS (SELECT FROM case_operation_events)`).Scan(&empty); err != nil {
			return err
		}
		if !empty {
			return nil
		}
		rows, _ := tx.Query(ctx, `
			SELECT i.indexrelid::regclass::text, i.indrelid::regclass::text, c.conname,
				CASE c.contype WHEN 'p' THEN 'PRIMARY KEY' WHEN 'u' THEN 'UNIQUE' ELSE '' END,
				pg_get_indexdef(i.indexrelid), obj_description(i.indexrelid, 'pg_class')
			FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.contype IN ('p', 'u')
			WHERE i.indrelid IN ('case_operations'::regclass, 'case_operation_events'::regclass)
				AND i.indexrelid <> 'case_operation_events_pkey'::regclass
			ORDER BY i.indexrelid::regclass::text`)
		type index struct {
			name, table      string
			constraint       *string
			kind, definition string
			comment          *string
		}
		indexes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (index, error) {
			var ix index
			err := r.Scan(&ix.name, &ix.table, &ix.constraint, &ix.kind, &ix.definition, &ix.comment)
			return ix, err
		})
		if err != nil {
			return err
		}
		for _, ix := range indexes {
			drop := "DROP INDEX " + ix.name
			var addConstraint, comment *string
			if ix.constraint != nil {
				constraint := pgx.Identifier{*ix.constraint}.Sanitize()
				drop = "ALTER TABLE " + ix.table + " DROP CONSTRAINT " + constraint
				// A primary key comes back as its unique index, which the constraint then adopts at once.
				add := "ALTER TABLE " + ix.table + " ADD CONSTRAINT " + constraint + " " + ix.kind + " USING INDEX " + ix.name
				addConstraint = &add
			}
			if ix.comment != nil {
				c := "COMMENT ON INDEX " + ix.name + " IS " + quoteLiteral(*ix.comment)
				comment = &c
			}
			if _, err := tx.Exec(ctx, drop); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO case_operation_deferred_indexes
				(index_name, table_name, create_index_statement, add_constraint_statement, comment_statement)
				VALUES ($1, $2, $3, $4, $5)`, ix.name, ix.table, ix.definition, addConstraint, comment); err != nil {
				return err
			}
			l.deferred++
		}
		return nil
	})
	return l, mapError(err)
}

// DeferredIndexes reports how many indexes the load builds at the end rather than row by row.
func (l *BulkLoader) DeferredIndexes() int { return l.deferred }

// Load writes operations and their events with COPY, in one transaction: all of them or none.
// COPY checks every CHECK constraint as an INSERT would; seq and transaction_id take their defaults.
// Once the rows are sent it commits even if ctx ends meanwhile, so that when ctx is what stops a load, a
// nil error means the batch is in the tables and an error means it is not.
func (l *BulkLoader) Load(ctx context.Context, ops []BulkOperation, events []BulkEvent) error {
	conn, err := l.s.pool.Acquire(ctx)
	if err != nil {
		return mapError(err)
	}
	defer conn.Release()
	// Binary COPY encodes the enums by name, so the connection must know them.
	if _, known := conn.Conn().TypeMap().TypeForName(enumTypes[0]); !known {
		types, err := conn.Conn().LoadTypes(ctx, enumTypes)
		if err != nil {
			return mapError(fmt.Errorf("load enum types: %w", err))
		}
		conn.Conn().TypeMap().RegisterTypes(types)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return mapError(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // a no-op once committed
	if err := copyBatch(ctx, tx, ops, events); err != nil {
		return mapError(err)
	}
	// Once both COPYs are in, the commit is not abandoned when ctx ends: an interrupted load must know
	// whether its last batch is in the tables, to say truly what it kept.
	return mapError(tx.Commit(context.WithoutCancel(ctx)))
}

// copyBatch writes one batch of operations and their events in tx.
func copyBatch(ctx context.Context, tx pgx.Tx, ops []BulkOperation, events []BulkEvent) error {
	// A lost batch on a crash is acceptable to a loader; waiting for each commit's flush is not needed.
	// The rollups count the batch once per COPY (caseops.bulk_load, migration 00005), from transition
	// tables that the larger work_mem keeps in memory rather than in temp files. The load writes its own
	// history, so the trigger that records direct SQL writes (migration 00006) stays out of it.
	if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = off; SET LOCAL work_mem = '128MB'; SET LOCAL caseops.bulk_load = 'on'; SET LOCAL caseops.history = 'written'`); err != nil {
		return err
	}
	row := make([]any, len(bulkOperationColumns))
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"case_operations"}, bulkOperationColumns,
		pgx.CopyFromSlice(len(ops), func(i int) ([]any, error) {
			o := &ops[i]
			row[0], row[1], row[2], row[3] = o.TenantID, [16]byte(o.ID), string(o.Status), string(o.Action)
			row[4], row[5], row[6], row[7] = o.PercentProgress, o.CreatedDateTime, o.CompletedDateTime, jsonb(o.CreatedBy)
			row[8], row[9], row[10], row[11], row[12] = o.ResultCode, o.ResultMessage, o.ResultSubcode, o.Version, o.LastModifiedDateTime
			return row, nil
		}))
	if err != nil {
		return fmt.Errorf("copy operations: %w", err)
	}
	erow := make([]any, len(bulkEventColumns))
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"case_operation_events"}, bulkEventColumns,
		pgx.CopyFromSlice(len(events), func(i int) ([]any, error) {
			e := &events[i]
			erow[0], erow[1], erow[2], erow[3] = e.TenantID, [16]byte(e.OperationID), e.OccurredAt, string(e.Kind)
			erow[4], erow[5], erow[6] = jsonb(e.Actor), e.RequestID, e.Changes
			erow[7] = [16]byte(DefaultCaseID(e.TenantID)) // a bulk load's operations are in their tenant's default case
			return erow, nil
		}))
	if err != nil {
		return fmt.Errorf("copy events: %w", err)
	}
	return nil
}

// Finish rebuilds the indexes the load dropped (and any an earlier, killed load left owed), two at a
// time, then refreshes the planner's statistics. It runs even when ctx is already cancelled, so that an
// interrupted load does not leave tables without their indexes. built, when not nil, is called as each
// index is done (one call at a time), since building them can take minutes.
func (l *BulkLoader) Finish(ctx context.Context, built func(index string, took time.Duration)) error {
	if l.finished {
		return nil
	}
	l.finished = true
	ctx = context.WithoutCancel(ctx)
	_, err := l.s.buildDeferredIndexes(ctx, built)
	if _, aerr := l.s.pool.Exec(ctx, `ANALYZE case_operations, case_operation_events`); aerr != nil {
		err = errors.Join(err, mapError(aerr))
	}
	return err
}

// FinishDeferredIndexes builds the indexes that bulk loads dropped and did not build again, because they
// were killed before they could, as Finish would have: each with its constraint and comment, two at a
// time, then ANALYZE if it built any. While a primary key is built its table can be neither read nor
// written. Several processes may call it at once: each index is built by one
// of them, and the others wait for it and succeed. An index that cannot be built (a primary key over
// duplicate rows) stays listed, and the error names it and says why.
func (s *Store) FinishDeferredIndexes(ctx context.Context, built func(index string, took time.Duration)) error {
	n, err := s.buildDeferredIndexes(ctx, built)
	if err != nil || n == 0 {
		return err
	}
	_, err = s.pool.Exec(ctx, `ANALYZE case_operations, case_operation_events`)
	return mapError(err)
}

// owedIndex is a row of case_operation_deferred_indexes: an index a bulk load dropped.
type owedIndex struct {
	name, table, create string
	addConstraint       *string
	comment             *string
}

// The statements a bulk load records, as it writes them. A row of case_operation_deferred_indexes is run
// by serve and migrate up, so a row written by anyone else must not make them run anything but these.
var (
	deferredTables      = map[string]bool{"case_operations": true, "case_operation_events": true}
	createIndexShape    = regexp.MustCompile(`^CREATE (UNIQUE )?INDEX (\w+) ON (public\.)?(\w+) USING (?:btree|brin) \(`)
	addConstraintShape  = regexp.MustCompile(`^ALTER TABLE (\w+) ADD CONSTRAINT "\w+" (PRIMARY KEY|UNIQUE) USING INDEX (\w+)$`)
	commentOnIndexShape = regexp.MustCompile(`^COMMENT ON INDEX (\w+) IS '([^']|'')*'$`)
)

// check reports a row whose statements are not the ones a bulk load writes for its index and table.
func (ix owedIndex) check() error {
	if !deferredTables[ix.table] {
		return fmt.Errorf("table %q is not one a bulk load drops indexes of", ix.table)
	}
	if m := createIndexShape.FindStringSubmatch(ix.create); m == nil || m[2] != ix.name || m[4] != ix.table {
		return errors.New("create_index_statement is not a CREATE INDEX of this index on this table")
	}
	if c := ix.addConstraint; c != nil {
		if m := addConstraintShape.FindStringSubmatch(*c); m == nil || m[1] != ix.table || m[3] != ix.name {
			return errors.New("add_constraint_statement is not an ADD CONSTRAINT ... USING INDEX of this index")
		}
	}
	if c := ix.comment; c != nil {
		if m := commentOnIndexShape.FindStringSubmatch(*c); m == nil || m[1] != ix.name {
			return errors.New("comment_statement is not a COMMENT ON INDEX of this index")
		}
	}
	return nil
}

// buildDeferredIndexes builds every index listed in case_operation_deferred_indexes, two at a time on
// separate connections, and returns how many it built.
func (s *Store) buildDeferredIndexes(ctx context.Context, built func(index string, took time.Duration)) (int, error) {
	// Constraints first: the primary key is the one the service cannot do without. It locks its table for
	// the whole build, so the indexes of the other table come next, to build alongside it.
	rows, _ := s.pool.Query(ctx, `SELECT index_name, table_name, create_index_statement, add_constraint_statement, comment_statement
		FROM case_operation_deferred_indexes
		ORDER BY add_constraint_statement IS NULL,
			table_name IN (SELECT table_name FROM case_operation_deferred_indexes WHERE add_constraint_statement IS NOT NULL),
			index_name`)
	owed, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (owedIndex, error) {
		var ix owedIndex
		err := r.Scan(&ix.name, &ix.table, &ix.create, &ix.addConstraint, &ix.comment)
		return ix, err
	})
	if err != nil {
		return 0, mapError(fmt.Errorf("list the indexes bulk loads left to build: %w", err))
	}
	var errs []error
	n := 0
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan owedIndex)
	for range 2 {
		wg.Go(func() {
			for ix := range next {
				begin := time.Now()
				done, err := s.buildDeferredIndex(ctx, ix)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else if done {
					n++
					if built != nil {
						built(ix.name, time.Since(begin))
					}
				}
				mu.Unlock()
			}
		})
	}
	for _, ix := range owed {
		next <- ix
	}
	close(next)
	wg.Wait()
	return n, errors.Join(errs...)
}

// buildDeferredIndex builds one owed index, adds its constraint and comment back and deletes its row, in
// one transaction: either the index is whole again and no longer listed, or nothing changed. It reports
// false when the row is gone, because another process built the index meanwhile.
//
// Adding a constraint locks its table ACCESS EXCLUSIVE. Taking that lock after the index build's SHARE
// lock would deadlock with any session that holds a weaker lock and waits for a stronger one meanwhile (a
// new connection preparing the service's statements does), so such a transaction takes it first, for the
// whole build. An index that backs no constraint takes only the SHARE lock, and builds alongside indexes
// of the other table.
func (s *Store) buildDeferredIndex(ctx context.Context, ix owedIndex) (bool, error) {
	failed := func(step string, err error) error {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("index %s on %s, dropped by a bulk load, is still to be built: %w", ix.name, ix.table, err)
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && !unavailableCode(pgErr.Code) {
			if pgErr.Detail != "" {
				err = fmt.Errorf("%w: %s", pgErr, pgErr.Detail)
			}
		} else {
			err = mapError(err)
		}
		return fmt.Errorf("index %s on %s, dropped by a bulk load, could not be built again: %s: %w; "+
			"it stays listed in case_operation_deferred_indexes, and the next seed, migrate up or serve tries again",
			ix.name, ix.table, step, err)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, failed("connect", err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return false, failed("begin", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // a no-op once committed
	// Another process building the same index holds this row until it commits, and then it is gone.
	err = tx.QueryRow(ctx, `SELECT table_name, create_index_statement, add_constraint_statement, comment_statement
		FROM case_operation_deferred_indexes WHERE index_name = $1 FOR UPDATE`, ix.name).Scan(&ix.table, &ix.create, &ix.addConstraint, &ix.comment)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	} else if err != nil {
		return false, failed("claim its row", err)
	}
	steps := []string{`SET LOCAL maintenance_work_mem = '1GB'`}
	if ix.addConstraint != nil {
		steps = append(steps, "LOCK TABLE "+ix.table+" IN ACCESS EXCLUSIVE MODE")
	}
	steps = append(steps, ix.create)
	if ix.addConstraint != nil {
		steps = append(steps, *ix.addConstraint)
	}
	if ix.comment != nil {
		steps = append(steps, *ix.comment)
	}
	if err := ix.check(); err != nil {
		return false, failed("check its statements", err)
	}
	for _, stmt := range steps {
		// The extended protocol runs exactly one statement, whatever the text holds.
		if err := tx.Conn().PgConn().ExecParams(ctx, stmt, nil, nil, nil, nil).Read().Err; err != nil {
			return false, failed(stmt, err)
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM case_operation_deferred_indexes WHERE index_name = $1`, ix.name); err != nil {
		return false, failed("delete its row", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, failed("commit", err)
	}
	return true, nil
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// jsonb passes nil JSON as SQL NULL rather than as an empty document.
func jsonb(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}
