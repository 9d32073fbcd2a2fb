package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/caseops/caseops/handlers/auth"
	"github.com/caseops/caseops/store"
)

// Detail is one problem in a request, named by the property path it concerns.
type Detail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Target  string `json:"target"`
}

// Error is a failure a client is told about, in the Graph error shape.
type Error struct {
	Status  int
	Message string
	Target  string
	Details []Detail
	// RetryAfter, when positive, becomes a Retry-After header (seconds).
	RetryAfter int
	// Header holds extra response headers, such as WWW-Authenticate.
	Header http.Header
}

func (e *Error) Error() string { return e.Message }

func newError(status int, message string) *Error { return &Error{Status: status, Message: message} }

func badRequest(target, message string) *Error {
	return &Error{Status: http.StatusBadRequest, Message: message, Target: target}
}

// invalidBody reports every problem found in a request body at once.
func invalidBody(details []Detail) *Error { return (&problems{listed: details}).error() }

// error is the answer to a body with these problems: each of them, or the first maxDetails and a count of the rest.
func (p *problems) error() *Error {
	e := &Error{Status: http.StatusBadRequest, Details: p.listed}
	targets := make([]string, len(p.listed))
	for i, d := range p.listed {
		targets[i] = d.Target
	}
	switch {
	case p.more > 0:
		e.Message = "The request body has " + itoa(p.count()) + " problems; the first " + itoa(len(p.listed)) +
			" concern " + strings.Join(targets, ", ") + "."
		e.Details = append(e.Details[:len(e.Details):len(e.Details)], Detail{Code: "moreProblems", Message: itoa(p.more) +
			" more problems are not listed; correct these and send the request again to see the rest."})
	case len(p.listed) == 1:
		e.Message, e.Target = p.listed[0].Message, p.listed[0].Target
	default:
		e.Message = "The request body has " + itoa(len(p.listed)) + " invalid properties: " + strings.Join(targets, ", ") + "."
	}
	return e
}

// errorCodes are Graph's error codes: the HTTP status name in lowerCamelCase.
var errorCodes = map[int]string{
	http.StatusBadRequest:                  "badRequest",
	http.StatusUnauthorized:                "unauthorized",
	http.StatusForbidden:                   "forbidden",
	http.StatusNotFound:                    "notFound",
	http.StatusMethodNotAllowed:            "methodNotAllowed",
	http.StatusConflict:                    "conflict",
	http.StatusPreconditionFailed:          "preconditionFailed",
	http.StatusRequestEntityTooLarge:       "requestEntityTooLarge",
	http.StatusUnsupportedMediaType:        "unsupportedMediaType",
	http.StatusTooManyRequests:             "tooManyRequests",
	http.StatusInternalServerError:         "internalServerError",
	http.StatusServiceUnavailable:          "serviceUnavailable",
	http.StatusRequestTimeout:              "requestTimeout",
	http.StatusGatewayTimeout:              "gatewayTimeout",
	http.StatusRequestHeaderFieldsTooLarge: "requestHeaderFieldsTooLarge",
}

func errorCode(status int) string {
	if c, ok := errorCodes[status]; ok {
		return c
	}
	words := strings.Fields(http.StatusText(status))
	if len(words) == 0 {
		return "error"
	}
	code := strings.ToLower(words[0])
	for _, w := range words[1:] {
		code += strings.ToUpper(w[:1]) + strings.ToLower(w[1:])
	}
	return code
}

type errorBody struct {
	Error errorJSON `json:"error"`
}

type errorJSON struct {
	Code       string         `json:"code"`
	Message    string         `json:"message"`
	Target     string         `json:"target,omitempty"`
	Details    []Detail       `json:"details,omitempty"`
	InnerError innerErrorJSON `json:"innerError"`
}

type innerErrorJSON struct {
	Date            string `json:"date"`
	RequestID       string `json:"request-id"`
	ClientRequestID string `json:"client-request-id"`
}

// retryAfterSeconds is what a client is told to wait while the database is away.
const retryAfterSeconds = 5

// StatusClientClosedRequest is the status a request is logged and counted with when its client went away
// before the answer (nginx's 499): no answer is sent.
const StatusClientClosedRequest = 499

// outcomeUnknownMessage answers the one 503 after which a write may have been applied: every other 503 wrote nothing.
const outcomeUnknownMessage = "The database stopped answering after this write was sent, so the write may or may not " +
	"have been applied: GET the operation before retrying, or retry a POST with the same Repeatability-Request-ID."

// toError decides what a client may see of err: store errors become their HTTP meaning,
// Echo's own errors keep their status, and anything else is a 500 that only the log explains.
func toError(err error, maxBodyBytes int64) (*Error, bool) {
	var e *Error
	var he *echo.HTTPError
	var invalid *store.InvalidError
	var transition *store.TransitionError
	switch {
	case errors.As(err, &e):
		return e, false
	case errors.As(err, &invalid):
		return invalidBody([]Detail{{Code: "invalidValue", Message: invalid.Message, Target: invalid.Target}}), false
	case errors.Is(err, store.ErrNotFound):
		return newError(http.StatusNotFound, "The operation does not exist."), false
	case errors.Is(err, store.ErrCaseNotFound):
		return newError(http.StatusNotFound, "The eDiscovery case does not exist."), false
	case errors.Is(err, store.ErrCaseAlreadyExists):
		return newError(http.StatusConflict, "An eDiscovery case with this id already exists."), false
	case errors.Is(err, store.ErrCaseClosed):
		return newError(http.StatusConflict, "The eDiscovery case is closed and accepts no new operation; reopen it first."), false
	case errors.Is(err, store.ErrCaseBusy):
		return newError(http.StatusConflict, "The eDiscovery case holds an operation that has not finished; "+
			"it can be deleted once every operation in it has a terminal status."), false
	case errors.Is(err, store.ErrAlreadyExists):
		return newError(http.StatusConflict, "An operation with this id already exists."), false
	case errors.Is(err, store.ErrPreconditionFailed):
		return newError(http.StatusPreconditionFailed,
			"The operation has changed since the ETag in If-Match was issued; read it again and retry."), false
	case errors.As(err, &transition):
		return &Error{Status: http.StatusConflict, Target: "status", Message: "status cannot change from " +
			string(transition.From) + " to " + string(transition.To) + ": " + transitionRule(transition.From)}, false
	case errors.Is(err, store.ErrInvalidTransition):
		return &Error{Status: http.StatusConflict, Target: "status", Message: "The status cannot change this way: " +
			"notStarted may become any status, running may become running, succeeded, partiallySucceeded or failed, " +
			"and a terminal status never changes."}, false
	case errors.Is(err, store.ErrOutcomeUnknown):
		return &Error{Status: http.StatusServiceUnavailable, RetryAfter: retryAfterSeconds, Message: outcomeUnknownMessage}, true
	case errors.Is(err, store.ErrUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, RetryAfter: retryAfterSeconds,
			Message: "The service cannot reach its database right now; retry after a few seconds."}, true
	case errors.Is(err, auth.ErrKeysUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, RetryAfter: retryAfterSeconds,
			Message: "The service cannot fetch the keys that sign bearer tokens right now; retry after a few seconds."}, true
	case errors.As(err, &he):
		return fromEchoError(he, maxBodyBytes), false
	}
	return newError(http.StatusInternalServerError, "An internal error occurred."), true
}

func transitionRule(from store.Status) string {
	if from == store.StatusRunning {
		return "a running operation may only become succeeded, partiallySucceeded or failed."
	}
	return "a terminal status never changes."
}

func fromEchoError(he *echo.HTTPError, maxBodyBytes int64) *Error {
	switch he.Code {
	case http.StatusNotFound:
		return newError(he.Code, "No resource matches this URL.")
	case http.StatusMethodNotAllowed:
		return newError(he.Code, "This method is not allowed on this resource.")
	case http.StatusRequestEntityTooLarge:
		return bodyTooLarge(maxBodyBytes)
	case http.StatusUnsupportedMediaType:
		return newError(he.Code, "The Content-Type must be application/json or application/merge-patch+json.")
	case http.StatusServiceUnavailable:
		return &Error{Status: he.Code, RetryAfter: retryAfterSeconds, Message: "The service is unavailable; retry after a few seconds."}
	}
	if he.Code >= 500 {
		return newError(he.Code, "An internal error occurred.")
	}
	msg := http.StatusText(he.Code)
	if s, ok := he.Message.(string); ok && s != "" {
		msg = s
	}
	return newError(he.Code, msg)
}

// errorHandler writes every error, Echo's own included, as a Graph error body.
func errorHandler(logger *slog.Logger, maxBodyBytes int64) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		if errors.Is(err, context.Canceled) && c.Request().Context().Err() != nil {
			// The client went away: nobody reads an answer, and it is no failure of the service.
			c.Response().Status = StatusClientClosedRequest
			return
		}
		e, serious := toError(err, maxBodyBytes)
		ids := requestIDs(c)
		if serious {
			logger.ErrorContext(c.Request().Context(), "request failed",
				"request-id", ids.requestID, "status", e.Status, "error", err.Error())
		}
		h := c.Response().Header()
		for k, v := range e.Header {
			h[k] = v
		}
		if e.RetryAfter > 0 {
			h.Set("Retry-After", itoa(e.RetryAfter))
		}
		body := errorBody{Error: errorJSON{
			Code: errorCode(e.Status), Message: e.Message, Target: e.Target, Details: e.Details,
			InnerError: innerErrorJSON{
				Date:            time.Now().UTC().Format(time.RFC3339),
				RequestID:       ids.requestID,
				ClientRequestID: ids.clientRequestID,
			},
		}}
		if werr := writeJSON(c, e.Status, body); werr != nil {
			logger.ErrorContext(c.Request().Context(), "writing error response", "error", werr.Error())
		}
	}
}
