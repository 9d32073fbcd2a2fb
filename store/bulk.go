package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
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
	bulkEventColumns = []string{"tenant_id", "operation_id", "occurred_at", "kind", "actor", "request_id", "changes"}
	enumTypes        = []string{"case_operation_status", "case_action", "case_operation_event_kind"}
)

// BulkLoader loads many batches of operations and their events, from several goroutines at once.
//
// Into empty tables it loads as pg_restore does: it drops the indexes first (all but the history's
// primary key, which grows in order and costs little) and builds them once at the end, which is several
// times cheaper than updating them row by row. Every CHECK constraint stays in place and checks each row
// as COPY writes it; the primary key, rebuilt at the end, checks uniqueness then.
type BulkLoader struct {
	s        *Store
	rebuild  []deferredIndex // the dropped indexes, which may be built at once
	after    []string        // then: constraints on the rebuilt unique indexes, and index comments
	finished bool
}

// deferredIndex is an index a load dropped, to be built again when it ends.
type deferredIndex struct {
	name, definition string // definition: its CREATE INDEX statement
}

// NewBulkLoader prepares a bulk load. Finish must be called, even after a failed load, to rebuild any
// indexes it dropped.
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
			if ix.constraint != nil {
				constraint := pgx.Identifier{*ix.constraint}.Sanitize()
				drop = "ALTER TABLE " + ix.table + " DROP CONSTRAINT " + constraint
				// A primary key comes back as its unique index first: building it takes no lock that stops
				// the other index builds on the table, and the constraint then adopts it at once.
				l.after = append(l.after, "ALTER TABLE "+ix.table+" ADD CONSTRAINT "+constraint+" "+ix.kind+" USING INDEX "+ix.name)
			}
			if _, err := tx.Exec(ctx, drop); err != nil {
				return err
			}
			l.rebuild = append(l.rebuild, deferredIndex{ix.name, ix.definition})
			if ix.comment != nil {
				l.after = append(l.after, "COMMENT ON INDEX "+ix.name+" IS "+quoteLiteral(*ix.comment))
			}
		}
		return nil
	})
	return l, mapError(err)
}

// DeferredIndexes reports how many indexes the load builds at the end rather than row by row.
func (l *BulkLoader) DeferredIndexes() int { return len(l.rebuild) }

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
			return erow, nil
		}))
	if err != nil {
		return fmt.Errorf("copy events: %w", err)
	}
	return nil
}

// Finish rebuilds the indexes the load dropped, two at a time, then refreshes the planner's statistics.
// It runs even when ctx is already cancelled, so that an interrupted load does not leave tables without
// their indexes. built, when not nil, is called as each index is done (one call at a time), since
// building them can take minutes.
func (l *BulkLoader) Finish(ctx context.Context, built func(index string, took time.Duration)) error {
	if l.finished {
		return nil
	}
	l.finished = true
	ctx = context.WithoutCancel(ctx)
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan deferredIndex)
	for range 2 {
		wg.Go(func() {
			for ix := range next {
				begin := time.Now()
				conn, err := l.s.pool.Acquire(ctx)
				if err == nil {
					_, err = conn.Exec(ctx, `SET maintenance_work_mem = '1GB'`)
					if err == nil {
						_, err = conn.Exec(ctx, ix.definition)
					}
					_, _ = conn.Exec(ctx, `RESET maintenance_work_mem`)
					conn.Release()
				}
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", ix.definition, err))
				} else if built != nil {
					built(ix.name, time.Since(begin))
				}
				mu.Unlock()
			}
		})
	}
	for _, ix := range l.rebuild {
		next <- ix
	}
	close(next)
	wg.Wait()
	for _, stmt := range l.after {
		if _, err := l.s.pool.Exec(ctx, stmt); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", stmt, err))
		}
	}
	if _, err := l.s.pool.Exec(ctx, `ANALYZE case_operations, case_operation_events`); err != nil {
		errs = append(errs, err)
	}
	return mapError(errors.Join(errs...))
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// jsonb passes nil JSON as SQL NULL rather than as an empty document.
func jsonb(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}
