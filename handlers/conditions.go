package handlers

import (
	"context"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/caseops/caseops/store"
)

// conditions are the preconditions of a write (RFC 9110 §13.1): If-Match and If-None-Match.
type conditions struct {
	match        []store.Revision // nil: no If-Match, or *; empty: only tags that are none of ours, which never match
	noneMatch    []store.Revision
	noneMatchAny bool // If-None-Match: *
	hasNoneMatch bool
}

// readConditions reads If-Match and If-None-Match; one that is not * or a list of entity tags is a 400,
// since it could never match and a 412 would have the client retry for ever.
func readConditions(h http.Header) (conditions, error) {
	var c conditions
	tags, any, err := entityTags("If-Match", h.Values("If-Match"))
	if err != nil {
		return c, err
	}
	if tags != nil && !any {
		c.match = revisions(tags)
	}
	tags, c.noneMatchAny, err = entityTags("If-None-Match", h.Values("If-None-Match"))
	if err != nil {
		return c, err
	}
	c.hasNoneMatch = tags != nil || c.noneMatchAny
	c.noneMatch = revisions(tags)
	return c, nil
}

// revisions are the revisions tags name; a tag etag did not write names none.
func revisions(tags []string) []store.Revision {
	out := []store.Revision{}
	for _, tag := range tags {
		if r, ok := parseETag(tag); ok {
			out = append(out, r)
		}
	}
	return out
}

// entityTags parses the values of the header name: * alone, or entity tags (RFC 9110 §8.8.3) separated by commas,
// empty elements allowed (§5.6.1). tags is nil when the header is absent.
func entityTags(name string, values []string) (tags []string, any bool, err error) {
	if len(values) == 0 {
		return nil, false, nil
	}
	list := strings.Join(values, ",")
	tags = []string{}
	for rest := list; ; {
		rest = strings.TrimLeft(rest, " \t,")
		if rest == "" {
			break
		}
		var tag string
		if strings.HasPrefix(rest, "*") {
			tag, rest = "*", rest[1:]
		} else if n := entityTagLength(rest); n > 0 {
			tag, rest = rest[:n], rest[n:]
		}
		after := strings.TrimLeft(rest, " \t")
		if tag == "" || (after != "" && after[0] != ',') {
			element, _, _ := strings.Cut(strings.TrimLeft(list[len(list)-len(rest)-len(tag):], " \t,"), ",")
			return nil, false, malformedCondition(name, strings.TrimRight(element, " \t"))
		}
		rest = after
		tags = append(tags, tag)
	}
	for _, tag := range tags {
		if tag == "*" && len(tags) > 1 {
			return nil, false, badRequest(name, "The "+name+" header is malformed: '*' must be the only value of "+name+
				"; send * alone, or ETags only.")
		}
	}
	return tags, len(tags) == 1 && tags[0] == "*", nil
}

// entityTagLength is the length of the entity tag s starts with ([W/] DQUOTE *etagc DQUOTE), or 0.
func entityTagLength(s string) int {
	i := 0
	if strings.HasPrefix(s, "W/") {
		i = 2
	}
	if i >= len(s) || s[i] != '"' {
		return 0
	}
	for i++; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return i + 1
		case c == 0x21 || (c >= 0x23 && c != 0x7f): // etagc: %x21 / %x23-7E / obs-text
		default:
			return 0
		}
	}
	return 0
}

func malformedCondition(name, element string) *Error {
	msg := "The " + name + " header is malformed: " + quote(element) + " is not an entity tag. Send * or ETags as the " +
		`service gave them, quotes included, such as W/"3.hol4d7qf5q", separated by commas.`
	if strings.Contains(element, `\"`) {
		msg += " Do not escape the quotes with backslashes."
	}
	return badRequest(name, msg)
}

// pin evaluates If-None-Match against the operation as it is now, after If-Match (RFC 9110 §13.2.2), and
// returns the If-Match for the write: the current revision, so that the write happens only while the
// operation is as it was when If-None-Match was evaluated.
func (c conditions) pin(ctx context.Context, s OperationStore, tenant string, caseID, id uuid.UUID) ([]store.Revision, error) {
	if !c.hasNoneMatch {
		return c.match, nil
	}
	op, err := s.GetInCase(ctx, tenant, caseID, id)
	if err != nil {
		return nil, err
	}
	current := op.Revision()
	switch {
	case c.match != nil && !namesRevision(c.match, current):
		return nil, store.ErrPreconditionFailed
	case c.noneMatchAny:
		return nil, newError(http.StatusPreconditionFailed,
			"The operation exists, and If-None-Match: * allows the request only when it does not; nothing was changed.")
	case namesRevision(c.noneMatch, current):
		return nil, newError(http.StatusPreconditionFailed,
			"The operation's current ETag is one that If-None-Match names; nothing was changed.")
	}
	return []store.Revision{current}, nil
}

func namesRevision(revisions []store.Revision, r store.Revision) bool {
	for _, x := range revisions {
		if x.Version == r.Version && x.Created.Equal(r.Created) {
			return true
		}
	}
	return false
}
