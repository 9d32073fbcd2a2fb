package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/caseops/caseops/store"
)

// authenticate establishes the Caller of every API request.
func authenticate(cfg Config) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			id, name := "dev", "Development user"
			setCaller(c, Caller{
				TenantID: cfg.DevTenant,
				Identity: &store.IdentitySet{User: &store.Identity{ID: &id, DisplayName: &name}},
				CanRead:  true, CanWrite: true,
			})
			return next(c)
		}
	}
}

func requireRead(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !callerOf(c).CanRead {
			return newError(http.StatusForbidden, "The token does not grant eDiscovery.Read.All or eDiscovery.ReadWrite.All.")
		}
		return next(c)
	}
}

func requireWrite(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !callerOf(c).CanWrite {
			return newError(http.StatusForbidden, "The token does not grant eDiscovery.ReadWrite.All.")
		}
		return next(c)
	}
}
