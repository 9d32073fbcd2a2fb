package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
)

// Coalescing says how the store gathers PATCHes that are in flight together into one transaction.
type Coalescing struct {
	// Off runs every PATCH as a statement and a transaction of its own.
	Off bool
	// MaxWait is the longest a PATCH waits for others to join it while another batch is in the database.
	// A PATCH that finds none in the database goes at once.
	MaxWait time.Duration
	// MaxBatch is the most PATCHes one transaction applies; a batch that fills goes at once.
	MaxBatch int
}

// DefaultCoalescing is what New uses.
var DefaultCoalescing = Coalescing{MaxWait: 2 * time.Millisecond, MaxBatch: 32}

// CoalescingStats counts what the coalescer did since the store was made.
type CoalescingStats struct {
	Batches int64 // transactions that applied two PATCHes or more
	Patches int64 // PATCHes applied by those transactions
	Largest int64 // most PATCHes in one of them
	Pending int   // PATCHes waiting now for their batch to go
}

// maxBatchAttempts bounds how often a batch that failed for a transient reason (a deadlock, its connection
// terminated before it committed) is sent again before its requests are answered unavailable.
const maxBatchAttempts = 3

// patchRequest is one PATCH waiting in, or applied by, a batch.
type patchRequest struct {
	ctx      context.Context
	tenant   string
	id       [16]byte
	args     []any
	enqueued time.Time
	sent     bool // taken into a batch (guarded by the coalescer's mutex)
	done     chan struct{}

	// The answer, written before done is closed.
	verdict, oldStatus string
	row                operationRow
	err                error
}

// coalescer applies the PATCHes that are in flight together as one transaction: BEGIN, each PATCH's own
// statement in turn, COMMIT, sent as one pipeline, so one round trip and one commit serve them all. Each
// statement gives its request its own verdict and writes its own history event, exactly as if it had run alone;
// two PATCHes of one operation run in arrival order, the second seeing the first.
//
// A PATCH that finds no batch in the database goes at once, alone. Others wait until the batch in the
// database ends, their batch fills, or MaxWait passes, whichever comes first.
type coalescer struct {
	store *Store
	cfg   Coalescing

	mu       sync.Mutex
	pending  []*patchRequest
	timer    *time.Timer
	inflight int // batches in the database

	batches, patches, largest atomic.Int64
	size, wait                prometheus.Histogram
}

func newCoalescer(s *Store, cfg Coalescing) *coalescer {
	c := &coalescer{store: s, cfg: cfg,
		size: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "caseops_db_write_batch_size",
			Help:    "PATCHes applied by one transaction of the write coalescer (1: a PATCH that went alone).",
			Buckets: []float64{1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128},
		}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "caseops_db_write_coalesce_wait_seconds",
			Help:    "Time a PATCH waited for its batch to be sent to the database: the wait coalescing adds.",
			Buckets: []float64{0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.01, 0.025},
		}),
	}
	c.timer = time.AfterFunc(time.Hour, c.timeUp)
	c.timer.Stop()
	return c
}

// submit has r applied and waits for its answer, in r, or for ctx to end. When ctx ends first it returns why,
// and r is the batch's alone from then on.
func (c *coalescer) submit(ctx context.Context, r *patchRequest) error {
	r.ctx, r.done, r.enqueued = ctx, make(chan struct{}), time.Now()
	c.mu.Lock()
	c.pending = append(c.pending, r)
	var batch []*patchRequest
	switch {
	case c.inflight == 0 || len(c.pending) >= c.cfg.MaxBatch:
		batch = c.takeLocked()
	case len(c.pending) == 1:
		c.timer.Reset(c.cfg.MaxWait)
	}
	c.mu.Unlock()
	if batch != nil {
		c.run(batch)
	}
	select {
	case <-r.done:
		return nil
	default:
	}
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
	}
	c.mu.Lock()
	sent := r.sent
	if !sent {
		c.pending = slices.DeleteFunc(c.pending, func(p *patchRequest) bool { return p == r })
	}
	c.mu.Unlock()
	switch {
	case !sent:
		return mapError(ctx.Err()) // never sent: nothing was written
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		// Sent: the batch goes on for the others, and this PATCH may still commit, as a lone statement
		// whose answer is lost may have.
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, mapError(ctx.Err()))
	default:
		return ctx.Err()
	}
}

// takeLocked takes the next batch out of pending; c.mu is held.
func (c *coalescer) takeLocked() []*patchRequest {
	n := min(len(c.pending), c.cfg.MaxBatch)
	batch := slices.Clone(c.pending[:n])
	c.pending = slices.Delete(c.pending, 0, n)
	if len(c.pending) == 0 {
		c.timer.Stop()
	}
	for _, r := range batch {
		r.sent = true
	}
	c.inflight++
	return batch
}

// timeUp sends the waiting PATCHes when the first of them has waited MaxWait.
func (c *coalescer) timeUp() {
	c.mu.Lock()
	var batch []*patchRequest
	if len(c.pending) > 0 {
		batch = c.takeLocked()
	}
	c.mu.Unlock()
	if batch != nil {
		c.run(batch)
	}
}

// run applies batch, answers each of its requests, and sends the PATCHes that gathered meanwhile.
func (c *coalescer) run(batch []*patchRequest) {
	now := time.Now()
	for _, r := range batch {
		c.wait.Observe(now.Sub(r.enqueued).Seconds())
	}
	c.size.Observe(float64(len(batch)))
	if len(batch) == 1 {
		c.store.patchAlone(batch[0])
		close(batch[0].done)
	} else {
		c.batches.Add(1)
		c.patches.Add(int64(len(batch)))
		for n := c.largest.Load(); int64(len(batch)) > n && !c.largest.CompareAndSwap(n, int64(len(batch))); n = c.largest.Load() {
		}
		c.apply(batch)
	}
	c.mu.Lock()
	c.inflight--
	var next []*patchRequest
	if len(c.pending) > 0 {
		next = c.takeLocked()
	}
	c.mu.Unlock()
	if next != nil {
		go c.run(next)
	}
}

// apply runs batch as one transaction, on a context of its own so that no one request's end cancels the
// others, and answers each request. Operations are locked in key order, so two batches in the database at
// once cannot deadlock on them; a sort that keeps arrival order among the PATCHes of one operation.
//
// A statement that Postgres refuses (a constraint, a late deadline) aborts the transaction. The statements
// before it are then sent again as a batch of their own, and it goes first in the next one, where it is
// answered as it would be alone: so a refused PATCH refuses no other, and every answer is that of a
// transaction that committed or wrote nothing.
func (c *coalescer) apply(batch []*patchRequest) {
	slices.SortStableFunc(batch, func(a, b *patchRequest) int {
		if n := strings.Compare(a.tenant, b.tenant); n != 0 {
			return n
		}
		return bytes.Compare(a.id[:], b.id[:])
	})
	ctx, cancel := batchContext(batch)
	defer cancel()
	attempts := 0
	for segments := [][]*patchRequest{batch}; len(segments) > 0; {
		seg := dropGone(segments[0])
		segments = segments[1:]
		if len(seg) == 0 {
			continue
		}
		failed, err := c.store.applyBatch(ctx, seg)
		var pgErr *pgconn.PgError
		switch {
		case err == nil:
			answer(seg, nil)
		case errors.As(err, &pgErr) && retryableCode(pgErr.Code) && failed < len(seg):
			// Nothing committed: a statement failed before COMMIT ran.
			if attempts++; attempts < maxBatchAttempts {
				segments = append([][]*patchRequest{seg}, segments...)
			} else {
				answer(seg, mapError(err))
			}
		case pgErr != nil && failed == 0:
			answer(seg[:1], mapError(err)) // first after BEGIN: as alone
			if len(seg) > 1 {
				segments = append([][]*patchRequest{seg[1:]}, segments...)
			}
		case pgErr != nil && failed > 0 && failed < len(seg):
			segments = append([][]*patchRequest{seg[:failed], seg[failed:]}, segments...)
		case failed < 0 && pgconn.SafeToRetry(err) && attempts < maxBatchAttempts-1:
			attempts++ // nothing was sent
			segments = append([][]*patchRequest{seg}, segments...)
		default:
			if lostInFlight(err) {
				err = fmt.Errorf("%w: %w", ErrOutcomeUnknown, mapError(err))
			} else {
				err = mapError(err)
			}
			answer(seg, err)
		}
	}
}

// dropGone answers the requests of seg that have ended (nobody reads the answer), and returns the others. A
// request past its deadline would only make Postgres refuse its statement, and the batch go again without it.
func dropGone(seg []*patchRequest) []*patchRequest {
	return slices.DeleteFunc(seg, func(r *patchRequest) bool {
		if r.ctx.Err() == nil {
			return false
		}
		r.err = mapError(r.ctx.Err())
		close(r.done)
		return true
	})
}

// answer closes each request of seg, with err when the transaction did not commit.
func answer(seg []*patchRequest, err error) {
	for _, r := range seg {
		if err != nil {
			r.err = err
		}
		close(r.done)
	}
}

// retryableCode reports the errors after which a batch, which has then committed nothing, may simply be
// sent again: a deadlock with another transaction, or the connection's end.
func retryableCode(code string) bool {
	return code == pgerrcode.DeadlockDetected || code == pgerrcode.SerializationFailure ||
		code == pgerrcode.AdminShutdown || pgerrcode.IsConnectionException(code)
}

// batchContext bounds a batch by the latest deadline of its requests, or by none when one of them has none.
func batchContext(batch []*patchRequest) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, r := range batch {
		d, ok := r.ctx.Deadline()
		if !ok {
			return context.WithCancel(context.Background())
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(context.Background(), latest)
}

// targets are where a row of patchSQL goes.
func (r *patchRequest) targets() []any {
	return append([]any{&r.verdict, &r.oldStatus}, r.row.targets()...)
}

// applyBatch sends BEGIN, seg's statements and COMMIT as one pipeline, and records each statement's row in
// its request (a statement that finds no operation leaves ErrNotFound). On error it returns the index of the
// statement that failed (len(seg) for the COMMIT), or -1 when nothing ran.
func (s *Store) applyBatch(ctx context.Context, seg []*patchRequest) (int, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return -1, err
	}
	defer conn.Release()
	b := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(seg)+2)}
	b.Queue(beginSQL)
	for _, r := range seg {
		b.Queue(patchSQL, r.args...)
	}
	b.Queue(commitSQL)
	br := conn.SendBatch(ctx, b)
	defer func() {
		if s.onWrite != nil {
			s.onWrite()
		}
	}()
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return -1, err
	}
	for i, r := range seg {
		r.err = nil
		err := br.QueryRow().Scan(r.targets()...)
		if errors.Is(err, pgx.ErrNoRows) {
			r.err = ErrNotFound
			continue
		}
		if err != nil {
			_ = br.Close()
			return i, err
		}
	}
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return len(seg), err
	}
	if err := br.Close(); err != nil {
		return len(seg), err
	}
	return 0, nil
}

const (
	beginSQL  = `BEGIN`
	commitSQL = `COMMIT`
)

// CoalescingStats says what the write coalescer has done; all zero when coalescing is off.
func (s *Store) CoalescingStats() CoalescingStats {
	c := s.coalescer
	if c == nil {
		return CoalescingStats{}
	}
	c.mu.Lock()
	pending := len(c.pending)
	c.mu.Unlock()
	return CoalescingStats{Batches: c.batches.Load(), Patches: c.patches.Load(), Largest: c.largest.Load(), Pending: pending}
}

// CoalescingCollectors are the coalescer's series for /metrics: the batch sizes and the wait it adds; none
// when coalescing is off.
func (s *Store) CoalescingCollectors() []prometheus.Collector {
	if s.coalescer == nil {
		return nil
	}
	return []prometheus.Collector{s.coalescer.size, s.coalescer.wait}
}
