package store_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/google/uuid"

	"github.com/caseops/caseops/store"
	"github.com/caseops/caseops/store/storetest"
)

// BenchmarkPatch is the store's part of a progress PATCH: one statement that locks the row, checks the
// preconditions, writes the new progress and appends the history event, from several goroutines at once;
// coalesced (the default) and one transaction per PATCH.
func BenchmarkPatch(b *testing.B) {
	b.Run("coalesced", func(b *testing.B) { benchmarkPatch(b, store.DefaultCoalescing) })
	b.Run("alone", func(b *testing.B) { benchmarkPatch(b, store.Coalescing{Off: true}) })
}

func benchmarkPatch(b *testing.B, c store.Coalescing) {
	pool, err := store.Connect(context.Background(), storetest.NewDatabase(b), store.PoolConfig{MaxConns: 16})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	s := store.NewWith(pool, c)
	ctx := context.Background()
	ids := make([]uuid.UUID, 500)
	for i := range ids {
		op, err := s.Create(ctx, "bench", store.NewOperation{Status: store.StatusRunning}, audit)
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = op.ID
	}
	if err := store.Warm(ctx, pool, 16); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(8) // 16 goroutines on two cores, as the pool's 16 connections
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
		for pb.Next() {
			progress := int32(rng.IntN(101))
			p := store.Patch{PercentProgress: store.Some(&progress)}
			if _, _, err := s.Patch(ctx, "bench", ids[rng.IntN(len(ids))], p, audit); err != nil {
				b.Fatal(err)
			}
		}
	})
	if st := s.CoalescingStats(); st.Batches > 0 {
		b.ReportMetric(float64(st.Patches)/float64(st.Batches), "patches/batch")
	}
}
