package store_test

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/caseops/caseops/store"
)

// Subscribers that stop reading are dropped once their buffer is full, so a thousand of them hold the
// watcher's memory to their buffers, while one that reads gets every change.
func TestWatcherDropsSubscribersThatStopReading(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	const buffer, stuck, changes = 4, 1000, 40 // each create its own round: well over 4 batches
	w := store.NewWatcher(s, slog.New(slog.NewTextHandler(io.Discard, nil)), buffer)
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	defer func() { stop(); <-done }()

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	subs := make([]*store.Subscription, stuck)
	for i := range subs {
		sub, err := w.Subscribe(ctx, "t", nil)
		if err != nil {
			t.Fatal(err)
		}
		subs[i] = sub
	}
	reader, err := w.Subscribe(ctx, "t", nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 1000)
	go func() {
		for batch := range reader.C {
			for _, c := range batch {
				seen <- c.ID.String()
			}
		}
	}()
	// Each create waits for its event, so that each is a round of its own: a batch for every subscriber.
	for i := range changes {
		op, err := s.Create(ctx, "t", store.NewOperation{}, audit)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case id := <-seen:
			if id != op.ID.String() {
				t.Fatalf("change %d: the reader got %s, want %s", i, id, op.ID)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("the reading subscriber did not get change %d", i)
		}
	}
	for i, sub := range subs {
		if !sub.Dropped() {
			t.Fatalf("subscriber %d, which never read, is still subscribed", i)
		}
	}
	if n := w.Subscribers(); n != 1 {
		t.Errorf("%d subscribers left, want the one that reads", n)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	// Each dropped subscriber kept at most its buffer of changes until it was dropped, and nothing after.
	t.Logf("heap grew %d KiB with %d subscribers that stopped reading (buffers of %d)", grown>>10, stuck, buffer)
	if grown > 64<<20 {
		t.Errorf("heap grew %d MiB", grown>>20)
	}
	reader.Close()
}
