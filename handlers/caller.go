package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/caseops/caseops/store"
)

// Caller is who a request acts for: its tenant, its identity and what it may do.
type Caller struct {
	TenantID string
	Identity *store.IdentitySet // the default createdBy and the actor in the history
	CanRead  bool
	CanWrite bool
}

const callerKey = "caseops.caller"

func callerOf(c echo.Context) Caller {
	v, _ := c.Get(callerKey).(Caller)
	return v
}

func setCaller(c echo.Context, caller Caller) { c.Set(callerKey, caller) }
