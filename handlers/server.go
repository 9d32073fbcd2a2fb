// Package handlers is everything in caseops that speaks HTTP: the Graph-shaped API over the store,
// its JSON, its errors and the checks every request passes.
package handlers

import (
	"cmp"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caseops/caseops/handlers/dashboard"
)

// Config is what the HTTP layer needs to know beyond its dependencies.
type Config struct {
	// RequestTimeout bounds the work of one request; a database call past it answers 503.
	RequestTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers; 0 means DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// MaxBodyBytes bounds a POST or PATCH body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// SchemaVersion is the schema version this binary expects; /readyz fails while the database is at another.
	SchemaVersion int64
	// ServeMetrics serves /metrics on this handler; leave it false when the metrics have a listener of their own.
	ServeMetrics bool
	// Streams serves the change streams (.../operations/stream); nil answers them 503.
	Streams StreamSource
	// MaxStreams bounds the streams open at once (503 past it); 0 means DefaultMaxStreams.
	MaxStreams int
	// SignIn, in development mode, exchanges the one-time code of the dashboard's sign-in link for the token.
	SignIn *dashboard.SignIn
	// StreamHeartbeat is how often an idle stream sends a comment; 0 means DefaultStreamHeartbeat.
	StreamHeartbeat time.Duration
}

// NewServer returns the caseops HTTP API as an http.Handler. Its series are registered on metrics
// (a nil registry keeps them private); a registry serves one server only.
func NewServer(logger *slog.Logger, cfg Config, tokens TokenVerifier, operations OperationStore, schema Schema,
	metrics *prometheus.Registry) *echo.Echo {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if metrics == nil {
		metrics = prometheus.NewRegistry()
	}
	m := newMetrics(metrics)

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = errorHandler(logger, cfg.MaxBodyBytes)

	routes := map[string]bool{} // filled below, before the server answers anything
	e.Pre(withRequestIDs)
	// Observing before the header limit and outside Recover logs and counts a 431, and a panic as the 500 it
	// becomes; the route is read after routing, when the request is done.
	e.Pre(observeRequests(logger, m, routes))
	e.Pre(limitHeaders(cmp.Or(cfg.MaxHeaderBytes, DefaultMaxHeaderBytes)))
	e.Pre(guardConnection) // with a Listener: ambiguous framing, and requests a shutdown stopped
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, DisablePrintStack: true}))
	if cfg.RequestTimeout > 0 {
		// A stream lasts as long as its client stays; each of its queries is bounded by the statement timeout.
		e.Use(middleware.ContextTimeoutWithConfig(middleware.ContextTimeoutConfig{Timeout: cfg.RequestTimeout,
			Skipper: func(c echo.Context) bool { return isStreamPath(c.Path()) }}))
	}
	// A list or delta page of JSON shrinks to a fifth or less; below 1 KiB gzip's framing would outweigh it.
	// The metrics handler compresses its own answer.
	e.Use(middleware.GzipWithConfig(middleware.GzipConfig{MinLength: 1 << 10,
		Skipper: func(c echo.Context) bool { return c.Path() == "/metrics" || isStreamPath(c.Path()) }}))
	addRoutes(e, logger, cfg, tokens, operations, schema, metrics, m)
	for _, r := range e.Routes() {
		routes[r.Path] = true
	}
	return e
}

// knownMethods bound the method label: a client may send any token as a method.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

// observeRequests writes one log line per request, never a token, a secret or a body, and counts the
// request in the HTTP series, labelled by route pattern (never the raw URL, to bound the series).
func observeRequests(logger *slog.Logger, m *metrics, routes map[string]bool) echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogLatency: true, LogMethod: true, LogRoutePath: true, LogError: true,
		HandleError: true, // the error handler runs first, so the status logged is the one sent
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			route, method := v.RoutePath, v.Method
			// Echo names the nearest route even when it answers 404 for want of one.
			if !routes[route] || errors.Is(v.Error, echo.ErrNotFound) {
				route = unmatchedRoute
			}
			if !knownMethods[method] {
				method = "other"
			}
			m.requests.WithLabelValues(route, method, strconv.Itoa(v.Status)).Inc()
			m.duration.WithLabelValues(route, method).Observe(v.Latency.Seconds())

			ids := requestIDs(c)
			logger.LogAttrs(c.Request().Context(), slog.LevelInfo, "request",
				slog.String("request-id", ids.requestID),
				slog.String("client-request-id", ids.clientRequestID),
				slog.String("tenant", callerOf(c).TenantID),
				slog.String("method", v.Method),
				slog.String("route", route),
				slog.Int("status", v.Status),
				// Milliseconds as a number, in JSON and text alike: log tools compare and sum it without parsing units.
				slog.Float64("duration_ms", float64(v.Latency.Microseconds())/1000),
			)
			return nil
		},
	})
}
