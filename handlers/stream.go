package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/caseops/caseops/store"
)

// The change stream: GET .../operations/stream answers text/event-stream, one event per change of an
// operation the caller may read, its data the entity as the list shows it ($select and $filter honoured), its
// id a position a client sends back in Last-Event-ID to receive, once and in order, every change it missed.

// StreamSource opens subscriptions to committed changes: store.Watcher.
type StreamSource interface {
	Subscribe(ctx context.Context, tenant string, caseID *uuid.UUID) (*store.Subscription, error)
}

// DefaultStreamHeartbeat is how often an idle stream sends a comment, so that proxies keep it open.
const DefaultStreamHeartbeat = 15 * time.Second

// DefaultMaxStreams bounds the streams one process keeps open.
const DefaultMaxStreams = 10000

// streamWriteTimeout bounds one write to a stream: a client that stops reading is dropped after it.
const streamWriteTimeout = 10 * time.Second

// streamPositionVersion versions the Last-Event-ID a stream issues.
const streamPositionVersion = 1

type streamPosition struct {
	Version  int    `json:"v"`
	Since    string `json:"s"`
	Until    string `json:"u"`
	AfterSeq int64  `json:"q"`
}

func encodeStreamPosition(p store.Position) string {
	return encodeToken(streamPosition{Version: streamPositionVersion, Since: p.Since.String(), Until: p.Until.String(), AfterSeq: p.AfterSeq})
}

func decodeStreamPosition(s string) (store.Position, error) {
	invalid := badRequest("Last-Event-ID", "Last-Event-ID is not an event id this service sent; reconnect without it, or with the id of the last event received.")
	var sp streamPosition
	if !decodeToken(s, &sp) || sp.Version != streamPositionVersion || sp.AfterSeq < 0 {
		return store.Position{}, invalid
	}
	since, err1 := store.ParseSnapshot(sp.Since)
	until, err2 := store.ParseSnapshot(sp.Until)
	if err1 != nil || err2 != nil || until.Xmax < since.Xmax {
		return store.Position{}, invalid
	}
	return store.Position{Since: since, Until: until, AfterSeq: sp.AfterSeq}, nil
}

// streamOptionNames are the query options a stream takes.
var streamOptionNames = []string{"$filter", "$select"}

// streams counts the open streams of one server against its limit.
type streams struct {
	open  atomic.Int64
	limit int64
}

func handleStream(s OperationStore, src StreamSource, sf surface, open *streams, m *metrics, heartbeat time.Duration) echo.HandlerFunc {
	return func(c echo.Context) error {
		caseID, err := sf.caseID(c)
		if err != nil {
			return err
		}
		params, err := queryOptions(c)
		if err != nil {
			return err
		}
		for key := range params {
			if name := optionName(key); name != "$filter" && name != "$select" {
				return badRequest(key, "The query option "+quote(key)+" is not supported on a stream, which takes "+joinWords(streamOptionNames, "and")+".")
			}
		}
		opts, err := parseListOptions(params, sf)
		if err != nil {
			return err
		}
		var from *store.Position
		if id := c.Request().Header.Get("Last-Event-ID"); id != "" {
			p, err := decodeStreamPosition(id)
			if err != nil {
				return err
			}
			from = &p
		}
		if src == nil {
			return &Error{Status: http.StatusServiceUnavailable, Message: "Change streams are not enabled on this server."}
		}
		ctx, tenant := c.Request().Context(), callerOf(c).TenantID
		if err := sf.caseExists(ctx, s, tenant, caseID); err != nil {
			return err
		}
		if n := open.open.Add(1); n > open.limit {
			open.open.Add(-1)
			return &Error{Status: http.StatusServiceUnavailable, Header: http.Header{"Retry-After": {"5"}},
				Message: "This server has " + strconv.FormatInt(open.limit, 10) + " change streams open, its limit; retry shortly."}
		}
		m.streams.Inc()
		defer func() { open.open.Add(-1); m.streams.Dec() }()

		var inCase *uuid.UUID
		if sf.cased {
			inCase = &caseID
		}
		sub, err := src.Subscribe(ctx, tenant, inCase)
		if err != nil {
			return err
		}
		defer sub.Close()
		if from != nil && from.Until.Xmax > sub.Start.Xmax {
			return badRequest("Last-Event-ID", "Last-Event-ID is not an event id this service sent; reconnect without it, or with the id of the last event received.")
		}

		w := &eventWriter{c: c, rc: http.NewResponseController(c.Response().Writer), sf: sf, fields: opts.fields,
			filter: opts.query.Filter, prefs: sf.prefs(c)}
		h := c.Response().Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no") // nginx would hold the events back otherwise
		c.Response().WriteHeader(http.StatusOK)
		if err := w.comment("connected"); err != nil {
			return nil
		}
		if from != nil {
			// What the client missed: the rest of its round, then the rounds up to where the subscription starts.
			if err := w.catchUp(ctx, s, tenant, inCase, *from); err != nil {
				return nil
			}
			if from.Until.String() != sub.Start.String() {
				if err := w.catchUp(ctx, s, tenant, inCase, store.Position{Since: from.Until, Until: sub.Start}); err != nil {
					return nil
				}
			}
		}
		tick := time.NewTicker(heartbeat)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
				if err := w.comment("heartbeat"); err != nil {
					return nil
				}
			case batch, ok := <-sub.C:
				if !ok {
					// Fell behind, or the server is stopping: the client reconnects with Last-Event-ID.
					return nil
				}
				for _, ch := range batch {
					if err := w.event(*ch); err != nil {
						return nil
					}
				}
			}
		}
	}
}

// eventWriter renders changes as a stream's events.
type eventWriter struct {
	c      echo.Context
	rc     *http.ResponseController
	sf     surface
	fields []string
	filter store.Filter
	prefs  renderPrefs
	buf    bytes.Buffer
}

func (w *eventWriter) catchUp(ctx context.Context, s OperationStore, tenant string, inCase *uuid.UUID, from store.Position) error {
	const page = 500
	for {
		changes, err := s.Changes(ctx, tenant, store.ChangesQuery{From: from, Case: inCase, Top: page})
		if err != nil {
			return err
		}
		for _, ch := range changes {
			if err := w.event(ch); err != nil {
				return err
			}
		}
		if len(changes) < page {
			return nil
		}
		from.AfterSeq = changes[len(changes)-1].At.AfterSeq
	}
}

// event writes one change, unless $filter leaves it out; a removed operation passes every filter, since the
// client cannot tell otherwise whether it still holds one it showed.
func (w *eventWriter) event(ch store.StreamChange) error {
	var data []byte
	if op := ch.Operation; op != nil {
		if w.filter != nil && !store.Matches(w.filter, *op) {
			return nil
		}
		data = selectJSON(w.sf.toJSON(*op, "", w.prefs), w.fields)
		if w.sf.cased {
			data = appendOwnProperties(data, *op, w.fields, w.prefs.includeUnknown)
		}
	} else {
		r := removedJSON{ID: ch.ID.String()}
		r.Removed.Reason = "deleted"
		data, _ = json.Marshal(r) // strings always marshal
	}
	w.buf.Reset()
	w.buf.WriteString("id: ")
	w.buf.WriteString(encodeStreamPosition(ch.At))
	w.buf.WriteString("\ndata: ")
	w.buf.Write(data) // JSON without a newline: one data line
	w.buf.WriteString("\n\n")
	return w.write(w.buf.Bytes())
}

func (w *eventWriter) comment(text string) error { return w.write([]byte(": " + text + "\n\n")) }

func (w *eventWriter) write(b []byte) error {
	if err := w.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if _, err := w.c.Response().Write(b); err != nil {
		return err
	}
	return w.rc.Flush()
}

// isStreamPath reports whether path is a stream's, which the request timeout and compression leave alone.
func isStreamPath(path string) bool { return strings.HasSuffix(path, "/stream") }
