package auth

import (
	"cmp"
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// The Microsoft Graph permissions caseops checks, as delegated scopes (scp) or application roles (roles).
const (
	PermissionRead      = "eDiscovery.Read.All"
	PermissionReadWrite = "eDiscovery.ReadWrite.All"
)

// Permissions are every permission caseops checks, for tools that hand out tokens.
func Permissions() []string { return []string{PermissionRead, PermissionReadWrite} }

// Identity is a user or an application, as Graph's identity resource names it.
type Identity struct {
	ID, DisplayName string
}

// Principal is who a verified token speaks for and what it may do.
type Principal struct {
	TenantID    string
	Scopes      []string  // from `scp`, space separated
	Roles       []string  // from `roles` (array)
	User        *Identity // oid + name, for delegated tokens
	Application *Identity // azp or appid + app_displayname
}

// CanRead reports whether the principal may read operations.
func (p Principal) CanRead() bool {
	return p.has(PermissionRead) || p.has(PermissionReadWrite)
}

// CanWrite reports whether the principal may create, change or delete operations.
func (p Principal) CanWrite() bool {
	return p.has(PermissionReadWrite)
}

func (p Principal) has(permission string) bool {
	return slices.Contains(p.Scopes, permission) || slices.Contains(p.Roles, permission)
}

// claims are the Microsoft identity platform claims caseops reads and mints.
type claims struct {
	jwt.RegisteredClaims
	TenantID        string   `json:"tid,omitempty"`
	Scope           string   `json:"scp,omitempty"`
	Roles           []string `json:"roles,omitempty"`
	ObjectID        string   `json:"oid,omitempty"`
	Name            string   `json:"name,omitempty"`
	AuthorizedParty string   `json:"azp,omitempty"`   // v2.0 tokens
	AppID           string   `json:"appid,omitempty"` // v1.0 tokens
	AppDisplayName  string   `json:"app_displayname,omitempty"`
	IdentityType    string   `json:"idtyp,omitempty"`
}

func (c claims) principal() Principal {
	p := Principal{
		TenantID: c.TenantID,
		Scopes:   strings.Fields(c.Scope),
		Roles:    c.Roles,
	}
	if len(p.Scopes) == 0 {
		p.Scopes = nil
	}
	if len(p.Roles) == 0 {
		p.Roles = nil
	}
	// Entra app-only tokens carry the service principal's oid too; they are told apart by the optional
	// idtyp claim or, without it, by having roles and no scp.
	appOnly := c.IdentityType == "app" || (c.IdentityType == "" && c.Scope == "" && len(c.Roles) > 0)
	if c.ObjectID != "" && !appOnly {
		p.User = &Identity{ID: c.ObjectID, DisplayName: c.Name}
	}
	if id := cmp.Or(c.AuthorizedParty, c.AppID); id != "" {
		p.Application = &Identity{ID: id, DisplayName: c.AppDisplayName}
	}
	return p
}
