package handlers

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/caseops/caseops/store"
)

// operationJSON is a tagOperation as Graph shows it; field order is the order clients see.
type operationJSON struct {
	Context           string           `json:"@odata.context,omitempty"`
	Type              string           `json:"@odata.type"`
	ETag              string           `json:"@odata.etag"`
	LastModified      string           `json:"@caseops.lastModifiedDateTime,omitempty"`
	ID                string           `json:"id"`
	CreatedDateTime   string           `json:"createdDateTime"`
	CompletedDateTime *string          `json:"completedDateTime"`
	PercentProgress   *int32           `json:"percentProgress"`
	Status            store.Status     `json:"status"`
	Action            store.Action     `json:"action"`
	CreatedBy         *identitySetJSON `json:"createdBy"`
	ResultInfo        *resultInfoJSON  `json:"resultInfo"`
}

type identitySetJSON struct {
	Application *identityJSON `json:"application"`
	Device      *identityJSON `json:"device"`
	User        *identityJSON `json:"user"`
}

type identityJSON struct {
	ID          *string `json:"id"`
	DisplayName *string `json:"displayName"`
}

type resultInfoJSON struct {
	Code    *int32  `json:"code"`
	Message *string `json:"message"`
	Subcode *int32  `json:"subcode"`
}

// toJSON renders op; context is the @odata.context of a top-level entity, "" inside a collection.
func toJSON(op store.Operation, context string) operationJSON {
	j := operationJSON{
		Context:         context,
		Type:            op.ODataType,
		ETag:            etag(op.Revision()),
		ID:              op.ID.String(),
		CreatedDateTime: formatTime(op.CreatedDateTime),
		PercentProgress: op.PercentProgress,
		Status:          op.Status,
		Action:          op.Action,
	}
	if op.CompletedDateTime != nil {
		s := formatTime(*op.CompletedDateTime)
		j.CompletedDateTime = &s
	}
	if cb := op.CreatedBy; cb != nil {
		j.CreatedBy = &identitySetJSON{Application: identityToJSON(cb.Application),
			Device: identityToJSON(cb.Device), User: identityToJSON(cb.User)}
	}
	if ri := op.ResultInfo; ri != nil {
		j.ResultInfo = &resultInfoJSON{Code: ri.Code, Message: ri.Message, Subcode: ri.Subcode}
	}
	return j
}

func identityToJSON(i *store.Identity) *identityJSON {
	if i == nil {
		return nil
	}
	return &identityJSON{ID: i.ID, DisplayName: i.DisplayName}
}

// formatTime writes timestamps as Graph does: RFC 3339 in UTC with a Z.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// etag is the entity tag of an operation's revision: W/"<version>.<creation time>", the time in
// microseconds since 1970 in base 36. It changes with every write that changes something, and the
// creation time keeps an operation created again with a deleted one's id from matching its old tags.
func etag(r store.Revision) string {
	return `W/"` + strconv.FormatInt(r.Version, 10) + "." + strconv.FormatInt(r.Created.UnixMicro(), 36) + `"`
}

// parseETag reads a tag etag wrote, exactly as it wrote it: If-Match compares tags character by
// character (RFC 9110 §8.8.3.2), so "W/\"02.ABC\"" is not "W/\"2.abc\"" even though the numbers agree.
func parseETag(tag string) (store.Revision, bool) {
	inner, ok := strings.CutPrefix(tag, `W/"`)
	if !ok || !strings.HasSuffix(inner, `"`) {
		return store.Revision{}, false
	}
	version, created, ok := strings.Cut(strings.TrimSuffix(inner, `"`), ".")
	if !ok {
		return store.Revision{}, false
	}
	v, err := strconv.ParseInt(version, 10, 64)
	if err != nil || v < 1 {
		return store.Revision{}, false
	}
	micros, err := strconv.ParseInt(created, 36, 64)
	if err != nil || !store.TimeInRange(micros) {
		return store.Revision{}, false
	}
	r := store.Revision{Version: v, Created: time.UnixMicro(micros)}
	return r, etag(r) == tag
}

// baseURL is the absolute root this request reached, for Location, @odata.context and nextLink.
// An HTTP/1.0 request may name no host; then the address it reached stands in.
func baseURL(c echo.Context) string {
	host := c.Request().Host
	if addr, ok := c.Request().Context().Value(http.LocalAddrContextKey).(net.Addr); ok && host == "" {
		host = addr.String()
	}
	return scheme(c) + "://" + host
}

// scheme is https when the request came over TLS or a proxy says it did (the first X-Forwarded-Proto
// value), else http. Any other value a client sends is not copied into the URLs the service writes.
func scheme(c echo.Context) string {
	proto, _, _ := strings.Cut(c.Request().Header.Get(echo.HeaderXForwardedProto), ",")
	if c.IsTLS() || strings.EqualFold(strings.TrimSpace(proto), "https") {
		return "https"
	}
	return "http"
}

func writeJSON(c echo.Context, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.JSONBlob(status, b)
}

func itoa(n int) string { return strconv.Itoa(n) }
