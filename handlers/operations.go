package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/caseops/caseops/store"
)

// OperationStore is what the handlers need of the store.
type OperationStore interface {
	Create(ctx context.Context, tenant string, n store.NewOperation, a store.Audit) (store.Operation, error)
	CreateRepeatable(ctx context.Context, tenant string, n store.NewOperation, a store.Audit, r store.Repeatable) (store.Operation, bool, error)
	List(ctx context.Context, tenant string, q store.ListQuery) (store.Page, error)
	Count(ctx context.Context, tenant string, q store.ListQuery) (int64, error)
	Delta(ctx context.Context, tenant string, q store.DeltaQuery) (store.DeltaPage, error)
	Changes(ctx context.Context, tenant string, q store.ChangesQuery) ([]store.StreamChange, error)
	History(ctx context.Context, tenant string, q store.HistoryQuery) (store.HistoryPage, error)
	Overview(ctx context.Context, tenant string, caseID uuid.UUID) (store.Overview, error)
	// The *InCase methods reach an operation only through its case; uuid.Nil is any case of the tenant.
	GetInCase(ctx context.Context, tenant string, caseID, id uuid.UUID) (store.Operation, error)
	PatchInCase(ctx context.Context, tenant string, caseID, id uuid.UUID, p store.Patch, a store.Audit) (store.Operation, store.PatchResult, error)
	DeleteInCase(ctx context.Context, tenant string, caseID, id uuid.UUID, ifMatch []store.Revision, a store.Audit) error
	CaseStore
}

const (
	collectionPath = "/beta/tagOperations"
	defaultTop     = 100
	maxTop         = 1000
)

func audit(c echo.Context) store.Audit {
	return store.Audit{Actor: callerOf(c).Identity, RequestID: requestIDs(c).requestID}
}

// pathID reads {id}; anything that is not a GUID names no operation.
func pathID(c echo.Context) (uuid.UUID, error) {
	s := c.Param("id")
	id, err := uuid.Parse(s)
	if err != nil || !isCanonicalGUID(s) {
		return uuid.Nil, newError(http.StatusNotFound, "The operation does not exist.")
	}
	return id, nil
}

// writeOperation answers with one entity and its ETag.
func (sf surface) writeOperation(c echo.Context, status int, caseID uuid.UUID, op store.Operation) error {
	c.Response().Header().Set("ETag", etag(op.Revision()))
	prefs := sf.prefs(c)
	j := sf.toJSON(op, sf.contextURL(c, caseID)+"/$entity", prefs)
	if !sf.cased {
		return writeJSON(c, status, j)
	}
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	return c.JSONBlob(status, appendOwnProperties(b, op, nil, prefs.includeUnknown))
}

func handleCreateOperation(s OperationStore, sf surface, maxBodyBytes int64) echo.HandlerFunc {
	return func(c echo.Context) error {
		caseID, err := sf.caseID(c)
		if err != nil {
			return err
		}
		if err := noQueryOptions(c); err != nil {
			return err
		}
		repeatable, err := repeatability(c.Request().Header, time.Now())
		if err != nil {
			c.Response().Header().Set(headerRepeatabilityResult, "rejected")
			return err
		}
		obj, err := readBody(c, maxBodyBytes)
		if err != nil {
			return err
		}
		body, errs := parseOperationBody(obj, modeCreate, sf.body)
		odataType := body.ODataType
		if odataType == "" && sf.cased {
			odataType = "#" + sf.body.types[0]
		}
		var props store.TypeProps
		if sf.body.own {
			props, _ = parseOwnProperties(obj, strings.TrimPrefix(odataType, store.SecurityODataTypePrefix), modeCreate, &errs)
		}
		if errs.count() > 0 {
			return errs.error()
		}
		terminal := body.Patch.Status.Set && body.Patch.Status.Value.Terminal()
		if body.Patch.CompletedDateTime.Value != nil && !terminal {
			return invalidBody([]Detail{{Code: "invalidValue", Target: "completedDateTime", Message: "completedDateTime " +
				"can be given only with a terminal status (succeeded, partiallySucceeded, failed or submissionFailed)."}})
		}
		if body.Patch.CompletedDateTime.Set && body.Patch.CompletedDateTime.Value == nil && terminal {
			return invalidBody([]Detail{{Code: "invalidValue", Target: "completedDateTime", Message: "completedDateTime " +
				"cannot be null with a terminal status; leave it out and the service sets it to the time of the request."}})
		}
		caller := callerOf(c)
		n := newOperation(body, caller)
		n.CaseID = caseID
		n.ODataType, n.Props = odataType, props
		var op store.Operation
		if repeatable == nil {
			op, err = s.Create(c.Request().Context(), caller.TenantID, n, audit(c))
		} else {
			op, _, err = s.CreateRepeatable(c.Request().Context(), caller.TenantID, n, audit(c), *repeatable)
			if errors.Is(err, store.ErrRepeatMismatch) {
				c.Response().Header().Set(headerRepeatabilityResult, "rejected")
				return &Error{Status: http.StatusConflict, Target: headerRepeatabilityRequestID, Message: "This " +
					"Repeatability-Request-ID was already used for a request with another body or caller; a repeat must be the same request."}
			}
		}
		if err != nil {
			return err
		}
		if repeatable != nil {
			c.Response().Header().Set(headerRepeatabilityResult, "accepted")
		}
		c.Response().Header().Set("Location", sf.collectionURL(c, caseID)+"/"+op.ID.String())
		return sf.writeOperation(c, http.StatusCreated, caseID, op)
	}
}

func handleGetOperation(s OperationStore, sf surface) echo.HandlerFunc {
	return func(c echo.Context) error {
		caseID, err := sf.caseID(c)
		if err != nil {
			return err
		}
		id, err := pathID(c)
		if err != nil {
			return err
		}
		if err := noQueryOptions(c); err != nil {
			return err
		}
		ctx, tenant := c.Request().Context(), callerOf(c).TenantID
		op, err := s.GetInCase(ctx, tenant, caseID, id)
		if err != nil {
			return sf.whichNotFound(ctx, s, tenant, caseID, err)
		}
		return sf.writeOperation(c, http.StatusOK, caseID, op)
	}
}

// handlePatchOperation serves PATCH /beta/tagOperations/{id} and, when bodyID is set, the seed's own
// PATCH /beta/tagOperation whose body's id names the operation.
func handlePatchOperation(s OperationStore, sf surface, m *metrics, maxBodyBytes int64, bodyID bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		caseID, err := sf.caseID(c)
		if err != nil {
			return err
		}
		var id uuid.UUID
		if !bodyID {
			if id, err = pathID(c); err != nil {
				return err
			}
		}
		if err := noQueryOptions(c); err != nil {
			return err
		}
		cond, err := readConditions(c.Request().Header)
		if err != nil {
			return err
		}
		obj, err := readBody(c, maxBodyBytes)
		if err != nil {
			return err
		}
		body, errs := parseOperationBody(obj, modePatch, sf.body)
		if sf.body.own {
			_, body.Patch.Props = parseOwnProperties(obj, "", modePatch, &errs)
		}
		switch {
		case bodyID && !hasKey(obj, "id"):
			errs.add("id", "missingProperty", "id is required: it names the operation to update.")
		case !bodyID && body.ID != nil && *body.ID != id:
			errs.add("id", "readOnlyProperty", "id is read-only; it may be sent only with the operation's own id.")
		}
		if errs.count() > 0 {
			return errs.error()
		}
		if bodyID {
			id = *body.ID
		}
		p := body.Patch
		p.CreatedDateTime = body.CreatedDateTime
		ctx, tenant := c.Request().Context(), callerOf(c).TenantID
		if p.IfMatch, err = cond.pin(ctx, s, tenant, caseID, id); err != nil {
			return sf.whichNotFound(ctx, s, tenant, caseID, err)
		}
		op, res, err := s.PatchInCase(ctx, tenant, caseID, id, p, audit(c))
		if errors.Is(err, store.ErrNotOwnProperty) {
			return notOwnProperties(obj)
		}
		if err != nil {
			return sf.whichNotFound(ctx, s, tenant, caseID, err)
		}
		m.countTransition(op, res)
		if prefersMinimal(c.Request().Header) {
			h := c.Response().Header()
			h.Set("ETag", etag(op.Revision()))
			h.Set("Preference-Applied", "return=minimal")
			return c.NoContent(http.StatusNoContent)
		}
		return sf.writeOperation(c, http.StatusOK, caseID, op)
	}
}

func handleDeleteOperation(s OperationStore, sf surface) echo.HandlerFunc {
	return func(c echo.Context) error {
		caseID, err := sf.caseID(c)
		if err != nil {
			return err
		}
		id, err := pathID(c)
		if err != nil {
			return err
		}
		if err := noQueryOptions(c); err != nil {
			return err
		}
		cond, err := readConditions(c.Request().Header)
		if err != nil {
			return err
		}
		ctx, tenant := c.Request().Context(), callerOf(c).TenantID
		ifMatch, err := cond.pin(ctx, s, tenant, caseID, id)
		if err != nil {
			return sf.whichNotFound(ctx, s, tenant, caseID, err)
		}
		if err := s.DeleteInCase(ctx, tenant, caseID, id, ifMatch, audit(c)); err != nil {
			return sf.whichNotFound(ctx, s, tenant, caseID, err)
		}
		return c.NoContent(http.StatusNoContent)
	}
}

func hasKey(obj *object, key string) bool {
	_, ok := obj.values[key]
	return ok
}

// optionName returns the OData system query option a parameter names ("$top" and, as on Graph beta, "top").
func optionName(key string) string { return "$" + strings.TrimPrefix(key, "$") }

// queryOptions reads the query string strictly. Echo's QueryParams, like url.Values, drops a pair it
// cannot decode, which would turn a mistyped $filter into "everything"; here such a pair is a 400. So is
// a value that is not text Postgres can hold: invalid UTF-8, or U+0000.
func queryOptions(c echo.Context) (url.Values, error) {
	raw := c.Request().URL.RawQuery
	params, err := url.ParseQuery(raw)
	if err != nil {
		return nil, badRequest("", "The query string is malformed: each option is name=value, options are separated by "+
			"&, and a % must start an escape such as %20 or %25.")
	}
	for key, values := range params {
		for _, v := range append([]string{key}, values...) {
			if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
				return nil, badRequest(optionName(key), "The query option "+quote(key)+" must be UTF-8 text without U+0000.")
			}
		}
	}
	return params, nil
}

func noQueryOptions(c echo.Context) error {
	params, err := queryOptions(c)
	if err != nil {
		return err
	}
	for key := range params {
		return badRequest(key, "The query option "+quote(key)+" is not supported on this request, which takes no query options.")
	}
	return nil
}

// joinWords lists words as people write them: "a", "a and b", "a, b and c".
func joinWords(words []string, conjunction string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " " + conjunction + " " + words[len(words)-1]
}

// prefersMinimal reports whether the client asked for Prefer: return=minimal.
func prefersMinimal(h http.Header) bool {
	for _, v := range h.Values("Prefer") {
		for _, pref := range strings.Split(v, ",") {
			if strings.EqualFold(strings.ReplaceAll(strings.TrimSpace(pref), " ", ""), "return=minimal") {
				return true
			}
		}
	}
	return false
}
