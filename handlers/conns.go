package handlers

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
)

// DefaultMaxConns bounds the connections a listener keeps open unless ListenerConfig says otherwise.
// An idle keep-alive connection costs the server some 20 to 60 KiB, so this is tens of MiB at most.
const DefaultMaxConns = 1024

const (
	// maxShedding bounds the connections being answered 503 at once; past it, excess connections are
	// closed without an answer, so a flood costs a bounded amount of memory.
	maxShedding = 64
	// shedTimeout bounds the time an excess connection is kept to read its request and be answered.
	shedTimeout = time.Second
	// shedLogEvery spaces the warnings that connections are being shed.
	shedLogEvery = 10 * time.Second
)

// ListenerConfig says how a Listener guards the connections it accepts.
type ListenerConfig struct {
	// MaxConns bounds the connections open at once; 0 means DefaultMaxConns.
	MaxConns int
	Logger   *slog.Logger
}

// Listener is a net.Listener that guards the HTTP connections it accepts, at the layer that sees the bytes
// a client sends before net/http has interpreted them:
//   - at most MaxConns are open at once: at the cap an idle keep-alive connection is closed to make room, and
//     when none is idle the new connection is answered 503 with Retry-After and closed;
//   - a request whose framing is ambiguous (Content-Length with Transfer-Encoding) is refused and nothing
//     after it on its connection is read (see framing);
//   - at shutdown, connections whose request is not being worked on are closed at once (see StopUnworked).
//
// Attach it to the http.Server that serves it, whose handler is a NewServer.
type Listener struct {
	net.Listener
	max      int
	logger   *slog.Logger
	shedding chan struct{}

	mu           sync.Mutex
	conns        map[*trackedConn]struct{}
	shuttingDown bool
	peak         int // the most connections open since memory was last given back
	releasing    bool
	lastShedLog  time.Time
	shed         int // connections shed since the last warning
}

// NewListener guards the connections ln accepts.
func NewListener(ln net.Listener, cfg ListenerConfig) *Listener {
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Listener{Listener: ln, max: cfg.MaxConns, logger: cfg.Logger,
		shedding: make(chan struct{}, maxShedding), conns: map[*trackedConn]struct{}{}}
}

// Attach sets srv's connection hooks, which the Listener needs to know each connection's state.
func (l *Listener) Attach(srv *http.Server) {
	connState, connContext := srv.ConnState, srv.ConnContext
	srv.ConnState = func(nc net.Conn, s http.ConnState) {
		if c, ok := nc.(*trackedConn); ok {
			c.mu.Lock()
			c.state = s
			c.mu.Unlock()
		}
		if connState != nil {
			connState(nc, s)
		}
	}
	srv.ConnContext = func(ctx context.Context, nc net.Conn) context.Context {
		if connContext != nil {
			ctx = connContext(ctx, nc)
		}
		if c, ok := nc.(*trackedConn); ok {
			ctx = context.WithValue(ctx, connKey{}, c)
		}
		return ctx
	}
}

// Open is the number of connections open now.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// Accept returns the next connection within the cap, shedding the ones past it.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		raw, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if c := l.admit(raw); c != nil {
			return c, nil
		}
	}
}

func (l *Listener) admit(raw net.Conn) *trackedConn {
	l.mu.Lock()
	if l.shuttingDown {
		l.mu.Unlock()
		raw.Close()
		return nil
	}
	if len(l.conns) >= l.max {
		idle := l.idleConn()
		if idle == nil {
			l.mu.Unlock()
			l.shedConn(raw)
			return nil
		}
		// An idle connection holds memory and no work: its client reconnects when it needs to, as it does
		// after any idle timeout.
		delete(l.conns, idle)
		l.mu.Unlock()
		idle.Close()
		l.mu.Lock()
	}
	c := &trackedConn{Conn: raw, l: l, state: http.StateNew}
	l.conns[c] = struct{}{}
	l.peak = max(l.peak, len(l.conns))
	l.mu.Unlock()
	return c
}

// idleConn returns a connection that waits for its next request, or nil.
func (l *Listener) idleConn() *trackedConn {
	for c := range l.conns {
		c.mu.Lock()
		idle := c.state == http.StateIdle
		c.mu.Unlock()
		if idle {
			return c
		}
	}
	return nil
}

// shedConn answers a connection past the cap with 503 and closes it, or closes it at once when too many
// are being answered already.
func (l *Listener) shedConn(raw net.Conn) {
	l.mu.Lock()
	l.shed++
	if now := time.Now(); now.Sub(l.lastShedLog) >= shedLogEvery {
		l.logger.Warn("too many open connections: answering new ones 503", "max-conns", l.max, "shed", l.shed)
		l.lastShedLog, l.shed = now, 0
	}
	l.mu.Unlock()
	select {
	case l.shedding <- struct{}{}:
		go func() {
			defer func() { <-l.shedding }()
			answerOverloaded(raw)
		}()
	default:
		raw.Close()
	}
}

// answerOverloaded reads the request (to echo its client-request-id, and so that closing does not reset
// the connection under the answer), answers 503 in the Graph error shape and closes the connection.
func answerOverloaded(raw net.Conn) {
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(shedTimeout))
	clientRequestID := ""
	if req, err := http.ReadRequest(bufio.NewReader(io.LimitReader(raw, DefaultMaxHeaderBytes))); err == nil {
		clientRequestID = req.Header.Get("client-request-id")
	}
	v := newRequestIDs(clientRequestID)
	body, _ := json.Marshal(errorBody{Error: errorJSON{
		Code:    errorCode(http.StatusServiceUnavailable),
		Message: "The service has too many open connections; retry after a few seconds.",
		InnerError: innerErrorJSON{Date: time.Now().UTC().Format(time.RFC3339),
			RequestID: v.requestID, ClientRequestID: v.clientRequestID},
	}})
	_, err := fmt.Fprintf(raw, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"+
		"Content-Length: %d\r\nRetry-After: %d\r\nRequest-Id: %s\r\nClient-Request-Id: %s\r\nConnection: close\r\n\r\n%s",
		len(body), retryAfterSeconds, v.requestID, v.clientRequestID, body)
	if err != nil {
		return
	}
	if cw, ok := raw.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(raw, 64<<10)) // until the client closes its end, or the deadline
}

// forget drops a closed connection and, once a burst of connections is over, gives their memory back to
// the operating system: Go's runtime would otherwise keep it for minutes on a server that is now idle.
func (l *Listener) forget(c *trackedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
	if !l.releasing && l.peak >= max(16, l.max/4) && len(l.conns) <= l.peak/4 {
		l.releasing = true
		time.AfterFunc(time.Second, func() {
			runtime.GC() // the connections' buffers wait in sync.Pools, which a collection only empties on its second pass
			debug.FreeOSMemory()
			l.mu.Lock()
			l.releasing, l.peak = false, len(l.conns)
			l.mu.Unlock()
		})
	}
}

// StopUnworked begins a shutdown: new connections are closed as they come, connections without a request
// (idle, or still sending their request's headers) are closed at once, and a request whose handler is still
// reading its body, or has answered but whose body is still arriving, is stopped (answered 503 when it can
// be). Only requests whose handlers are working past their bodies go on, for the server's Shutdown to await.
func (l *Listener) StopUnworked() {
	l.mu.Lock()
	l.shuttingDown = true
	conns := make([]*trackedConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.stopUnlessWorking()
	}
}

type connKey struct{}

// requestPhase is how far the handler of a connection's current request has come.
type requestPhase int

const (
	phaseNone     requestPhase = iota // no request has reached the handler yet
	phaseWorking                      // the handler runs, and is not waiting for its body
	phaseReading                      // the handler waits for bytes of its body
	phaseAnswered                     // the handler has returned
)

// trackedConn is one accepted connection.
type trackedConn struct {
	net.Conn
	l         *Listener
	closeOnce sync.Once
	stopped   atomic.Bool // nothing more is read: the connection closes after its current answer

	frameMu sync.Mutex
	framing framing

	mu          sync.Mutex
	state       http.ConnState
	phase       requestPhase
	bodyDone    bool // the current request's body has been read to its end, or it has none
	interrupted bool // a shutdown stopped the current request before its handler got past its body

	requests int // requests that reached the handler; only the connection's serving goroutine counts them
}

func (c *trackedConn) Read(p []byte) (int, error) {
	if c.stopped.Load() {
		return 0, io.EOF
	}
	n, err := c.Conn.Read(p)
	c.frameMu.Lock()
	k := c.framing.feed(p[:n])
	c.frameMu.Unlock()
	if k < n {
		c.stopped.Store(true)
		if k == 0 {
			return 0, io.EOF
		}
		return k, nil
	}
	return n, err
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() { c.l.forget(c) })
	return err
}

// fault returns the number of the request whose framing was refused (0: none) and why.
func (c *trackedConn) fault() (int, string) {
	c.frameMu.Lock()
	defer c.frameMu.Unlock()
	return c.framing.faulty, c.framing.fault
}

func (c *trackedConn) stopUnlessWorking() {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.state == http.StateNew || c.state == http.StateIdle:
		c.Conn.Close()
	case c.state == http.StateActive && (c.phase == phaseReading || (c.phase == phaseAnswered && !c.bodyDone)):
		c.interrupted = true
		c.stopped.Store(true)
		_ = c.Conn.SetReadDeadline(time.Now()) // wakes a read that waits for the client
	}
}

// begin records that a request reached the handler; false means a shutdown has already stopped it.
func (c *trackedConn) begin(hasBody bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.phase, c.bodyDone = phaseWorking, !hasBody
	return !c.interrupted
}

// end records that the handler returned, and reports whether a shutdown stopped the request meanwhile.
func (c *trackedConn) end() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.phase = phaseAnswered
	if c.interrupted && !c.bodyDone {
		_ = c.Conn.SetReadDeadline(time.Now()) // net/http would otherwise wait for the rest of the body
	}
	return c.interrupted
}

// watchedBody is a request body that tells its connection when the handler waits for it.
type watchedBody struct {
	io.ReadCloser
	c *trackedConn
}

var errShuttingDown = &Error{Status: http.StatusServiceUnavailable, RetryAfter: retryAfterSeconds,
	Message: "The service is shutting down; retry the request."}

func (b *watchedBody) Read(p []byte) (int, error) {
	c := b.c
	c.mu.Lock()
	if c.interrupted {
		c.mu.Unlock()
		return 0, errShuttingDown
	}
	c.phase = phaseReading
	c.mu.Unlock()

	n, err := b.ReadCloser.Read(p)

	c.mu.Lock()
	defer c.mu.Unlock()
	c.phase = phaseWorking
	if err == io.EOF {
		c.bodyDone = true
	}
	if c.interrupted {
		return n, errShuttingDown
	}
	return n, err
}

// guardConnection refuses a request whose framing its connection refused, and one that a shutdown stopped;
// both answers close the connection. Requests served without a Listener pass untouched.
func guardConnection(next echo.HandlerFunc) echo.HandlerFunc {
	return func(ec echo.Context) error {
		r := ec.Request()
		c, ok := r.Context().Value(connKey{}).(*trackedConn)
		if !ok {
			return next(ec)
		}
		c.requests++
		if faulty, fault := c.fault(); faulty > 0 && c.requests >= faulty {
			ec.Response().Header().Set("Connection", "close")
			return badRequest("", fault)
		}
		hasBody := r.Body != nil && r.Body != http.NoBody
		if !c.begin(hasBody) {
			ec.Response().Header().Set("Connection", "close")
			return errShuttingDown
		}
		if hasBody {
			r.Body = &watchedBody{ReadCloser: r.Body, c: c}
		}
		err := next(ec)
		if c.end() && !ec.Response().Committed {
			ec.Response().Header().Set("Connection", "close")
			return errShuttingDown
		}
		return err
	}
}
