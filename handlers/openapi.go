package handlers

import (
	_ "embed" // for OpenAPIDocument
	"net/http"

	"github.com/labstack/echo/v4"
)

// OpenAPIDocument is the OpenAPI 3.0 description of the whole HTTP API, written by hand.
// The HTTP tests check real responses against it (validateResponse in openapi_test.go),
// so a change to a route, a header or the JSON needs its edit in openapi.json too.
//
//go:embed openapi.json
var OpenAPIDocument []byte

// handleOpenAPI serves OpenAPIDocument, so clients can generate code from the running service.
func handleOpenAPI() echo.HandlerFunc {
	return func(c echo.Context) error {
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, OpenAPIDocument)
	}
}
