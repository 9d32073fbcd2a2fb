package handlers

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/caseops/caseops/store"
)

// OperationStore is what the handlers need of the store.
type OperationStore interface {
	Create(ctx context.Context, tenant string, n store.NewOperation, a store.Audit) (store.Operation, error)
	Get(ctx context.Context, tenant string, id uuid.UUID) (store.Operation, error)
	List(ctx context.Context, tenant string, q store.ListQuery) (store.Page, error)
	Patch(ctx context.Context, tenant string, id uuid.UUID, p store.Patch, a store.Audit) (store.Operation, store.PatchResult, error)
	Delete(ctx context.Context, tenant string, id uuid.UUID, ifVersion []int64, a store.Audit) error
}

const (
	collectionPath = "/beta/tagOperations"
	defaultTop     = 100
	maxTop         = 1000
)

func entityContext(c echo.Context) string {
	return baseURL(c) + "/beta/$metadata#tagOperations/$entity"
}

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
func writeOperation(c echo.Context, status int, op store.Operation) error {
	c.Response().Header().Set("ETag", etag(op.Version))
	return writeJSON(c, status, toJSON(op, entityContext(c)))
}

func handleCreateOperation(s OperationStore, maxBodyBytes int64) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := noQueryOptions(c); err != nil {
			return err
		}
		obj, err := readBody(c, maxBodyBytes)
		if err != nil {
			return err
		}
		body, errs := parseOperationBody(obj, modeCreate)
		if len(errs) > 0 {
			return invalidBody(errs)
		}
		if body.Patch.CompletedDateTime.Value != nil && !(body.Patch.Status.Set && body.Patch.Status.Value.Terminal()) {
			return invalidBody([]Detail{{Code: "invalidValue", Target: "completedDateTime", Message: "completedDateTime " +
				"can be given only with a terminal status (succeeded, partiallySucceeded, failed or submissionFailed)."}})
		}
		caller := callerOf(c)
		op, err := s.Create(c.Request().Context(), caller.TenantID, newOperation(body, caller), audit(c))
		if err != nil {
			return err
		}
		c.Response().Header().Set("Location", baseURL(c)+collectionPath+"/"+op.ID.String())
		return writeOperation(c, http.StatusCreated, op)
	}
}

func handleGetOperation(s OperationStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		if err := noQueryOptions(c); err != nil {
			return err
		}
		op, err := s.Get(c.Request().Context(), callerOf(c).TenantID, id)
		if err != nil {
			return err
		}
		return writeOperation(c, http.StatusOK, op)
	}
}

// handlePatchOperation serves PATCH /beta/tagOperations/{id} and, when bodyID is set, the seed's own
// PATCH /beta/tagOperation whose body's id names the operation.
func handlePatchOperation(s OperationStore, m *metrics, maxBodyBytes int64, bodyID bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		var id uuid.UUID
		if !bodyID {
			var err error
			if id, err = pathID(c); err != nil {
				return err
			}
		}
		if err := noQueryOptions(c); err != nil {
			return err
		}
		obj, err := readBody(c, maxBodyBytes)
		if err != nil {
			return err
		}
		body, errs := parseOperationBody(obj, modePatch)
		switch {
		case bodyID && !hasKey(obj, "id"):
			errs.add("id", "missingProperty", "id is required: it names the operation to update.")
		case !bodyID && body.ID != nil && *body.ID != id:
			errs.add("id", "readOnlyProperty", "id is read-only; it may be sent only with the operation's own id.")
		}
		if len(errs) > 0 {
			return invalidBody(errs)
		}
		if bodyID {
			id = *body.ID
		}
		p := body.Patch
		p.CreatedDateTime = body.CreatedDateTime
		p.IfVersion = ifMatchVersions(c.Request().Header)
		op, res, err := s.Patch(c.Request().Context(), callerOf(c).TenantID, id, p, audit(c))
		if err != nil {
			return err
		}
		m.countTransition(op, res)
		if prefersMinimal(c.Request().Header) {
			h := c.Response().Header()
			h.Set("ETag", etag(op.Version))
			h.Set("Preference-Applied", "return=minimal")
			return c.NoContent(http.StatusNoContent)
		}
		return writeOperation(c, http.StatusOK, op)
	}
}

func handleDeleteOperation(s OperationStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		if err := noQueryOptions(c); err != nil {
			return err
		}
		err = s.Delete(c.Request().Context(), callerOf(c).TenantID, id, ifMatchVersions(c.Request().Header), audit(c))
		if err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
}

type collectionJSON struct {
	Context  string          `json:"@odata.context"`
	Value    []operationJSON `json:"value"`
	NextLink string          `json:"@odata.nextLink,omitempty"`
}

func handleListOperations(s OperationStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		q, err := parseListQuery(c.QueryParams())
		if err != nil {
			return err
		}
		page, err := s.List(c.Request().Context(), callerOf(c).TenantID, q)
		if err != nil {
			return err
		}
		out := collectionJSON{Context: baseURL(c) + "/beta/$metadata#tagOperations", Value: make([]operationJSON, len(page.Operations))}
		for i, op := range page.Operations {
			out.Value[i] = toJSON(op, "")
		}
		if page.Next != nil {
			out.NextLink = baseURL(c) + collectionPath + "?$top=" + itoa(q.Top) + "&$skiptoken=" + encodeCursor(*page.Next)
		}
		return writeJSON(c, http.StatusOK, out)
	}
}

func hasKey(obj *object, key string) bool {
	_, ok := obj.values[key]
	return ok
}

// optionName returns the OData system query option a parameter names ("$top" and, as on Graph beta, "top").
func optionName(key string) string { return "$" + strings.TrimPrefix(key, "$") }

func noQueryOptions(c echo.Context) error {
	for key := range c.QueryParams() {
		return badRequest(key, "The query option "+quote(key)+" is not supported on this request.")
	}
	return nil
}

func parseListQuery(params url.Values) (store.ListQuery, error) {
	q := store.ListQuery{Top: defaultTop}
	seen := map[string]bool{}
	for key, values := range params {
		name := optionName(key)
		if seen[name] || len(values) > 1 {
			return q, badRequest(name, "The query option "+quote(name)+" is given more than once.")
		}
		seen[name] = true
		v := values[0]
		switch name {
		case "$top":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxTop {
				return q, badRequest(name, "$top must be an integer from 1 to "+itoa(maxTop)+".")
			}
			q.Top = n
		case "$skiptoken":
			cur, ok := decodeCursor(v)
			if !ok {
				return q, badRequest(name, "$skiptoken is not one this service issued; follow @odata.nextLink as it is.")
			}
			q.After = &cur
		default:
			return q, badRequest(key, "The query option "+quote(key)+" is not supported on this request.")
		}
	}
	return q, nil
}

// A cursor is opaque to clients: the last row's creation time (microseconds) and id, base64url.
func encodeCursor(cur store.Cursor) string {
	b := make([]byte, 8, 24)
	binary.BigEndian.PutUint64(b, uint64(cur.CreatedDateTime.UnixMicro()))
	b = append(b, cur.ID[:]...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (store.Cursor, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 24 {
		return store.Cursor{}, false
	}
	id, _ := uuid.FromBytes(b[8:])
	return store.Cursor{CreatedDateTime: time.UnixMicro(int64(binary.BigEndian.Uint64(b))).UTC(), ID: id}, true
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
