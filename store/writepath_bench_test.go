package store_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/caseops/caseops/migrations"
	"github.com/caseops/caseops/store"
	"github.com/caseops/caseops/store/storetest"
)

// BenchmarkWritePath measures what each migration adds to the cost of the service's writes. One lifecycle is
// a worker's whole life of an operation: create it running, report progress three times, finish it (five
// statements). There is one database per schema version, and the lifecycles alternate between them, so that
// a machine whose speed drifts (this one is shared) slows every version alike. Commits do not wait for the
// disk (synchronous_commit off), so that what the schema costs is not hidden behind fsync latency, which is
// the same for every version. GOMAXPROCS goroutines run lifecycles at once, in one tenant, so that
// contention on shared rows would show. It reports µs per lifecycle for each version.
//
//	go test -run '^$' -bench WritePath -benchtime 20000x ./store/
func BenchmarkWritePath(b *testing.B) {
	versions, stores := storesPerVersion(b)
	times := newVersionTimes(len(versions))
	audit := store.Audit{RequestID: "bench"}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for i := 0; pb.Next(); i++ {
			v := i % len(versions)
			s := stores[v]
			start := time.Now()
			zero := int32(0)
			op, err := s.Create(ctx, "bench", store.NewOperation{Status: store.StatusRunning, PercentProgress: &zero}, audit)
			if err != nil {
				b.Error(err)
				return
			}
			for _, progress := range []int32{25, 50, 75} {
				if _, _, err := s.Patch(ctx, "bench", op.ID, store.Patch{PercentProgress: store.Some(&progress)}, audit); err != nil {
					b.Error(err)
					return
				}
			}
			if _, _, err := s.Patch(ctx, "bench", op.ID, store.Patch{Status: store.Some(store.StatusSucceeded)}, audit); err != nil {
				b.Error(err)
				return
			}
			times.add(v, time.Since(start))
		}
	})
	times.report(b, versions, "lifecycle")
}

// BenchmarkProgressReport measures the hot path alone: a worker's PATCH of percentProgress onto one of 1,000
// running operations, alternating between the schema versions as BenchmarkWritePath does.
//
//	go test -run '^$' -bench ProgressReport -benchtime 50000x ./store/
func BenchmarkProgressReport(b *testing.B) {
	versions, stores := storesPerVersion(b)
	ids := make([][]uuid.UUID, len(versions))
	ctx := context.Background()
	audit := store.Audit{RequestID: "bench"}
	for v, s := range stores {
		for range 1000 {
			zero := int32(0)
			op, err := s.Create(ctx, "bench", store.NewOperation{Status: store.StatusRunning, PercentProgress: &zero}, audit)
			if err != nil {
				b.Fatal(err)
			}
			ids[v] = append(ids[v], op.ID)
		}
	}
	times := newVersionTimes(len(versions))
	var next atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := next.Add(1)
			v := int(n) % len(versions)
			progress := int32(n % 100)
			start := time.Now()
			if _, _, err := stores[v].Patch(ctx, "bench", ids[v][int(n/int64(len(versions)))%1000], store.Patch{PercentProgress: store.Some(&progress)}, audit); err != nil {
				b.Error(err)
				return
			}
			times.add(v, time.Since(start))
		}
	})
	times.report(b, versions, "patch")
}

// oldestWritableVersion is the oldest schema the write statements run on: they call case_operation_write_in_time
// (migration 00008) and read case_operation_repeatable_requests (00009).
const oldestWritableVersion = 9

// storesPerVersion makes one empty database per schema version, migrated up to it.
func storesPerVersion(b *testing.B) ([]int64, []*store.Store) {
	var versions []int64 // every schema version this binary embeds that its writes run on
	for v := int64(oldestWritableVersion); v <= migrations.LatestVersion(); v++ {
		versions = append(versions, v)
	}
	stores := make([]*store.Store, len(versions))
	for i, version := range versions {
		cfg, err := pgxpool.ParseConfig(storetest.NewEmptyDatabase(b))
		if err != nil {
			b.Fatal(err)
		}
		cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
		pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(pool.Close)
		db := stdlib.OpenDBFromPool(pool)
		p, err := migrations.NewProvider(db, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.UpTo(context.Background(), version); err != nil {
			b.Fatal(err)
		}
		db.Close()
		stores[i] = store.New(pool)
	}
	return versions, stores
}

// versionTimes adds up, from several goroutines, the time spent on each schema version and how often.
type versionTimes struct {
	mu    sync.Mutex
	spent []time.Duration
	runs  []int
}

func newVersionTimes(versions int) *versionTimes {
	return &versionTimes{spent: make([]time.Duration, versions), runs: make([]int, versions)}
}

func (t *versionTimes) add(version int, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.spent[version] += d
	t.runs[version]++
}

// report prints the mean µs per unit for each version.
func (t *versionTimes) report(b *testing.B, versions []int64, unit string) {
	for i, version := range versions {
		if t.runs[i] > 0 {
			b.ReportMetric(float64(t.spent[i].Microseconds())/float64(t.runs[i]), fmt.Sprintf("µs/%s-to-%d", unit, version))
		}
	}
}
