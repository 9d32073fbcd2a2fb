package handlers_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/caseops/caseops/handlers"
	"github.com/caseops/caseops/store"
	"github.com/caseops/caseops/store/storetest"
)

// A thousand HTTP clients open a stream and stop reading, over connections whose receive buffers fill after a
// few events, while one client reads. Every stuck stream is dropped (its write deadline, or the watcher giving up
// on it), the server's heap stays within bounds that do not grow with the changes, and the reader gets every
// change in order.
func TestStreamDropsClientsThatStopReading(t *testing.T) {
	t.Parallel()
	const stuck, changes = 1000, 200
	pool := storetest.NewPool(t)
	st := store.New(pool)
	w := startWatcher(t, st)
	s := newServerListening(t, st, pool, handlers.Config{ServeMetrics: true, Streams: w},
		func(ln net.Listener) net.Listener { return smallSendBuffers{ln} })

	// Each stuck client's socket takes a few KiB and is never read, so the server's writes to it soon block.
	stuckTransport := &http.Transport{
		DialContext: (&net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
			var err error
			c.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
			return err
		}}).DialContext,
		ReadBufferSize: 512,
	}
	defer stuckTransport.CloseIdleConnections()
	stuckClient := &http.Client{Transport: stuckTransport}

	reader := s.openStream("/beta/tagOperations/stream")
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	responses := make([]*http.Response, stuck)
	for i := range responses {
		req, err := http.NewRequestWithContext(ctx, "GET", s.url+"/beta/tagOperations/stream?$select=id,status,percentProgress", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+s.token)
		res, err := stuckClient.Do(req)
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		if res.StatusCode != 200 {
			t.Fatalf("stream %d: status %d", i, res.StatusCode)
		}
		responses[i] = res // never read
	}
	defer func() {
		for _, res := range responses {
			if res != nil {
				res.Body.Close()
			}
		}
	}()
	if got := streamsOpen(t, s); got != stuck+1 {
		t.Fatalf("caseops_streams_open = %d with %d streams open", got, stuck+1)
	}
	var open runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&open)

	// Each create waits for its event, so that each is a round of its own and every stuck stream is owed it.
	for i := range changes {
		r := s.do("POST", "/beta/tagOperations", `{"status": "running", "percentProgress": `+strconv.Itoa(i%100)+`}`)
		if r.status != 201 {
			t.Fatalf("create %d: %d %s", i, r.status, r.body)
		}
		id := r.json(t)["id"]
		if ev := reader.next(); ev.data["id"] != id {
			t.Fatalf("change %d: the reader got %v, want %v", i, ev.data["id"], id)
		}
	}
	var owed runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&owed)
	stillOpen := streamsOpen(t, s)
	// The write deadline (10 s) ends a stream whose client reads nothing; the watcher gives up on it sooner, when
	// its backlog fills.
	waitFor(t, 60*time.Second, func() bool { return streamsOpen(t, s) == 1 }, "the stuck streams to be dropped")
	reader.quiet("after the last change")
	for i, res := range responses {
		res.Body.Close()
		responses[i] = nil
	}
	stuckTransport.CloseIdleConnections()
	var after runtime.MemStats
	runtime.GC()
	runtime.GC() // the second empties the sync.Pools that the first moved to their victim caches
	runtime.ReadMemStats(&after)

	mib := func(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	t.Logf("heap: %s before; %s with %d streams open (clients included); %s after %d changes none of them read, "+
		"%d streams still open; %s once they were dropped and the clients closed",
		mib(before.HeapAlloc), mib(open.HeapAlloc), stuck, mib(owed.HeapAlloc), changes, stillOpen, mib(after.HeapAlloc))
	// A stuck stream holds its socket's buffers and at most its backlog of pointers to changes shared by every
	// stream, never a copy of every change it is owed (200 events of about 500 bytes for each of 1,000 streams
	// would be 100 MiB). The heap is the whole test binary's, other tests running beside this one included, so
	// the bound leaves room for them.
	if grown := int64(owed.HeapAlloc) - int64(open.HeapAlloc); grown > 32<<20 {
		t.Errorf("the heap grew by %d MiB over %d changes that %d streams did not read", grown>>20, changes, stuck)
	}
	// Once dropped, nothing of the stuck streams is left to hold memory.
	if n := w.Subscribers(); n != 1 {
		t.Errorf("the watcher has %d subscribers, want the reader alone", n)
	}
}

var streamsOpenLine = regexp.MustCompile(`(?m)^caseops_streams_open (\d+)$`)

// streamsOpen reads caseops_streams_open from /metrics.
func streamsOpen(t *testing.T, s *testServer) int {
	t.Helper()
	r := s.do("GET", "/metrics", "", "Authorization", "")
	m := streamsOpenLine.FindSubmatch(r.body)
	if m == nil {
		t.Fatalf("/metrics has no caseops_streams_open:\n%.2000s", r.body)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// smallSendBuffers gives each connection it accepts a send buffer of a few KiB, as a congested network would: a
// client that stops reading blocks the server's writes after a few events, not after the megabytes a loopback
// connection's buffers grow to.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		if err := tc.SetWriteBuffer(4096); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, err
}
