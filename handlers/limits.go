package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// DefaultMaxHeaderBytes bounds the request line and headers a request may carry.
const DefaultMaxHeaderBytes = 32 << 10

// limitHeaders refuses requests whose headers exceed max bytes with a Graph error. The HTTP server's own,
// larger cap (it answers in plain text) only stops what could not be read at all.
func limitHeaders(max int) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			size := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4
			for k, vs := range r.Header {
				for _, v := range vs {
					size += len(k) + len(v) + 4
				}
			}
			if size > max {
				return newError(http.StatusRequestHeaderFieldsTooLarge,
					"The request line and headers are larger than "+itoa(max)+" bytes.")
			}
			return next(c)
		}
	}
}
