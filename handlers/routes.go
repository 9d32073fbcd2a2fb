package handlers

import (
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// addRoutes lists the whole API surface.
func addRoutes(e *echo.Echo, logger *slog.Logger, cfg Config, tokens TokenVerifier, operations OperationStore,
	schema Schema, reg *prometheus.Registry, m *metrics) {
	// Middleware goes on each route, not on an Echo group: a group with middleware answers every unknown
	// method under its prefix with 404, where the client deserves 405.
	auth := authenticate(tokens)
	read := []echo.MiddlewareFunc{auth, requireRead}
	write := []echo.MiddlewareFunc{auth, requireWrite}

	e.POST("/beta/tagOperations", handleCreateOperation(operations, cfg.MaxBodyBytes), write...)
	e.GET("/beta/tagOperations", handleListOperations(operations), read...)
	e.GET("/beta/tagOperations/delta", handleDelta(operations), read...)
	e.GET("/beta/tagOperations/delta()", handleDelta(operations), read...)
	for _, delta := range []string{"/beta/tagOperations/delta", "/beta/tagOperations/delta()"} {
		// Without these, a write to delta would fall through to /:id and answer 404 for a GUID it never named.
		e.Match([]string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}, delta, onlyGet)
	}
	e.GET("/beta/tagOperations/:id", handleGetOperation(operations), read...)
	e.PATCH("/beta/tagOperations/:id", handlePatchOperation(operations, m, cfg.MaxBodyBytes, false), write...)
	e.DELETE("/beta/tagOperations/:id", handleDeleteOperation(operations), write...)
	// The seed page's own request: the body's id names the operation.
	e.PATCH("/beta/tagOperation", handlePatchOperation(operations, m, cfg.MaxBodyBytes, true), write...)

	// Service endpoints: no token, for load balancers, orchestrators and scrapers.
	e.GET("/openapi.json", handleOpenAPI())
	e.GET("/healthz", handleHealth())
	e.GET("/readyz", (&readiness{logger: logger, schema: schema, expected: cfg.SchemaVersion}).handle())
	if cfg.ServeMetrics {
		e.GET("/metrics", echo.WrapHandler(MetricsHandler(logger, reg)))
	}
}

// onlyGet answers 405 on a resource that can only be read.
func onlyGet(c echo.Context) error {
	c.Response().Header().Set("Allow", "GET")
	return echo.ErrMethodNotAllowed
}
