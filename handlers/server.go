// Package handlers is everything in caseops that speaks HTTP: the Graph-shaped API over the store,
// its JSON, its errors and the checks every request passes.
package handlers

import (
	"cmp"
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// Config is what the HTTP layer needs to know beyond its dependencies.
type Config struct {
	// RequestTimeout bounds the work of one request; a database call past it answers 503.
	RequestTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers; 0 means DefaultMaxHeaderBytes.
	MaxHeaderBytes int
}

// NewServer returns the caseops HTTP API as an http.Handler.
func NewServer(logger *slog.Logger, cfg Config, tokens TokenVerifier, operations OperationStore) *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = errorHandler(logger)

	e.Pre(withRequestIDs)
	e.Pre(limitHeaders(cmp.Or(cfg.MaxHeaderBytes, DefaultMaxHeaderBytes)))
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, DisablePrintStack: true}))
	e.Use(logRequests(logger))
	if cfg.RequestTimeout > 0 {
		e.Use(middleware.ContextTimeoutWithConfig(middleware.ContextTimeoutConfig{Timeout: cfg.RequestTimeout}))
	}
	addRoutes(e, tokens, operations)
	return e
}

// logRequests writes one line per request: never a token, a secret or a body.
func logRequests(logger *slog.Logger) echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogLatency: true, LogMethod: true, LogRoutePath: true, LogError: true,
		HandleError: true, // the error handler runs first, so the status logged is the one sent
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			ids := requestIDs(c)
			logger.LogAttrs(c.Request().Context(), slog.LevelInfo, "request",
				slog.String("request-id", ids.requestID),
				slog.String("client-request-id", ids.clientRequestID),
				slog.String("tenant", callerOf(c).TenantID),
				slog.String("method", v.Method),
				slog.String("route", v.RoutePath),
				slog.Int("status", v.Status),
				slog.Duration("duration", v.Latency),
			)
			return nil
		},
	})
}
