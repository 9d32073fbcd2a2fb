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
	notReady  *Error // nil: ready
}

func (r *readiness) handle() echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := r.check(c.Request().Context()); err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, statusJSON{Status: "ok", SchemaVersion: r.expected})
	}
}

// check returns why the service is not ready, or nil; it asks the database at most once per readinessCacheFor.
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
	was := r.notReady
	r.checkedAt = time.Now()
	r.notReady = nil
	if reason != "" {
		r.notReady = &Error{Status: http.StatusServiceUnavailable, RetryAfter: retryAfterSeconds,
			Message: "The service is not ready: " + reason + "."}
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
