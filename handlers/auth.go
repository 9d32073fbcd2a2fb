package handlers

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/caseops/caseops/handlers/auth"
	"github.com/caseops/caseops/store"
)

// TokenVerifier checks an Authorization header and says who it speaks for.
type TokenVerifier interface {
	Verify(ctx context.Context, authorizationHeader string) (auth.Principal, error)
}

// authenticate establishes the Caller of every API request from its bearer token.
func authenticate(v TokenVerifier) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			var header string
			switch headers := c.Request().Header.Values("Authorization"); len(headers) {
			case 0:
			case 1:
				header = headers[0]
			default:
				// Which one a proxy or a cache would honour is anyone's guess; take neither.
				return unauthorized(headers[0], &auth.Error{Message: "The request has more than one Authorization header; send one."})
			}
			p, err := v.Verify(c.Request().Context(), header)
			if errors.Is(err, auth.ErrKeysUnavailable) {
				return err // a 503, with its cause in the log (toError)
			}
			if err != nil {
				return unauthorized(header, err)
			}
			setCaller(c, callerFrom(p))
			return next(c)
		}
	}
}

// unauthorized is a 401 with the RFC 6750 challenge; the message says what is wrong, never the token.
func unauthorized(header string, err error) *Error {
	msg := "The bearer token is not valid."
	var ae *auth.Error
	if errors.As(err, &ae) {
		msg = ae.Message
	}
	challenge := `Bearer realm="caseops"`
	if strings.TrimSpace(header) != "" {
		challenge += `, error="invalid_token", error_description="` + strings.ReplaceAll(msg, `"`, "'") + `"`
	}
	return &Error{Status: http.StatusUnauthorized, Message: msg, Header: http.Header{"Www-Authenticate": {challenge}}}
}

// callerFrom turns a verified token into the tenant, identity and permissions a request acts with.
func callerFrom(p auth.Principal) Caller {
	c := Caller{TenantID: p.TenantID, CanRead: p.CanRead(), CanWrite: p.CanWrite()}
	identity := func(i *auth.Identity) *store.Identity {
		if i == nil {
			return nil
		}
		out := &store.Identity{ID: &i.ID}
		if i.DisplayName != "" {
			out.DisplayName = &i.DisplayName
		}
		return out
	}
	if p.User != nil || p.Application != nil {
		c.Identity = &store.IdentitySet{User: identity(p.User), Application: identity(p.Application)}
	}
	return c
}

func requireRead(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !callerOf(c).CanRead {
			return newError(http.StatusForbidden, "The token grants neither eDiscovery.Read.All nor eDiscovery.ReadWrite.All.")
		}
		return next(c)
	}
}

func requireWrite(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !callerOf(c).CanWrite {
			return newError(http.StatusForbidden, "Changing operations needs eDiscovery.ReadWrite.All, which the token does not grant.")
		}
		return next(c)
	}
}
