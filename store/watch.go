package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// A change stream is delta rounds run for the watchers rather than by them. One Watcher per process listens
// on the Postgres channel NotifyChannel; every write of this process (and every direct SQL write, by the
// trigger of migration 00014) notifies it, so each process's watcher wakes, however many watchers there are.
// On a wake it runs one round, (the snapshot of its previous round, a new one], for every tenant that has a
// subscriber, and hands each change to the subscribers it concerns. Within a round changes come in the order
// of their last event; a Position names a round and the last change delivered in it, so a subscriber that
// comes back with one is owed exactly the rest of that round and the rounds after it (Changes).

// NotifyChannel is the channel writes notify and watchers listen on.
const NotifyChannel = "caseops_changes"

// NotifyApplication is the application_name of the connection a process notifies NotifyChannel on; the
// watcher's other connections are "caseops listen" and "caseops change streams".
const NotifyApplication = "caseops notify"

// Position is a place in the stream of changes: in the round (Since, Until], after the change whose last
// event has AfterSeq (0: before the round's first change).
type Position struct {
	Since, Until Snapshot
	AfterSeq     int64
}

// StreamChange is one change of a round: an operation as it stands after the round, or Operation nil when it
// no longer exists; Case is its case when known (the history of migration 13 on names it).
type StreamChange struct {
	Change
	Tenant string
	Case   uuid.UUID
	At     Position // the position after this change
}

// ChangesQuery asks for the changes of one round (Since, Until] after AfterSeq, of a tenant's operations or
// of one case's.
type ChangesQuery struct {
	From Position
	Case *uuid.UUID
	Top  int
}

// Changes returns, in order, up to q.Top changes of tenant's operations in the round q.From describes, after
// q.From.AfterSeq; a full page means more may follow.
func (s *Store) Changes(ctx context.Context, tenant string, q ChangesQuery) ([]StreamChange, error) {
	return readChanges(ctx, s.pool, []string{tenant}, q.Case, q.From, q.Top)
}

// querier is a pool or one connection.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// changesSQL lists the operations of tenants $1 that events of transactions visible in $3 but not in $2
// touched, each once, ordered by its last event there, after $4, $5 of them, with the operation as it stands;
// %s is empty or deltaCaseCondition.
const changesSQL = `
WITH changed AS (
	SELECT tenant_id, operation_id, max(seq) AS seq, (array_agg(case_id) FILTER (WHERE case_id IS NOT NULL))[1] AS case_id
	FROM case_operation_events e
	WHERE tenant_id = ANY ($1::text[])
		AND transaction_id >= pg_snapshot_xmin($2::text::pg_snapshot)
		AND transaction_id < pg_snapshot_xmax($3::text::pg_snapshot)
		AND NOT pg_visible_in_snapshot(transaction_id, $2::text::pg_snapshot)
		AND pg_visible_in_snapshot(transaction_id, $3::text::pg_snapshot)
		%s
	GROUP BY tenant_id, operation_id
	HAVING max(seq) > $4
	ORDER BY seq
	LIMIT $5
)
SELECT c.seq, c.tenant_id, coalesce(o.case_id, c.case_id, '00000000-0000-0000-0000-000000000000'), c.operation_id,
	o.tenant_id, o.id, o.odata_type, o.status, o.action, o.percent_progress, o.created_date_time,
	o.completed_date_time, o.created_by, o.result_code, o.result_message, o.result_subcode, o.version,
	o.last_modified_date_time, o.case_id, o.operation_type, o.description, o.display_name, o.output_name, o.cloud_attachment_version, o.document_version, o.report_file_metadata, o.export_file_metadata, o.indexed_item_count, o.indexed_items_size, o.unindexed_item_count, o.unindexed_items_size, o.mailbox_count, o.site_count, o.statistics_options, o.additional_data_options, o.items_to_include, o.export_options, o.export_structure, o.additional_options, o.export_criteria, o.export_location, o.export_format, o.export_single_items
FROM changed c LEFT JOIN case_operations o ON o.tenant_id = c.tenant_id AND o.id = c.operation_id
ORDER BY c.seq`

func readChanges(ctx context.Context, db querier, tenants []string, inCase *uuid.UUID, from Position, top int) ([]StreamChange, error) {
	args, cond := []any{tenants, from.Since.String(), from.Until.String(), from.AfterSeq, top}, ""
	if inCase != nil {
		args, cond = append(args, *inCase), fmt.Sprintf(deltaCaseCondition, 6)
	}
	rows, _ := db.Query(ctx, fmt.Sprintf(changesSQL, cond), args...)
	changes, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (StreamChange, error) {
		var seq int64
		var tenant string
		var caseID uuid.UUID
		c, err := scanChangeWith(row, &seq, &tenant, &caseID)
		return StreamChange{Change: c, Tenant: tenant, Case: caseID,
			At: Position{Since: from.Since, Until: from.Until, AfterSeq: seq}}, err
	})
	return changes, mapError(err)
}

// CurrentSnapshot is the database's snapshot now: where a round that starts now ends.
func (s *Store) CurrentSnapshot(ctx context.Context) (Snapshot, error) {
	return currentSnapshot(ctx, s.pool)
}

func currentSnapshot(ctx context.Context, db querier) (Snapshot, error) {
	var text string
	if err := db.QueryRow(ctx, `SELECT pg_current_snapshot()::text`).Scan(&text); err != nil {
		return Snapshot{}, mapError(err)
	}
	snap, err := ParseSnapshot(text)
	if err != nil {
		return Snapshot{}, fmt.Errorf("postgres gave snapshot %q: %w", text, err)
	}
	return snap, nil
}

// Subscription receives the changes of one tenant's operations, or one case's, from the round after the
// Position it started at, a batch (the subscriber's part of one page of a round, in order) at a time; the
// changes are shared by every subscriber they concern, and must not be modified. C is closed when the
// subscriber fell behind (its buffer of batches was full) or the watcher stopped; Dropped tells which.
type Subscription struct {
	Tenant string
	Case   *uuid.UUID
	Start  Snapshot // changes of rounds after this snapshot arrive on C
	C      chan []*StreamChange

	w       *Watcher
	dropped bool // guarded by w.mu
}

// Dropped reports whether C was closed because the subscriber did not keep up.
func (sub *Subscription) Dropped() bool {
	sub.w.mu.Lock()
	defer sub.w.mu.Unlock()
	return sub.dropped
}

// Close ends the subscription.
func (sub *Subscription) Close() {
	sub.w.mu.Lock()
	defer sub.w.mu.Unlock()
	if _, ok := sub.w.subs[sub]; ok {
		delete(sub.w.subs, sub)
		close(sub.C)
	}
}

// Watcher runs the rounds of a process's change streams (see the top of this file).
type Watcher struct {
	s      *Store
	logger *slog.Logger
	buffer int // changes a subscriber may have waiting before it is dropped

	wake   chan struct{} // a round is due
	tell   chan struct{} // this process wrote: notify the others
	wanted chan struct{} // closed by the first Subscribe: a process nobody watches holds no listening connection
	once   sync.Once

	mu      sync.Mutex
	subs    map[*Subscription]struct{}
	stopped bool      // Run has returned: no subscription would ever be served
	pos     *Snapshot // where the last round ended; nil while nobody subscribes
	conn    *pgx.Conn // the rounds' own connection, opened by the first; guarded by round
	// round serializes rounds with the registration of subscribers, so that a subscriber's Start is exactly
	// the end of the last round it missed.
	round sync.Mutex
}

// NewWatcher returns a watcher over s's database; Run starts it. buffer bounds each subscriber's backlog.
func NewWatcher(s *Store, logger *slog.Logger, buffer int) *Watcher {
	w := &Watcher{s: s, logger: logger, buffer: buffer, wake: make(chan struct{}, 1), tell: make(chan struct{}, 1),
		wanted: make(chan struct{}), subs: map[*Subscription]struct{}{}}
	s.onWrite = w.wrote
	return w
}

func (w *Watcher) wrote() {
	select {
	case w.tell <- struct{}{}:
	default:
	}
}

func (w *Watcher) kick() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Subscribers is how many subscriptions are open.
func (w *Watcher) Subscribers() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.subs)
}

// Subscribe opens a subscription to tenant's changes (of caseID's operations only, when it is not nil),
// starting after the round that ends at the returned Start, which is no older than the moment of the call.
func (w *Watcher) Subscribe(ctx context.Context, tenant string, caseID *uuid.UUID) (*Subscription, error) {
	w.once.Do(func() { close(w.wanted) })
	w.round.Lock()
	defer w.round.Unlock()
	if w.pos != nil {
		// A Last-Event-ID may come from another process, ahead of this one: catch up with the database
		// first, so the subscriber's catch-up and its live rounds meet exactly.
		if err := w.runRound(ctx); err != nil {
			return nil, err
		}
	}
	if w.pos == nil { // nobody was subscribed: rounds start now
		now, err := onWatcherConn(ctx, w, func(db querier) (Snapshot, error) { return currentSnapshot(ctx, db) })
		if err != nil {
			return nil, err
		}
		w.pos = &now
	}
	sub := &Subscription{Tenant: tenant, Case: caseID, Start: *w.pos, C: make(chan []*StreamChange, w.buffer), w: w}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return nil, fmt.Errorf("change streams are stopping: %w", ErrUnavailable)
	}
	w.subs[sub] = struct{}{}
	return sub, nil
}

// Run listens and runs rounds until ctx ends, reconnecting the listening connection when it is lost.
func (w *Watcher) Run(ctx context.Context) {
	defer func() {
		w.round.Lock()
		defer w.round.Unlock()
		if w.conn != nil {
			w.conn.Close(context.WithoutCancel(ctx))
		}
	}()
	go w.notifyLoop(ctx)
	go func() {
		select {
		case <-w.wanted:
			w.listenLoop(ctx)
		case <-ctx.Done():
		}
	}()
	defer w.closeAll()
	retry := 200 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		}
		w.round.Lock()
		err := w.runRound(ctx)
		w.round.Unlock()
		if err == nil {
			retry = 200 * time.Millisecond
			continue
		}
		if ctx.Err() != nil {
			return
		}
		// The database is away: the streams stay open and the round is tried again, less often the longer it
		// lasts; once it answers, the round reports everything committed meanwhile.
		w.logger.Warn("change stream round failed; retrying", slog.String("error", err.Error()), slog.Duration("in", retry))
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
		retry = min(2*retry, 5*time.Second)
		w.kick()
	}
}

func (w *Watcher) closeAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	for sub := range w.subs {
		delete(w.subs, sub)
		close(sub.C)
	}
}

// runRound runs the round after w.pos for every subscribed tenant and delivers it; w.round is held.
func (w *Watcher) runRound(ctx context.Context) error {
	w.mu.Lock()
	tenantSet := map[string]bool{}
	for sub := range w.subs {
		tenantSet[sub.Tenant] = true
	}
	w.mu.Unlock()
	if len(tenantSet) == 0 {
		w.pos = nil // nobody to tell: an idle process runs no query
		return nil
	}
	tenants := make([]string, 0, len(tenantSet))
	for t := range tenantSet {
		tenants = append(tenants, t)
	}
	until, err := onWatcherConn(ctx, w, func(db querier) (Snapshot, error) { return currentSnapshot(ctx, db) })
	if err != nil {
		return err
	}
	from := Position{Since: *w.pos, Until: until}
	const page = 500
	for {
		changes, err := onWatcherConn(ctx, w, func(db querier) ([]StreamChange, error) {
			return readChanges(ctx, db, tenants, nil, from, page)
		})
		if err != nil {
			return err
		}
		w.deliver(changes)
		if len(changes) < page {
			break
		}
		from.AfterSeq = changes[len(changes)-1].At.AfterSeq
	}
	w.pos = &until
	return nil
}

// dial opens a connection of the watcher's own, outside the pool (whose connections are the requests'), with
// the pool's settings and application_name app.
func (w *Watcher) dial(ctx context.Context, app string) (*pgx.Conn, error) {
	pool := w.s.pool.Config()
	cfg := pool.ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = app
	// The pool's own hook spaces out its connection attempts while they fail: the watcher's share that
	// backoff, so that a database that is away is not dialled any faster for them.
	if pool.BeforeConnect != nil {
		if err := pool.BeforeConnect(ctx, cfg); err != nil {
			return nil, mapError(err)
		}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	return conn, mapError(err)
}

// onWatcherConn runs f on the watcher's own connection, which rounds use so that they never queue behind
// requests for the pool; a connection that fails is closed, and the next round opens another. w.round is held.
func onWatcherConn[T any](ctx context.Context, w *Watcher, f func(querier) (T, error)) (T, error) {
	var out T
	err := w.onConn(ctx, func(db querier) (err error) { out, err = f(db); return err })
	return out, err
}

func (w *Watcher) onConn(ctx context.Context, f func(querier) error) error {
	if w.conn == nil || w.conn.IsClosed() {
		conn, err := w.dial(ctx, "caseops change streams")
		if err != nil {
			return err
		}
		w.conn = conn
	}
	err := f(w.conn)
	if err != nil {
		w.conn.Close(context.WithoutCancel(ctx))
		w.conn = nil
	}
	return err
}

// deliver hands each subscriber its part of a page of changes as one batch, so that a burst (one statement
// that changed a thousand operations) costs a subscriber one place in its buffer; one whose buffer is full is
// dropped. The changes themselves are shared: a subscriber that stopped reading holds its batches' pointers.
func (w *Watcher) deliver(changes []StreamChange) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for sub := range w.subs {
		var batch []*StreamChange
		for i := range changes {
			if c := &changes[i]; c.Tenant == sub.Tenant && (sub.Case == nil || *sub.Case == c.Case) {
				batch = append(batch, c)
			}
		}
		if len(batch) == 0 {
			continue
		}
		select {
		case sub.C <- batch:
		default:
			sub.dropped = true
			delete(w.subs, sub)
			close(sub.C)
		}
	}
}

// notifyCoalesce is the least time between two notifications of one process: the writes of a busy process
// cost the database a few hundred NOTIFYs a second at most, and a change's event waits that much longer at most.
const notifyCoalesce = 5 * time.Millisecond

// notifyLoop sends one NOTIFY for every burst of this process's writes: at most one is in flight, and
// writes made meanwhile are covered by the next. It has a connection of its own (application_name
// NotifyApplication), opened at the first write, so that a notification never takes a connection from the
// requests, nor waits for one.
func (w *Watcher) notifyLoop(ctx context.Context) {
	var conn *pgx.Conn
	failures := 0 // attempts that failed in a row
	defer func() {
		if conn != nil {
			conn.Close(context.WithoutCancel(ctx))
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.tell:
		}
		err := func() error {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if conn == nil {
				var err error
				if conn, err = w.dial(ctx, NotifyApplication); err != nil {
					return err
				}
			}
			_, err := conn.Exec(ctx, `SELECT pg_notify($1, '')`, NotifyChannel)
			return err
		}()
		wait := notifyCoalesce
		switch {
		case err == nil:
			failures = 0
		case ctx.Err() == nil:
			// The database is away: every failed write still asks for a notification, so the attempts back off
			// as the pool's connections do, and the log says so less and less often.
			failures++
			if failures&(failures-1) == 0 {
				w.logger.Warn("could not notify change streams", slog.String("error", err.Error()),
					slog.Int("failed attempts", failures))
			}
			if conn != nil {
				conn.Close(context.WithoutCancel(ctx))
				conn = nil
			}
			w.kick() // this process's own subscribers still learn of its writes
			wait = max(wait, delay(failures))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// listenLoop keeps a connection listening on NotifyChannel and wakes the rounds on each notification, and
// once after each (re)connection, for what was written while nobody listened.
func (w *Watcher) listenLoop(ctx context.Context) {
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := w.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		w.logger.Warn("change stream listener lost its connection; reconnecting", slog.String("error", err.Error()))
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

func (w *Watcher) listen(ctx context.Context) error {
	conn, err := w.dial(ctx, "caseops listen")
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{NotifyChannel}.Sanitize()); err != nil {
		return err
	}
	w.kick()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			if errors.Is(err, context.Canceled) {
				return err
			}
			return fmt.Errorf("wait for notification: %w", err)
		}
		w.kick()
	}
}
