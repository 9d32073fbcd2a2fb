package handlers

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/caseops/caseops/store"
)

// GET .../operations/{id}/history and GET .../operations/overview are caseops's own reads, beside the Graph
// API: Graph has no resource for an operation's history or for counts over time. The dashboard reads both.

// historyEventJSON is one event of an operation's history.
type historyEventJSON struct {
	Sequence         int64            `json:"sequence"`
	OccurredDateTime string           `json:"occurredDateTime"`
	Kind             string           `json:"kind"`
	Actor            *identitySetJSON `json:"actor"`
	RequestID        *string          `json:"requestId"`
	Changes          json.RawMessage  `json:"changes"`
}

type historyJSON struct {
	Value    []historyEventJSON `json:"value"`
	NextLink string             `json:"@odata.nextLink,omitempty"`
}

// historyToken is what a history $skiptoken holds: the operation it pages and the seq of the page's last event.
type historyToken struct {
	Operation string `json:"o"`
	AfterSeq  int64  `json:"q"`
}

var historyOptionNames = []string{"$top", "$skiptoken"}

func handleHistory(s OperationStore, sf surface) echo.HandlerFunc {
	return func(c echo.Context) error {
		caseID, err := sf.caseID(c)
		if err != nil {
			return err
		}
		id, err := pathID(c)
		if err != nil {
			return err
		}
		params, err := queryOptions(c)
		if err != nil {
			return err
		}
		q := store.HistoryQuery{Case: caseID, Operation: id, Top: defaultTop}
		for key, values := range params {
			name := optionName(key)
			if len(values) > 1 {
				return repeatedOption(name)
			}
			switch name {
			case "$top":
				if q.Top, err = parseTop(values[0]); err != nil {
					return err
				}
			case "$skiptoken":
				var tok historyToken
				if !decodeToken(values[0], &tok) || tok.Operation != id.String() || tok.AfterSeq < 1 {
					return badRequest("$skiptoken", "$skiptoken is not one this service issued for this operation's history; follow @odata.nextLink as it is.")
				}
				q.AfterSeq = tok.AfterSeq
			default:
				return badRequest(key, "The query option "+quote(key)+" is not supported on an operation's history, which takes "+
					joinWords(historyOptionNames, "and")+".")
			}
		}
		ctx, tenant := c.Request().Context(), callerOf(c).TenantID
		page, err := s.History(ctx, tenant, q)
		if err != nil {
			return sf.whichNotFound(ctx, s, tenant, caseID, err)
		}
		out := historyJSON{Value: make([]historyEventJSON, len(page.Events))}
		for i, e := range page.Events {
			out.Value[i] = historyEventJSON{Sequence: e.Seq, OccurredDateTime: formatTime(e.OccurredAt), Kind: e.Kind,
				RequestID: e.RequestID, Changes: e.Changes}
			if a := e.Actor; a != nil {
				out.Value[i].Actor = &identitySetJSON{Application: identityToJSON(a.Application),
					Device: identityToJSON(a.Device), User: identityToJSON(a.User)}
			}
		}
		if page.More {
			last := page.Events[len(page.Events)-1].Seq
			out.NextLink = sf.collectionURL(c, caseID) + "/" + id.String() + "/history?$top=" + itoa(q.Top) +
				"&$skiptoken=" + encodeToken(historyToken{Operation: id.String(), AfterSeq: last})
		}
		return writeJSON(c, http.StatusOK, out)
	}
}

// overviewJSON is GET .../operations/overview.
type overviewJSON struct {
	Statuses      map[store.Status]int64 `json:"statuses"`
	StatusChanges statusChangesJSON      `json:"statusChanges"`
	Failures      []failureJSON          `json:"failures"`
}

type statusChangesJSON struct {
	Since     string  `json:"since"`
	PerMinute []int64 `json:"perMinute"`
}

type failureJSON struct {
	Code  *int32 `json:"code"`
	Count int64  `json:"count"`
}

func handleOverview(s OperationStore, sf surface) echo.HandlerFunc {
	return func(c echo.Context) error {
		caseID, err := sf.caseID(c)
		if err != nil {
			return err
		}
		if err := noQueryOptions(c); err != nil {
			return err
		}
		o, err := s.Overview(c.Request().Context(), callerOf(c).TenantID, caseID)
		if err != nil {
			return err
		}
		out := overviewJSON{Statuses: o.Statuses, Failures: make([]failureJSON, len(o.Failures)),
			StatusChanges: statusChangesJSON{Since: o.Since.Format(time.RFC3339), PerMinute: o.StatusChanges}}
		for i, f := range o.Failures {
			out.Failures[i] = failureJSON(f)
		}
		return writeJSON(c, http.StatusOK, out)
	}
}
