package handlers

import (
	"cmp"
	"log/slog"
	"net/http"
	"slices"
	"strings"

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
	api := &routeTable{e: e, methods: map[string][]string{}}

	legacy := legacySurface
	open := &streams{limit: int64(cmp.Or(cfg.MaxStreams, DefaultMaxStreams))}
	heartbeat := cmp.Or(cfg.StreamHeartbeat, DefaultStreamHeartbeat)
	api.add(http.MethodPost, "/beta/tagOperations", handleCreateOperation(operations, legacy, cfg.MaxBodyBytes), write...)
	api.add(http.MethodGet, "/beta/tagOperations", handleListOperations(operations, legacy), read...)
	api.add(http.MethodGet, "/beta/tagOperations/delta", handleDelta(operations, legacy), read...)
	api.add(http.MethodGet, "/beta/tagOperations/delta()", handleDelta(operations, legacy), read...)
	api.add(http.MethodGet, "/beta/tagOperations/stream", handleStream(operations, cfg.Streams, legacy, open, m, heartbeat), read...)
	api.add(http.MethodGet, "/beta/tagOperations/overview", handleOverview(operations, legacy), read...)
	api.add(http.MethodGet, "/beta/tagOperations/:id", handleGetOperation(operations, legacy), read...)
	api.add(http.MethodGet, "/beta/tagOperations/:id/history", handleHistory(operations, legacy), read...)
	api.add(http.MethodPatch, "/beta/tagOperations/:id", handlePatchOperation(operations, legacy, m, cfg.MaxBodyBytes, false), write...)
	api.add(http.MethodDelete, "/beta/tagOperations/:id", handleDeleteOperation(operations, legacy), write...)
	// The seed page's own request: the body's id names the operation.
	api.add(http.MethodPatch, "/beta/tagOperation", handlePatchOperation(operations, legacy, m, cfg.MaxBodyBytes, true), write...)

	// The microsoft.graph.security namespace: eDiscovery cases and the operations of each (CONTRACT section 7).
	for _, version := range []string{"/v1.0", "/beta"} {
		cases, inCase := version+casesPath, caseSurface(version)
		api.add(http.MethodPost, cases, handleCreateCase(operations, version, cfg.MaxBodyBytes), write...)
		api.add(http.MethodGet, cases, handleListCases(operations, version), read...)
		api.add(http.MethodGet, cases+"/:caseId", handleGetCase(operations, version), read...)
		api.add(http.MethodPatch, cases+"/:caseId", handlePatchCase(operations, version, cfg.MaxBodyBytes), write...)
		api.add(http.MethodDelete, cases+"/:caseId", handleDeleteCase(operations), write...)
		api.add(http.MethodPost, cases+"/:caseId/close", handleSetCaseStatus(operations, true), write...)
		api.add(http.MethodPost, cases+"/:caseId/reopen", handleSetCaseStatus(operations, false), write...)
		// The Graph SDKs call bound actions by their qualified names.
		api.add(http.MethodPost, cases+"/:caseId/microsoft.graph.security.close", handleSetCaseStatus(operations, true), write...)
		api.add(http.MethodPost, cases+"/:caseId/microsoft.graph.security.reopen", handleSetCaseStatus(operations, false), write...)
		api.add(http.MethodPost, cases+"/:caseId/operations", handleCreateOperation(operations, inCase, cfg.MaxBodyBytes), write...)
		api.add(http.MethodGet, cases+"/:caseId/operations", handleListOperations(operations, inCase), read...)
		api.add(http.MethodGet, cases+"/:caseId/operations/$count", handleCountOperations(operations, inCase), read...)
		api.add(http.MethodGet, cases+"/:caseId/operations/delta", handleDelta(operations, inCase), read...)
		api.add(http.MethodGet, cases+"/:caseId/operations/delta()", handleDelta(operations, inCase), read...)
		api.add(http.MethodGet, cases+"/:caseId/operations/stream", handleStream(operations, cfg.Streams, inCase, open, m, heartbeat), read...)
		api.add(http.MethodGet, cases+"/:caseId/operations/overview", handleOverview(operations, inCase), read...)
		api.add(http.MethodGet, cases+"/:caseId/operations/:id", handleGetOperation(operations, inCase), read...)
		api.add(http.MethodGet, cases+"/:caseId/operations/:id/history", handleHistory(operations, inCase), read...)
		api.add(http.MethodPatch, cases+"/:caseId/operations/:id", handlePatchOperation(operations, inCase, m, cfg.MaxBodyBytes, false), write...)
		api.add(http.MethodDelete, cases+"/:caseId/operations/:id", handleDeleteOperation(operations, inCase), write...)
	}

	// The dashboard: its files need no token; the page signs in and sends one with every API request.
	api.add(http.MethodGet, "/", handleDashboardAsset("index.html"))
	api.add(http.MethodGet, "/dashboard/:file", handleDashboardAsset(""))
	api.add(http.MethodPost, "/dashboard/signin", handleSignIn(cfg.SignIn))

	// Service endpoints: no token, for load balancers, orchestrators and scrapers.
	api.add(http.MethodGet, "/openapi.json", handleOpenAPI())
	api.add(http.MethodGet, "/v1.0/$metadata", handleMetadata("v1.0"))
	api.add(http.MethodGet, "/beta/$metadata", handleMetadata("beta"))
	api.add(http.MethodGet, "/healthz", handleHealth())
	api.add(http.MethodGet, "/readyz", (&readiness{logger: logger, schema: schema, expected: cfg.SchemaVersion}).handle())
	if cfg.ServeMetrics {
		api.add(http.MethodGet, "/metrics", echo.WrapHandler(MetricsHandler(logger, reg)))
	}
	api.answerOtherMethods()
}

// routeTable registers routes and remembers the methods each path serves, so that OPTIONS and every 405
// name exactly the methods that work there.
type routeTable struct {
	e       *echo.Echo
	paths   []string
	methods map[string][]string // path -> the methods it serves
}

// add serves method on path; a GET is served for HEAD too (RFC 9110 §9.3.2: the same answer without its body,
// which net/http drops).
func (t *routeTable) add(method, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
	t.e.Add(method, path, h, m...)
	if _, known := t.methods[path]; !known {
		t.paths = append(t.paths, path)
	}
	t.methods[path] = append(t.methods[path], method)
	if method == http.MethodGet {
		t.e.Add(http.MethodHead, path, h, m...)
		t.methods[path] = append(t.methods[path], http.MethodHead)
	}
}

// standardMethods are the methods answered explicitly on every path. Without them, a write to
// /beta/tagOperations/delta would fall through to /:id and answer 404 for a GUID it never named.
var standardMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodTrace, http.MethodConnect}

// answerOtherMethods answers OPTIONS on every path with the methods it serves, and any other method with 405.
// Echo's own OPTIONS and 405 would list every method registered on the path, those that only answer 405 included.
func (t *routeTable) answerOtherMethods() {
	for _, path := range t.paths {
		served := slices.Concat(t.methods[path], []string{http.MethodOptions})
		slices.Sort(served)
		allow := strings.Join(served, ", ")
		t.e.OPTIONS(path, func(c echo.Context) error {
			c.Response().Header().Set("Allow", allow)
			return c.NoContent(http.StatusNoContent)
		})
		notAllowed := methodNotAllowed(path, allow)
		var others []string
		for _, method := range standardMethods {
			if !slices.Contains(served, method) {
				others = append(others, method)
			}
		}
		if len(others) > 0 {
			t.e.Match(others, path, notAllowed)
		}
		t.e.RouteNotFound(path, notAllowed) // any other method a client makes up
	}
}

// methodNotAllowed answers 405 on path, which serves the methods in allow.
func methodNotAllowed(path, allow string) echo.HandlerFunc {
	path = strings.NewReplacer(":caseId", "{caseId}", ":id", "{id}", ":file", "{file}").Replace(path)
	return func(c echo.Context) error {
		return &Error{Status: http.StatusMethodNotAllowed, Header: http.Header{"Allow": {allow}},
			Message: clip(c.Request().Method) + " is not allowed on " + path + ", which takes " + allow + "."}
	}
}
