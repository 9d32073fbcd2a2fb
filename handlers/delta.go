package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/caseops/caseops/handlers/spelling"
	"github.com/caseops/caseops/store"
)

// deltaToken is what $skiptoken and $deltatoken hold for delta, as base64url JSON. A $deltatoken starts a
// round after the snapshot Since; a $skiptoken continues a round (Since, Until) after the id After.
type deltaToken struct {
	Version int        `json:"v"`
	Kind    string     `json:"k"` // "delta" or "skip"
	Since   string     `json:"s,omitempty"`
	Until   string     `json:"u,omitempty"`
	After   *uuid.UUID `json:"a,omitempty"`
}

const deltaTokenVersion = 1

func encodeDeltaToken(t deltaToken) string {
	t.Version = deltaTokenVersion
	return encodeToken(t)
}

// decodeDeltaToken reads the token of option ($skiptoken or $deltatoken) into the query it continues.
func decodeDeltaToken(option, s string) (store.DeltaQuery, error) {
	invalid := badRequest(option, option+" is not one this service issued for delta; follow @odata.nextLink or @odata.deltaLink as it is.")
	var q store.DeltaQuery
	var t deltaToken
	if !decodeToken(s, &t) || t.Version != deltaTokenVersion {
		return q, invalid
	}
	snapshot := func(text string) (*store.Snapshot, bool) {
		snap, err := store.ParseSnapshot(text)
		return &snap, err == nil
	}
	var ok bool
	switch {
	case option == "$deltatoken" && t.Kind == "delta" && t.Until == "" && t.After == nil:
		q.Since, ok = snapshot(t.Since)
	case option == "$skiptoken" && t.Kind == "skip" && t.After != nil:
		q.After = t.After
		if q.Until, ok = snapshot(t.Until); ok && t.Since != "" {
			q.Since, ok = snapshot(t.Since)
		}
	}
	if !ok {
		return q, invalid
	}
	return q, nil
}

// deltaJSON is a page of a delta round: @odata.nextLink while the round has more, then @odata.deltaLink.
type deltaJSON struct {
	Context   string            `json:"@odata.context"`
	Value     []json.RawMessage `json:"value"`
	NextLink  string            `json:"@odata.nextLink,omitempty"`
	DeltaLink string            `json:"@odata.deltaLink,omitempty"`
}

type removedJSON struct {
	ID      string `json:"id"`
	Removed struct {
		Reason string `json:"reason"`
	} `json:"@removed"`
}

// handleDelta serves Graph's delta function: the first call returns every operation of the tenant (of the case,
// on a case's path) and, on its last page, an @odata.deltaLink; following that link returns what changed since,
// each operation once, deleted ones as {"id", "@removed": {"reason": "deleted"}}, and a new @odata.deltaLink.
func handleDelta(s OperationStore, sf surface) echo.HandlerFunc {
	return func(c echo.Context) error {
		caseID, err := sf.caseID(c)
		if err != nil {
			return err
		}
		q := store.DeltaQuery{}
		params, err := queryOptions(c)
		if err != nil {
			return err
		}
		for key, values := range params {
			name := optionName(key)
			if name != "$skiptoken" && name != "$deltatoken" {
				advice := "follow @odata.nextLink and @odata.deltaLink as they are, and set the page size with Prefer: odata.maxpagesize."
				if meant := spelling.Nearest(name, []string{"$skiptoken", "$deltatoken"}); meant != "" {
					advice = "did you mean " + meant + "? F" + strings.TrimPrefix(advice, "f")
				}
				return badRequest(key, "The query option "+quote(key)+" is not supported on delta; "+advice)
			}
			if len(params) > 1 || len(values) > 1 {
				return badRequest(name, "Give one $skiptoken or one $deltatoken, as @odata.nextLink or @odata.deltaLink has it.")
			}
			var err error
			if q, err = decodeDeltaToken(name, values[0]); err != nil {
				return err
			}
		}
		q.Top = defaultTop
		if n, ok := maxPageSize(c.Request().Header); ok {
			q.Top = n
			c.Response().Header().Set("Preference-Applied", "odata.maxpagesize="+itoa(n))
		}
		if sf.cased {
			q.Case = &caseID
		}
		ctx, tenant := c.Request().Context(), callerOf(c).TenantID
		page, err := s.Delta(ctx, tenant, q)
		if errors.Is(err, store.ErrInvalidSnapshot) {
			option := "$skiptoken"
			if q.Until == nil {
				option = "$deltatoken"
			}
			return badRequest(option, option+" is not one this service issued for delta; follow @odata.nextLink or @odata.deltaLink as it is.")
		}
		if err != nil {
			return err
		}
		if len(page.Changes) == 0 {
			// An empty page may be an unknown case's: only then is the case read.
			if err := sf.caseExists(ctx, s, tenant, caseID); err != nil {
				return err
			}
		}
		out := deltaJSON{Context: sf.contextURL(c, caseID), Value: make([]json.RawMessage, len(page.Changes))}
		prefs := sf.prefs(c)
		for i, ch := range page.Changes {
			if op := ch.Operation; op != nil {
				out.Value[i] = selectJSON(sf.toJSON(*op, "", prefs), nil)
				if sf.cased {
					out.Value[i] = appendOwnProperties(out.Value[i], *op, nil, prefs.includeUnknown)
				}
				continue
			}
			r := removedJSON{ID: ch.ID.String()}
			r.Removed.Reason = "deleted"
			out.Value[i], _ = json.Marshal(r) // strings always marshal
		}
		link := sf.collectionURL(c, caseID) + "/delta?"
		var since string
		if q.Since != nil {
			since = q.Since.String()
		}
		if page.More {
			last := page.Changes[len(page.Changes)-1].ID
			out.NextLink = link + "$skiptoken=" + encodeDeltaToken(deltaToken{Kind: "skip", Since: since, Until: page.Until.String(), After: &last})
		} else {
			out.DeltaLink = link + "$deltatoken=" + encodeDeltaToken(deltaToken{Kind: "delta", Since: page.Until.String()})
		}
		return writeJSON(c, http.StatusOK, out)
	}
}

// maxPageSize reads Prefer: odata.maxpagesize=N, clamped to 1..maxTop; a preference is a hint, so a
// malformed one is ignored.
func maxPageSize(h http.Header) (int, bool) {
	for _, v := range h.Values("Prefer") {
		for _, pref := range strings.Split(v, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(pref), "=")
			if !strings.EqualFold(strings.TrimSpace(name), "odata.maxpagesize") {
				continue
			}
			n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(value), `"`))
			if err != nil || n < 1 {
				return 0, false
			}
			return min(n, maxTop), true
		}
	}
	return 0, false
}
