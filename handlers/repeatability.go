package handlers

import (
	"net/http"
	"strconv"
	"time"

	"github.com/caseops/caseops/store"
)

// The OASIS Repeatable Requests headers, as Azure APIs take them, that make a POST safe to send again.
const (
	headerRepeatabilityRequestID = "Repeatability-Request-ID"
	headerRepeatabilityFirstSent = "Repeatability-First-Sent"
	headerRepeatabilityResult    = "Repeatability-Result"
)

// repeatability reads a POST's repeatability headers: nil when it sends neither. A request id needs the time
// the request was first sent, an HTTP date; one more than store.RepeatabilityWindow before now is refused with
// 412, because its first answer may have been forgotten.
func repeatability(h http.Header, now time.Time) (*store.Repeatable, error) {
	id, sent := h.Values(headerRepeatabilityRequestID), h.Values(headerRepeatabilityFirstSent)
	window := strconv.Itoa(int(store.RepeatabilityWindow/time.Minute)) + " minutes"
	switch {
	case len(id) == 0 && len(sent) == 0:
		return nil, nil
	case len(id) != 1 || !printableToken(id[0]):
		return nil, badRequest(headerRepeatabilityRequestID, "Repeatability-Request-ID must be given once, with "+
			"1 to 200 printable ASCII characters (a GUID, say), when Repeatability-First-Sent is.")
	case len(sent) != 1:
		return nil, badRequest(headerRepeatabilityFirstSent, "Repeatability-First-Sent must be given once with "+
			"Repeatability-Request-ID: the time the request was first sent, such as "+now.UTC().Format(http.TimeFormat)+".")
	}
	firstSent, err := http.ParseTime(sent[0])
	if err != nil {
		return nil, badRequest(headerRepeatabilityFirstSent, "Repeatability-First-Sent must be an HTTP date, such as "+
			now.UTC().Format(http.TimeFormat)+".")
	}
	if now.Sub(firstSent) > store.RepeatabilityWindow {
		return nil, &Error{Status: http.StatusPreconditionFailed, Target: headerRepeatabilityFirstSent, Message: "Repeatability-First-Sent " +
			"is more than " + window + " ago, longer than the service keeps the answers to repeatable requests, so it cannot tell " +
			"whether this one was applied: list the operations before sending it as a new request."}
	}
	return &store.Repeatable{RequestID: id[0], FirstSent: firstSent}, nil
}
