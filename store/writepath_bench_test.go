package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/caseops/caseops/migrations"
	"github.com/caseops/caseops/store"
	"github.com/caseops/caseops/store/storetest"
)

// BenchmarkWritePath measures what each migration adds to the cost of the service's writes: one iteration is a
// worker's whole life of an operation (create it running, report progress three times, finish it), five
// statements, run from GOMAXPROCS goroutines in one tenant so that contention on shared rows would show.
// Commits do not wait for the disk here (synchronous_commit off), so that what the schema costs is not hidden
// behind fsync latency, which is the same for every version.
//
//	go test -run '^$' -bench WritePath -benchtime 2000x ./store/
func BenchmarkWritePath(b *testing.B) {
	for _, version := range []int64{1, 2, 3, 4} {
		b.Run(fmt.Sprintf("migrations-to-%d", version), func(b *testing.B) {
			cfg, err := pgxpool.ParseConfig(storetest.NewEmptyDatabase(b))
			if err != nil {
				b.Fatal(err)
			}
			cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
			pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer pool.Close()
			db := stdlib.OpenDBFromPool(pool)
			p, err := migrations.NewProvider(db, nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := p.UpTo(context.Background(), version); err != nil {
				b.Fatal(err)
			}
			db.Close()
			s := store.New(pool)
			audit := store.Audit{RequestID: "bench"}
			b.SetParallelism(1) // GOMAXPROCS goroutines; the machine has 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
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
				}
			})
		})
	}
}
