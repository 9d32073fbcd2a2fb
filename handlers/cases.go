package handlers

import (
	"net/url"

	"context"
	"encoding/json"
	"github.com/caseops/caseops/handlers/odata"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/caseops/caseops/handlers/spelling"
	"github.com/caseops/caseops/store"
)

// CaseStore is what the case handlers need of the store.
type CaseStore interface {
	CreateCase(ctx context.Context, tenant string, n store.NewCase, a store.Audit) (store.Case, error)
	GetCase(ctx context.Context, tenant string, id uuid.UUID) (store.Case, error)
	ListCases(ctx context.Context, tenant string, q store.CaseQuery) ([]store.Case, *int64, error)
	PatchCase(ctx context.Context, tenant string, id uuid.UUID, p store.CasePatch, a store.Audit) (store.Case, error)
	CloseCase(ctx context.Context, tenant string, id uuid.UUID, a store.Audit) (store.Case, error)
	ReopenCase(ctx context.Context, tenant string, id uuid.UUID, a store.Audit) (store.Case, error)
	DeleteCase(ctx context.Context, tenant string, id uuid.UUID, a store.Audit) error
}

const (
	caseODataType       = "#microsoft.graph.security.ediscoveryCase"
	maxCaseDisplayChars = 256
)

// caseJSON is an ediscoveryCase as Graph shows it; field order is the order clients see.
type caseJSON struct {
	Context              string           `json:"@odata.context,omitempty"`
	Type                 string           `json:"@odata.type"`
	ID                   string           `json:"id"`
	DisplayName          string           `json:"displayName"`
	Description          *string          `json:"description"`
	ExternalID           *string          `json:"externalId"`
	Status               store.CaseStatus `json:"status"`
	CreatedDateTime      string           `json:"createdDateTime"`
	LastModifiedDateTime string           `json:"lastModifiedDateTime"`
	LastModifiedBy       *identitySetJSON `json:"lastModifiedBy"`
	ClosedBy             *identitySetJSON `json:"closedBy"`
	ClosedDateTime       *string          `json:"closedDateTime"`
}

// caseProperties are the properties of an ediscoveryCase, in the order messages name them.
var caseProperties = []string{"id", "displayName", "description", "externalId", "status", "createdDateTime",
	"lastModifiedDateTime", "lastModifiedBy", "closedBy", "closedDateTime"}

func caseToJSON(k store.Case, context string) caseJSON {
	j := caseJSON{
		Context:              context,
		Type:                 caseODataType,
		ID:                   k.ID.String(),
		DisplayName:          k.DisplayName,
		Description:          k.Description,
		ExternalID:           k.ExternalID,
		Status:               k.Status,
		CreatedDateTime:      formatTime(k.CreatedDateTime),
		LastModifiedDateTime: formatTime(k.LastModifiedDateTime),
		LastModifiedBy:       identitySetToJSON(k.LastModifiedBy),
		ClosedBy:             identitySetToJSON(k.ClosedBy),
	}
	if k.ClosedDateTime != nil {
		s := formatTime(*k.ClosedDateTime)
		j.ClosedDateTime = &s
	}
	return j
}

func identitySetToJSON(s *store.IdentitySet) *identitySetJSON {
	if s == nil {
		return nil
	}
	return &identitySetJSON{Application: identityToJSON(s.Application), Device: identityToJSON(s.Device), User: identityToJSON(s.User)}
}

func casesURL(c echo.Context, version string) string { return baseURL(c) + version + casesPath }

func casesContext(c echo.Context, version string) string {
	return baseURL(c) + version + "/$metadata#security/cases/ediscoveryCases"
}

// parseCaseBody validates a case POST or PATCH body into the properties it sets; on create displayName is required.
func parseCaseBody(obj *object, mode bodyMode) (store.CasePatch, problems) {
	var out store.CasePatch
	var errs problems
	for _, key := range obj.keys {
		v := obj.values[key]
		switch key {
		case "@odata.type":
			checkODataType(&errs, key, v, strings.TrimPrefix(caseODataType, "#"))
		case "displayName":
			s, ok := v.(string)
			if n := utf8.RuneCountInString(s); !ok || n < 1 || n > maxCaseDisplayChars || strings.ContainsRune(s, 0) {
				errs.invalid(key, "displayName must be a string of 1 to "+itoa(maxCaseDisplayChars)+" characters without U+0000.")
				continue
			}
			out.DisplayName = store.Some(s)
		case "description", "externalId":
			var p *string
			if v != nil {
				s, ok := v.(string)
				if !ok || strings.ContainsRune(s, 0) {
					errs.invalid(key, key+" must be a string without U+0000, or null.")
					continue
				}
				p = &s
			}
			if key == "description" {
				out.Description = store.Some(p)
			} else {
				out.ExternalID = store.Some(p)
			}
		case "id", "status", "createdDateTime", "lastModifiedDateTime", "lastModifiedBy", "closedBy", "closedDateTime":
			errs.add(key, "readOnlyProperty", key+" is set by the service and cannot be given; "+
				"a case takes displayName, description and externalId.")
		default:
			if !isIgnoredAnnotation(key) {
				errs.unknown(key, "ediscoveryCase", key, caseProperties)
			}
		}
	}
	if mode == modeCreate && !hasKey(obj, "displayName") {
		errs.add("displayName", "missingProperty", "displayName is required: every case has a name of 1 to "+
			itoa(maxCaseDisplayChars)+" characters.")
	}
	return out, errs
}

func handleCreateCase(s CaseStore, version string, maxBodyBytes int64) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := noQueryOptions(c); err != nil {
			return err
		}
		obj, err := readBody(c, maxBodyBytes)
		if err != nil {
			return err
		}
		p, errs := parseCaseBody(obj, modeCreate)
		if errs.count() > 0 {
			return errs.error()
		}
		k, err := s.CreateCase(c.Request().Context(), callerOf(c).TenantID,
			store.NewCase{DisplayName: p.DisplayName.Value, Description: p.Description.Value, ExternalID: p.ExternalID.Value}, audit(c))
		if err != nil {
			return err
		}
		c.Response().Header().Set("Location", casesURL(c, version)+"/"+k.ID.String())
		return writeJSON(c, http.StatusCreated, caseToJSON(k, casesContext(c, version)+"/$entity"))
	}
}

func handleGetCase(s CaseStore, version string) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathCaseID(c)
		if err != nil {
			return err
		}
		if err := noQueryOptions(c); err != nil {
			return err
		}
		k, err := s.GetCase(c.Request().Context(), callerOf(c).TenantID, id)
		if err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, caseToJSON(k, casesContext(c, version)+"/$entity"))
	}
}

func handlePatchCase(s CaseStore, version string, maxBodyBytes int64) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathCaseID(c)
		if err != nil {
			return err
		}
		if err := noQueryOptions(c); err != nil {
			return err
		}
		obj, err := readBody(c, maxBodyBytes)
		if err != nil {
			return err
		}
		p, errs := parseCaseBody(obj, modePatch)
		if errs.count() > 0 {
			return errs.error()
		}
		k, err := s.PatchCase(c.Request().Context(), callerOf(c).TenantID, id, p, audit(c))
		if err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, caseToJSON(k, casesContext(c, version)+"/$entity"))
	}
}

func handleDeleteCase(s CaseStore) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathCaseID(c)
		if err != nil {
			return err
		}
		if err := noQueryOptions(c); err != nil {
			return err
		}
		if err := s.DeleteCase(c.Request().Context(), callerOf(c).TenantID, id, audit(c)); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
}

// handleSetCaseStatus serves POST .../close (closing) and .../reopen.
func handleSetCaseStatus(s CaseStore, closing bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		set := s.ReopenCase
		if closing {
			set = s.CloseCase
		}
		id, err := pathCaseID(c)
		if err != nil {
			return err
		}
		if err := noQueryOptions(c); err != nil {
			return err
		}
		if c.Request().ContentLength > 0 {
			// Graph's close and reopen take no parameters; an empty JSON object is what SDKs send at most.
			obj, err := readBody(c, 1024)
			if err != nil {
				return err
			}
			for _, key := range obj.keys {
				return badRequest(key, "This action takes no parameters; "+quote(key)+" is not one.")
			}
		}
		if _, err := set(c.Request().Context(), callerOf(c).TenantID, id, audit(c)); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
}

// caseToken is what a case list $skiptoken holds, as base64url JSON: the creation time (Unix microseconds)
// and id of the last case of the page.
type caseToken struct {
	Created int64     `json:"t"`
	ID      uuid.UUID `json:"i"`
}

var caseListOptions = []string{"$top", "$skiptoken", "$filter", "$count"}

func handleListCases(s CaseStore, version string) echo.HandlerFunc {
	return func(c echo.Context) error {
		params, err := queryOptions(c)
		if err != nil {
			return err
		}
		top := defaultTop
		var after *store.CaseCursor
		var filter store.Filter
		var filterText string
		count := false
		for key, values := range params {
			name := optionName(key)
			if len(values) > 1 {
				return repeatedOption(name)
			}
			switch name {
			case "$top":
				if top, err = parseTop(values[0]); err != nil {
					return err
				}
			case "$skiptoken":
				if after, err = decodeCaseToken(values[0]); err != nil {
					return err
				}
			case "$filter":
				expr, err := odata.ParseFilter(values[0], caseQueryProperties, caseQueryPropertyNames)
				if err != nil {
					return badRequest("$filter", "The $filter is not valid: "+err.Error())
				}
				filter, filterText = toStoreFilter(expr), values[0]
			case "$count":
				switch values[0] {
				case "true":
					count = true
				case "false":
				default:
					return badRequest("$count", "$count must be true or false.")
				}
			default:
				msg := "The query option " + quote(key) + " is not supported on a list of cases"
				if meant := spelling.Nearest(name, caseListOptions); meant != "" {
					msg += "; did you mean " + meant + "?"
				} else {
					msg += ", which takes $filter, $count, $top and $skiptoken (follow @odata.nextLink as it is)."
				}
				return badRequest(key, msg)
			}
		}
		cases, total, err := s.ListCases(c.Request().Context(), callerOf(c).TenantID,
			store.CaseQuery{Filter: filter, After: after, Top: top + 1, Count: count})
		if err != nil {
			return err
		}
		out := listJSON{Context: casesContext(c, version), Count: total, Value: []json.RawMessage{}}
		for i, k := range cases {
			if i == top {
				last := cases[top-1]
				token := encodeToken(caseToken{Created: last.CreatedDateTime.UnixMicro(), ID: last.ID})
				out.NextLink = casesURL(c, version) + "?$top=" + itoa(top) + "&$skiptoken=" + token
				if filterText != "" {
					out.NextLink += "&$filter=" + url.QueryEscape(filterText)
				}
				break
			}
			b, _ := json.Marshal(caseToJSON(k, "")) // caseJSON always marshals
			out.Value = append(out.Value, b)
		}
		return writeJSON(c, http.StatusOK, out)
	}
}

// caseQueryProperties are the case properties $filter sees, with the type its literals must have.
var caseQueryProperties = odata.Schema{
	string(store.CaseFieldDisplayName):          {Kind: odata.KindString},
	string(store.CaseFieldDescription):          {Kind: odata.KindString},
	string(store.CaseFieldExternalID):           {Kind: odata.KindString},
	string(store.CaseFieldStatus):               {Kind: odata.KindEnum, Members: enumStrings(store.CaseStatuses)},
	string(store.CaseFieldCreatedDateTime):      {Kind: odata.KindDateTimeOffset},
	string(store.CaseFieldLastModifiedDateTime): {Kind: odata.KindDateTimeOffset},
	string(store.CaseFieldClosedDateTime):       {Kind: odata.KindDateTimeOffset},
}

var caseQueryPropertyNames = enumStrings(store.CaseFields)

func decodeCaseToken(s string) (*store.CaseCursor, error) {
	invalid := badRequest("$skiptoken", "$skiptoken is not one this service issued; follow @odata.nextLink as it is.")
	var tok caseToken
	if !decodeToken(s, &tok) || tok.ID == uuid.Nil || !store.TimeInRange(tok.Created) {
		return nil, invalid
	}
	return &store.CaseCursor{Created: time.UnixMicro(tok.Created).UTC(), ID: tok.ID}, nil
}
