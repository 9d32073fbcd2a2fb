package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caseops/caseops/cmd/caseops/seed"
	"github.com/caseops/caseops/store"
)

// runSeed fills a database with generated operations and their history, with COPY, for load tests and reports.
func runSeed(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	s := newSettings("seed", "seed --count N [--tenants T] [flags]", getenv, stdout, stderr).NoArguments()
	dbURL := databaseURLFlag(s)
	count := s.Int("count", "CASEOPS_SEED_COUNT", 0, "how many operations to generate (required)")
	tenants := s.Int("tenants", "CASEOPS_SEED_TENANTS", 10, "how many tenants share them, a few large and many small")
	workers := s.Int("workers", "CASEOPS_SEED_WORKERS", 3, "concurrent COPY transactions")
	batch := s.Int("batch", "CASEOPS_SEED_BATCH", 20000, "operations per transaction")
	randomSeed := s.Int("random-seed", "CASEOPS_SEED_RANDOM_SEED", 1, "seed of the generator; the same seed and count make the same operations")
	if err := s.Parse(args); err != nil {
		return err
	}
	switch {
	case *count < 1:
		return s.Errorf("%s must be at least 1, not %d", s.Source("count"), *count)
	case *tenants < 1 || *tenants > 1000:
		return s.Errorf("%s must be from 1 to 1000, not %d", s.Source("tenants"), *tenants)
	case *workers < 1 || *workers > 64:
		return s.Errorf("%s must be from 1 to 64, not %d", s.Source("workers"), *workers)
	case *batch < 1 || *batch > 1_000_000:
		return s.Errorf("%s must be from 1 to 1000000, not %d", s.Source("batch"), *batch)
	}

	if _, err := store.EnsureDatabase(ctx, *dbURL); err != nil {
		return err
	}
	pool, err := store.Connect(ctx, *dbURL, store.PoolConfig{MaxConns: int32(*workers)})
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := applyMigrations(ctx, pool, newLogger("text", io.Discard)); err != nil {
		return err
	}
	// A seed that was killed (not stopped) before it built the indexes it dropped left them listed as owed:
	// build them before loading anything, so that the primary key checks what the earlier load wrote.
	err = store.New(pool).FinishDeferredIndexes(ctx, func(index string, took time.Duration) {
		fmt.Fprintf(stderr, "seed: index %s, dropped by an earlier load that did not finish, built in %s\n", index, took.Round(100*time.Millisecond))
	})
	if err != nil {
		return err
	}
	// The generator's garbage is short-lived and the heap small: collect less often, and leave the CPU to Postgres.
	defer debug.SetGCPercent(debug.SetGCPercent(800))
	gen := seed.New(*count, *tenants, time.Now(), uint64(*randomSeed))
	loader, err := store.New(pool).NewBulkLoader(ctx)
	if err != nil {
		return err
	}
	defer loader.Finish(ctx, nil) // rebuilds dropped indexes even when the load fails

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	starts := make(chan int)
	go func() {
		defer close(starts)
		for from := 0; from < *count; from += *batch {
			select {
			case starts <- from:
			case <-ctx.Done():
				return
			}
		}
	}()
	var opsDone, eventsDone atomic.Int64
	var tenantsMu sync.Mutex
	tenantsUsed := map[string]bool{} // a small count may not reach every tenant
	var wg sync.WaitGroup
	begin := time.Now()
	for range *workers {
		wg.Go(func() {
			var ops []store.BulkOperation
			var events []store.BulkEvent
			for from := range starts {
				ops, events = gen.Batch(from, min(from+*batch, *count), ops[:0], events[:0])
				if err := loader.Load(ctx, ops, events); err != nil {
					if errors.Is(err, store.ErrAlreadyExists) {
						// The same seed makes the same ids: this database holds an earlier seed's operations.
						err = fmt.Errorf("%w (the database already holds operations made with --random-seed %d: use another, or an empty database)", err, *randomSeed)
					}
					cancel(fmt.Errorf("load operations %d to %d: %w", from, from+len(ops), err))
					return
				}
				tenantsMu.Lock()
				for i := range ops {
					tenantsUsed[ops[i].TenantID] = true
				}
				tenantsMu.Unlock()
				opsDone.Add(int64(len(ops)))
				eventsDone.Add(int64(len(events)))
			}
		})
	}
	stopProgress := showProgress(stderr, isTerminal(stderr), *count, &opsDone, &eventsDone, begin)
	wg.Wait()
	loaded := time.Since(begin)
	stopProgress()
	ops, events := opsDone.Load(), eventsDone.Load()
	stopped := context.Cause(ctx)
	if stopped != nil {
		// Each batch is one transaction: what was committed stays, whole, and nothing else was written.
		fmt.Fprintf(stderr, "seed: stopped (%v); %d operations and %d history events were loaded, in whole batches\n", stopped, ops, events)
	}
	indexes, built := loader.DeferredIndexes(), 0
	if indexes > 0 {
		fmt.Fprintf(stderr, "seed: building %d indexes and analyzing...\n", indexes)
	}
	err = loader.Finish(ctx, func(index string, took time.Duration) {
		built++
		fmt.Fprintf(stderr, "seed: index %s built in %s (%d of %d)\n", index, took.Round(100*time.Millisecond), built, indexes)
	})
	if err != nil || stopped != nil {
		return errors.Join(stopped, err)
	}
	elapsed := time.Since(begin)
	fmt.Fprintf(stdout, "seeded %d operations with %d history events in %d tenants in %s (COPY %s, indexes and ANALYZE %s): "+
		"%.0f operations/s, %.0f rows/s\n",
		ops, events, len(tenantsUsed), elapsed.Round(time.Millisecond), loaded.Round(time.Millisecond),
		(elapsed - loaded).Round(time.Millisecond), float64(ops)/elapsed.Seconds(), float64(ops+events)/elapsed.Seconds())
	return nil
}

// isTerminal reports whether w is a terminal, where a line can be redrawn in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// showProgress reports rows done, rows per second and the time left: on a terminal it redraws one line twice
// a second; elsewhere (a log file, a CI job) it writes a line every ten seconds, so the log stays readable.
// The returned function writes the final figures and stops.
func showProgress(w io.Writer, interactive bool, total int, ops, events *atomic.Int64, begin time.Time) func() {
	every := 10 * time.Second
	if interactive {
		every = 500 * time.Millisecond
	}
	draw := func(last bool) {
		done, elapsed := ops.Load(), time.Since(begin).Seconds()
		rate := float64(done) / max(elapsed, 1e-9)
		eta := "-"
		if rate > 0 {
			eta = (time.Duration(float64(int64(total)-done)/rate) * time.Second).Round(time.Second).String()
		}
		line := fmt.Sprintf("seed: %d/%d operations (%3.0f%%) + %d events  %.0f operations/s  %.0f rows/s  ETA %s",
			done, total, 100*float64(done)/float64(total), events.Load(), rate,
			float64(done+events.Load())/max(elapsed, 1e-9), eta)
		switch {
		case !interactive:
			line += "\n"
		case last:
			line = "\r" + line + "   \n" // the spaces cover what is left of a longer line before it
		default:
			line = "\r" + line + "   "
		}
		io.WriteString(w, line)
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				draw(false)
			case <-stop:
				draw(true)
				return
			}
		}
	}()
	return func() { close(stop); <-stopped }
}
