package handlers

import (
	"github.com/labstack/echo/v4"
)

// addRoutes lists the whole API surface.
func addRoutes(e *echo.Echo, tokens TokenVerifier, operations OperationStore) {
	// Middleware goes on each route, not on an Echo group: a group with middleware answers every unknown
	// method under its prefix with 404, where the client deserves 405.
	auth := authenticate(tokens)
	read := []echo.MiddlewareFunc{auth, requireRead}
	write := []echo.MiddlewareFunc{auth, requireWrite}

	e.POST("/beta/tagOperations", handleCreateOperation(operations), write...)
	e.GET("/beta/tagOperations", handleListOperations(operations), read...)
	e.GET("/beta/tagOperations/:id", handleGetOperation(operations), read...)
	e.PATCH("/beta/tagOperations/:id", handlePatchOperation(operations, false), write...)
	e.DELETE("/beta/tagOperations/:id", handleDeleteOperation(operations), write...)
	// The seed page's own request: the body's id names the operation.
	e.PATCH("/beta/tagOperation", handlePatchOperation(operations, true), write...)

	e.GET("/openapi.json", handleOpenAPI())
}
