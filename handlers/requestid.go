package handlers

import (
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
)

type ids struct {
	requestID       string
	clientRequestID string
}

const idsKey = "caseops.ids"

// withRequestIDs gives every request a request-id, and echoes the client's client-request-id
// (or the request-id when it sent none) so a client can correlate any answer, errors included.
func withRequestIDs(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		v := newRequestIDs(c.Request().Header.Get("client-request-id"))
		c.Set(idsKey, v)
		h := c.Response().Header()
		h.Set("request-id", v.requestID)
		h.Set("client-request-id", v.clientRequestID)
		return next(c)
	}
}

// newRequestIDs makes a new request-id, and echoes clientRequestID when it can be echoed safely.
func newRequestIDs(clientRequestID string) ids {
	v := ids{requestID: uuid.NewString(), clientRequestID: clientRequestID}
	if !printableToken(v.clientRequestID) {
		v.clientRequestID = v.requestID
	}
	return v
}

func requestIDs(c echo.Context) ids {
	v, _ := c.Get(idsKey).(ids)
	return v
}

// printableToken accepts a client-request-id we can safely echo into a header and the logs: 1 to 200
// printable ASCII characters (spaces included; net/http has already trimmed them from the ends).
func printableToken(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
