package handlers

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/caseops/caseops/store"
)

// surface is where the operation handlers are served: the older /beta/tagOperations routes, which see every
// operation of the tenant in the microsoft.graph namespace, or one version's security paths, which reach the
// operations of one eDiscovery case in the microsoft.graph.security namespace.
type surface struct {
	version string // "/beta" or "/v1.0"
	cased   bool   // the path names a case in {caseId}
	body    bodyRules
}

// bodyRules are what an operation body may say on a surface.
type bodyRules struct {
	types   []string       // the @odata.type values a body may name, without their #; a create defaults to the first
	actions []store.Action // the caseAction members it may set
	own     bool           // the types' own properties (typeprops.go) are read too
}

// legacySurface is /beta/tagOperations as sections 1-3 of the contract describe it.
var legacySurface = surface{version: "/beta", body: bodyRules{types: []string{"microsoft.graph.tagOperation"},
	actions: store.TagOperationActions}}

// securityBody takes every caseOperation type of the security namespace, and every caseAction member.
var securityBody = func() bodyRules {
	r := bodyRules{actions: store.Actions, own: true}
	for _, t := range store.SecurityTypes {
		r.types = append(r.types, "microsoft.graph.security."+t)
	}
	return r
}()

// caseSurface is the operations of one case under a version's /security/cases/ediscoveryCases/{caseId}.
func caseSurface(version string) surface {
	return surface{version: version, cased: true, body: securityBody}
}

const casesPath = "/security/cases/ediscoveryCases"

// caseID reads {caseId}; on the older routes it is uuid.Nil, which the store reads as "any case" (and, on a
// create, the tenant's default case).
func (sf surface) caseID(c echo.Context) (uuid.UUID, error) {
	if !sf.cased {
		return uuid.Nil, nil
	}
	return pathCaseID(c)
}

// pathCaseID reads {caseId}; anything that is not a GUID names no case.
func pathCaseID(c echo.Context) (uuid.UUID, error) {
	s := c.Param("caseId")
	id, err := uuid.Parse(s)
	if err != nil || !isCanonicalGUID(s) || id == uuid.Nil {
		return uuid.Nil, store.ErrCaseNotFound
	}
	return id, nil
}

// collectionURL is the absolute URL of the operations collection, for Location and @odata.nextLink.
func (sf surface) collectionURL(c echo.Context, caseID uuid.UUID) string {
	if !sf.cased {
		return baseURL(c) + collectionPath
	}
	return baseURL(c) + sf.version + casesPath + "/" + caseID.String() + "/operations"
}

// contextURL is the @odata.context of the operations collection; an entity's adds /$entity.
func (sf surface) contextURL(c echo.Context, caseID uuid.UUID) string {
	if !sf.cased {
		return baseURL(c) + "/beta/$metadata#tagOperations"
	}
	return baseURL(c) + sf.version + "/$metadata#security/cases/ediscoveryCases('" + caseID.String() + "')/operations"
}

// toJSON renders op in the surface's namespace. On the security paths a caseAction member Graph added after
// unknownFutureValue is sent as unknownFutureValue unless the client asked for it (CONTRACT section 9).
func (sf surface) toJSON(op store.Operation, context string, p renderPrefs) operationJSON {
	j := toJSON(op, context)
	if p.lastModified {
		j.LastModified = formatTime(op.LastModifiedDateTime)
	}
	if !sf.cased && op.Type == "ediscoveryTagOperation" {
		// The older routes name a tag operation as they always have, wherever it was created.
		j.Type = store.TagOperationODataType
	}
	if sf.cased {
		j.Type = store.SecurityODataTypePrefix + op.Type
		j.Action = store.Action(renderAction(op.Action, p.includeUnknown))
	}
	return j
}

// renderPrefs are the Prefer preferences that change how an operation is rendered.
type renderPrefs struct {
	includeUnknown bool // evolvable enum members by name (the security paths only)
	lastModified   bool // the @caseops.lastModifiedDateTime annotation
}

// prefs reads the rendering preferences of the request, and says in Preference-Applied which it honours.
func (sf surface) prefs(c echo.Context) renderPrefs {
	var p renderPrefs
	h := c.Request().Header
	if sf.cased && prefersUnknownEnumMembers(h) {
		p.includeUnknown = true
		c.Response().Header().Add("Preference-Applied", preferIncludeUnknownEnumMembers)
	}
	if applied, ok := prefersLastModifiedAnnotation(h); ok {
		p.lastModified = true
		c.Response().Header().Add("Preference-Applied", applied)
	}
	return p
}

// whichNotFound tells, on a case's path, an operation the case does not hold from a case that does not exist:
// the store answers ErrNotFound for both, and only then is the case read.
func (sf surface) whichNotFound(ctx context.Context, s CaseStore, tenant string, caseID uuid.UUID, err error) error {
	if !sf.cased || !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if cerr := sf.caseExists(ctx, s, tenant, caseID); cerr != nil {
		return cerr
	}
	return err
}

// caseExists is nil when the surface names no case or the tenant has caseID, else why not.
func (sf surface) caseExists(ctx context.Context, s CaseStore, tenant string, caseID uuid.UUID) error {
	if !sf.cased {
		return nil
	}
	_, err := s.GetCase(ctx, tenant, caseID)
	return err
}
