package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const (
	// connectBackoffFirst is the wait after the first failed connection attempt; each further failure doubles it.
	connectBackoffFirst = 50 * time.Millisecond
	// connectBackoffMax caps the wait, so the pool notices a database that is back within about a second.
	connectBackoffMax = time.Second
)

// connectBackoff spaces out the pool's connection attempts while they fail. pgxpool opens a connection for
// every request that finds none idle, so with the database away it dialed hundreds of times a second. After
// a failure, attempts that come before the next one is due fail at once, without dialing: a request is still
// answered promptly, and the next attempt due probes the database. One attempt that connects ends the backoff.
type connectBackoff struct {
	mu       sync.Mutex
	failures int       // consecutive failed attempts
	next     time.Time // while failures > 0, no attempt starts before this
}

// backoffError is the answer to an attempt made before the next one is due.
type backoffError struct {
	failures int
	wait     time.Duration
}

func (e *backoffError) Error() string {
	return fmt.Sprintf("the last %d attempts to connect failed; the next is due in %s", e.failures, e.wait.Round(time.Millisecond))
}

// delay is the wait after n consecutive failures: doubling from connectBackoffFirst up to connectBackoffMax,
// each a random time between half of that and all of it, so that replicas do not dial in step.
func delay(n int) time.Duration {
	d := connectBackoffMax
	if n < 16 && connectBackoffFirst<<(n-1) < d {
		d = connectBackoffFirst << (n - 1)
	}
	return d/2 + rand.N(d/2+1)
}

// beforeConnect is the pool's BeforeConnect: it refuses an attempt that is not due yet, and has the attempt
// report how it ends through cc, the copy of the configuration that it connects with.
func (b *connectBackoff) beforeConnect(_ context.Context, cc *pgx.ConnConfig) error {
	b.mu.Lock()
	if b.failures > 0 {
		now := time.Now()
		if now.Before(b.next) {
			err := &backoffError{failures: b.failures, wait: b.next.Sub(now)}
			b.mu.Unlock()
			return err
		}
		b.next = now.Add(delay(b.failures)) // this attempt is the probe; others wait for its outcome
	}
	b.mu.Unlock()

	a := &connectAttempt{backoff: b}
	dial := cc.DialFunc
	cc.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if a.isEstablished() {
			return dial(ctx, network, addr) // a cancel request of the connection, later: not an attempt
		}
		c, err := dial(ctx, network, addr)
		if err != nil {
			b.failed()
			return nil, err
		}
		return &attemptConn{Conn: c, attempt: a}, nil
	}
	validate := cc.ValidateConnect
	cc.ValidateConnect = func(ctx context.Context, pgConn *pgconn.PgConn) error {
		a.established()
		if validate != nil {
			return validate(ctx, pgConn)
		}
		return nil
	}
	return nil
}

func (b *connectBackoff) failed() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures++
	b.next = time.Now().Add(delay(b.failures))
}

func (b *connectBackoff) succeeded() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures = 0
}

// connectAttempt is one connection the pool opens, tried on one or more addresses in turn.
type connectAttempt struct {
	backoff *connectBackoff
	mu      sync.Mutex
	done    bool // the server accepted the connection: authenticated and ready for queries
}

func (a *connectAttempt) established() {
	a.mu.Lock()
	a.done = true
	a.mu.Unlock()
	a.backoff.succeeded()
}

func (a *connectAttempt) isEstablished() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.done
}

// attemptConn is a dialed connection of an attempt: closed before the server accepted it (refused during
// startup, dropped by a proxy, timed out), it counts as a failure.
type attemptConn struct {
	net.Conn
	attempt *connectAttempt
	once    sync.Once
}

func (c *attemptConn) Close() error {
	c.once.Do(func() {
		if !c.attempt.isEstablished() {
			c.attempt.backoff.failed()
		}
	})
	return c.Conn.Close()
}
