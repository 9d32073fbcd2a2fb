package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/caseops/caseops/store"
)

// Schema tells readiness which version the database's schema is at.
type Schema interface {
	SchemaVersion(ctx context.Context) (int64, error)
}

const (
	// readinessTimeout bounds the probe's one round trip: a database slower than this is not ready.
	readinessTimeout = time.Second
	// readinessCacheFor lets any number of probes and load balancers share one check a second.
	readinessCacheFor = time.Second
	// readinessHold is how long the checks must disagree with the verdict before it changes: a pool that
	// another client starves now and then fails one check and passes the next, and a load balancer must not
	// pull a working replica out for that.
	readinessHold = 2 * time.Second
)

type statusJSON struct {
	Status        string `json:"status"`
	SchemaVersion int64  `json:"schemaVersion,omitempty"`
}

// handleHealth answers while the process serves HTTP; it never touches the database, so an outage
// does not get the service restarted.
func handleHealth() echo.HandlerFunc {
	return func(c echo.Context) error {
		return writeJSON(c, http.StatusOK, statusJSON{Status: "ok"})
	}
}

// readiness decides whether the service can answer API requests: Postgres answers, and its schema is
// the version this binary expects.
type readiness struct {
	logger   *slog.Logger
	schema   Schema
	expected int64

	mu        sync.Mutex
	checkedAt time.Time
	decided   bool   // a verdict has been given: the first check's stands at once
	notReady  *Error // the verdict; nil: ready
	// disagreeingSince is when the checks began to disagree with the verdict; zero while they agree.
	disagreeingSince time.Time
}

func (r *readiness) handle() echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := r.check(c.Request().Context()); err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, statusJSON{Status: "ok", SchemaVersion: r.expected})
	}
}

// check returns why the service is not ready, or nil; it asks the database at most once per readinessCacheFor,
// and changes its verdict only when the checks have disagreed with it for readinessHold.
func (r *readiness) check(ctx context.Context) *Error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checkedAt) < readinessCacheFor {
		return r.notReady
	}
	// The client hanging up must not be remembered as an outage.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readinessTimeout)
	defer cancel()
	var reason string
	version, err := r.schema.SchemaVersion(ctx)
	switch {
	case errors.Is(err, store.ErrUnavailable):
		reason = "the database is unreachable"
	case err != nil:
		reason = "the database did not answer the readiness check"
	case version != r.expected:
		reason = "the database schema is at version " + strconv.FormatInt(version, 10) +
			", but this binary expects version " + strconv.FormatInt(r.expected, 10)
	}
	var found *Error
	if reason != "" {
		found = &Error{Status: http.StatusServiceUnavailable, RetryAfter: retryAfterSeconds,
			Message: "The service is not ready: " + reason + "."}
	}
	was := r.notReady
	r.checkedAt = time.Now()
	switch {
	case !r.decided || (found == nil) == (was == nil):
		r.decided, r.notReady, r.disagreeingSince = true, found, time.Time{}
	case r.disagreeingSince.IsZero():
		r.disagreeingSince = r.checkedAt
	case r.checkedAt.Sub(r.disagreeingSince) >= readinessHold:
		r.notReady, r.disagreeingSince = found, time.Time{}
	}
	// Log changes of state only: a load balancer polling an unready service must not flood the log.
	switch {
	case r.notReady != nil && (was == nil || was.Message != r.notReady.Message):
		attrs := []any{"reason", reason}
		if err != nil {
			attrs = append(attrs, "error", err.Error())
		}
		r.logger.Warn("not ready", attrs...)
	case r.notReady == nil && was != nil:
		r.logger.Info("ready again", "schema-version", version)
	}
	return r.notReady
}
