package handlers

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/caseops/caseops/handlers/spelling"
	"github.com/caseops/caseops/store"
)

const (
	maxIdentityChars      = 1024
	maxResultMessageChars = 4096
	// maxClockSkew is how far ahead of the service's clock a worker's completion time may be.
	maxClockSkew = 5 * time.Minute
)

// operationBody is a validated POST or PATCH body.
type operationBody struct {
	ODataType       string // the @odata.type it named, with its #; "" if none
	ID              *uuid.UUID
	CreatedDateTime *time.Time
	Patch           store.Patch // the properties it sets; Patch.CreatedDateTime and IfMatch stay empty
}

type bodyMode int

const (
	modePatch bodyMode = iota
	modeCreate
)

// maxDetails bounds the problems an answer describes: a body of thousands of unknown properties gets the first
// maxDetails and a count of the rest, so neither the answer nor the work of writing it grows with the body.
const maxDetails = 20

// problems collects the problems of a body, so the client hears of all of them at once.
type problems struct {
	listed []Detail
	more   int // problems past the first maxDetails: counted, not described
}

func (p *problems) add(target, code, message string) {
	if p.full() {
		p.more++
		return
	}
	p.listed = append(p.listed, Detail{Code: code, Message: message, Target: clip(target)})
}

// full reports whether the next problem will only be counted, so that describing it can be skipped.
func (p *problems) full() bool { return len(p.listed) >= maxDetails }

// count is the number of problems found.
func (p *problems) count() int { return len(p.listed) + p.more }

func (p *problems) invalid(target, message string) { p.add(target, "invalidValue", message) }

// parseOperationBody validates a decoded body against the tagOperation rules of CONTRACT section 2.
// rules say which @odata.type and action values the body may name. A PATCH may repeat a type, as the Graph
// SDKs do with every body, but cannot change the operation's: the type given on PATCH is not stored.
func parseOperationBody(obj *object, mode bodyMode, rules bodyRules) (operationBody, problems) {
	var out operationBody
	var errs problems
	for _, key := range obj.keys {
		v := obj.values[key]
		switch key {
		case "@odata.type":
			if t, ok := v.(string); ok && slices.Contains(rules.types, strings.TrimPrefix(t, "#")) {
				out.ODataType = "#" + strings.TrimPrefix(t, "#")
			} else if len(rules.types) == 1 {
				checkODataType(&errs, key, v, rules.types[0])
			} else {
				errs.invalid(key, key+" must name one of the types "+strings.Join(rules.types, ", ")+", with a leading #.")
			}
		case "id":
			if id, ok := v.(string); ok {
				if u, err := uuid.Parse(id); err == nil && isCanonicalGUID(id) && u != uuid.Nil {
					out.ID = &u
					continue
				}
			}
			errs.invalid(key, "id must be a GUID such as 05de44a5-44a5-05de-a544-de05a544de05, other than the nil GUID.")
		case "createdDateTime":
			if mode == modeCreate {
				errs.add(key, "readOnlyProperty", "createdDateTime is set by the service and cannot be given when creating an operation.")
				continue
			}
			if t, ok := parseTime(&errs, key, v, false); ok {
				out.CreatedDateTime = t
			}
		case "completedDateTime":
			t, ok := parseTime(&errs, key, v, true)
			switch {
			case !ok: // parseTime has said why
			case t != nil && t.After(time.Now().Add(maxClockSkew)):
				// A time far ahead (the year 2999) would skew every duration report.
				errs.invalid(key, "completedDateTime "+clip(v.(string))+" is in the future: a completion time may be at most "+
					itoa(int(maxClockSkew/time.Minute))+" minutes after the service's clock.")
			default:
				out.Patch.CompletedDateTime = store.Some(t)
			}
		case "percentProgress":
			if v == nil {
				out.Patch.PercentProgress = store.Some[*int32](nil)
			} else if n, ok := parseInt32(v); ok && n >= 0 && n <= 100 {
				out.Patch.PercentProgress = store.Some(&n)
			} else {
				errs.invalid(key, "percentProgress must be an integer from 0 to 100, or null.")
			}
		case "status":
			s, ok := v.(string)
			if ok && store.Status(s).Valid() {
				out.Patch.Status = store.Some(store.Status(s))
			} else {
				errs.invalid(key, notAMember(key, v, enumStrings(store.Statuses)))
			}
		case "action":
			a, ok := v.(string)
			switch {
			case ok && slices.Contains(rules.actions, store.Action(a)):
				out.Patch.Action = store.Some(store.Action(a))
			case ok && store.Action(a) == store.ActionUnknownFutureValue && mode == modePatch:
				// Graph's evolvable-enum sentinel: a client that echoes it back means "no change".
			default:
				errs.invalid(key, notAMember(key, v, enumStrings(rules.actions)))
			}
		case "createdBy":
			if v == nil {
				out.Patch.CreatedBy = store.Some[*store.IdentitySetPatch](nil)
			} else if p, ok := parseIdentitySet(&errs, key, v); ok {
				out.Patch.CreatedBy = store.Some(p)
			}
		case "resultInfo":
			if v == nil {
				out.Patch.ResultInfo = store.Some[*store.ResultInfoPatch](nil)
			} else if p, ok := parseResultInfo(&errs, key, v); ok {
				out.Patch.ResultInfo = store.Some(p)
			}
		default:
			switch {
			case rules.own && ownPropertyNamed(key) != nil: // parseOwnProperties reads it
			case rules.own:
				errs.unknown(key, "caseOperation", key, slices.Concat(selectableProperties, ownPropertyNames))
			case !isIgnoredAnnotation(key):
				errs.unknown(key, "tagOperation", key, selectableProperties)
			}
		}
	}
	return out, errs
}

// unknown reports the property key, which entity does not have, with the one it most likely meant.
func (p *problems) unknown(target, entity, key string, properties []string) {
	if p.full() {
		p.more++
		return
	}
	msg := entity + " has no property " + quote(key)
	if meant := spelling.Nearest(key, properties); meant != "" {
		msg += "; did you mean " + meant + "?"
	} else {
		msg += "; its properties are " + joinWords(properties, "and") + "."
	}
	p.add(target, "unknownProperty", msg)
}

// notAMember says what property must be when v is none of its members: null only when v is null,
// and the member v most likely stands for when there is one.
func notAMember(property string, v any, members []string) string {
	list := strings.Join(members, ", ")
	if v == nil {
		return property + " cannot be null; it must be one of " + list + "."
	}
	if s, ok := v.(string); ok {
		if meant := spelling.Nearest(s, members); meant != "" {
			return property + " must be one of " + list + "; did you mean " + meant + "?"
		}
	}
	return property + " must be one of " + list + "."
}

// isIgnoredAnnotation: OData annotations other than @odata.type carry no data we store.
func isIgnoredAnnotation(key string) bool {
	return strings.HasPrefix(key, "@odata.") || strings.Contains(key, "@odata.")
}

func checkODataType(errs *problems, target string, v any, want string) {
	s, ok := v.(string)
	if ok && strings.TrimPrefix(s, "#") == want {
		return
	}
	errs.invalid(target, target+" must be #"+want+".")
}

func isCanonicalGUID(s string) bool { return len(s) == 36 }

// rfc3339Form is RFC 3339's date-time, which time.Parse reads too loosely: it also takes a comma before
// the fraction and offsets such as +24:00 or +00:60.
var rfc3339Form = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$`)

// parseTime reads an RFC 3339 timestamp with an offset; ok is false when it is invalid.
func parseTime(errs *problems, target string, v any, nullable bool) (*time.Time, bool) {
	if v == nil && nullable {
		return nil, true
	}
	if s, ok := v.(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil && t.Year() >= 1 && rfc3339Form.MatchString(s) {
			return &t, true
		}
	}
	msg := target + " must be an RFC 3339 timestamp with an offset, such as 2026-01-02T03:04:05Z"
	if nullable {
		msg += ", or null"
	}
	errs.invalid(target, msg+".")
	return nil, false
}

// parseInt32 accepts only JSON integers that fit Int32: not strings, fractions or exponents.
func parseInt32(v any) (int32, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(n.String(), 10, 32)
	return int32(i), err == nil
}

// parseString reads a string or null of at most max characters with no U+0000.
func parseString(errs *problems, target string, v any, max int) (*string, bool) {
	if v == nil {
		return nil, true
	}
	s, ok := v.(string)
	switch {
	case !ok:
		errs.invalid(target, target+" must be a string or null.")
	case strings.ContainsRune(s, 0):
		errs.invalid(target, target+" cannot contain the character U+0000.")
	case utf8.RuneCountInString(s) > max:
		errs.invalid(target, target+" is at most "+itoa(max)+" characters.")
	default:
		return &s, true
	}
	return nil, false
}

func parseIdentitySet(errs *problems, target string, v any) (*store.IdentitySetPatch, bool) {
	obj, ok := v.(*object)
	if !ok {
		errs.invalid(target, target+" must be an identitySet object or null.")
		return nil, false
	}
	before := errs.count()
	p := &store.IdentitySetPatch{}
	for _, key := range obj.keys {
		path := target + "/" + key
		var slot *store.Optional[*store.IdentityPatch]
		switch key {
		case "@odata.type":
			checkODataType(errs, path, obj.values[key], "microsoft.graph.identitySet")
			continue
		case "application":
			slot = &p.Application
		case "device":
			slot = &p.Device
		case "user":
			slot = &p.User
		default:
			if !isIgnoredAnnotation(key) {
				errs.unknown(path, "identitySet", key, []string{"application", "device", "user"})
			}
			continue
		}
		if obj.values[key] == nil {
			*slot = store.Some[*store.IdentityPatch](nil)
		} else if ip, ok := parseIdentity(errs, path, obj.values[key]); ok {
			*slot = store.Some(ip)
		}
	}
	return p, errs.count() == before
}

func parseIdentity(errs *problems, target string, v any) (*store.IdentityPatch, bool) {
	obj, ok := v.(*object)
	if !ok {
		errs.invalid(target, target+" must be an identity object or null.")
		return nil, false
	}
	before := errs.count()
	p := &store.IdentityPatch{}
	for _, key := range obj.keys {
		path := target + "/" + key
		switch key {
		case "@odata.type":
			checkODataType(errs, path, obj.values[key], "microsoft.graph.identity")
		case "id", "displayName":
			if s, ok := parseString(errs, path, obj.values[key], maxIdentityChars); ok {
				if key == "id" {
					p.ID = store.Some(s)
				} else {
					p.DisplayName = store.Some(s)
				}
			}
		default:
			if !isIgnoredAnnotation(key) {
				errs.unknown(path, "identity", key, []string{"id", "displayName"})
			}
		}
	}
	return p, errs.count() == before
}

func parseResultInfo(errs *problems, target string, v any) (*store.ResultInfoPatch, bool) {
	obj, ok := v.(*object)
	if !ok {
		errs.invalid(target, target+" must be a resultInfo object or null.")
		return nil, false
	}
	before := errs.count()
	p := &store.ResultInfoPatch{}
	for _, key := range obj.keys {
		path := target + "/" + key
		v := obj.values[key]
		switch key {
		case "@odata.type":
			checkODataType(errs, path, v, "microsoft.graph.resultInfo")
		case "code", "subcode":
			var n *int32
			if v != nil {
				i, ok := parseInt32(v)
				if !ok {
					errs.invalid(path, path+" must be a 32-bit integer or null.")
					continue
				}
				n = &i
			}
			if key == "code" {
				p.Code = store.Some(n)
			} else {
				p.Subcode = store.Some(n)
			}
		case "message":
			if s, ok := parseString(errs, path, v, maxResultMessageChars); ok {
				p.Message = store.Some(s)
			}
		default:
			if !isIgnoredAnnotation(key) {
				errs.unknown(path, "resultInfo", key, []string{"code", "message", "subcode"})
			}
		}
	}
	return p, errs.count() == before
}

func enumStrings[T ~string](members []T) []string {
	names := make([]string, len(members))
	for i, m := range members {
		names[i] = string(m)
	}
	return names
}

// newOperation turns a validated POST body into what the store creates; createdBy defaults to the caller.
func newOperation(b operationBody, caller Caller) store.NewOperation {
	p := b.Patch
	n := store.NewOperation{
		Status:            p.Status.Value,
		Action:            p.Action.Value,
		PercentProgress:   p.PercentProgress.Value,
		CompletedDateTime: p.CompletedDateTime.Value,
		CreatedBy:         caller.Identity,
	}
	if b.ID != nil {
		n.ID = *b.ID
	}
	if p.CreatedBy.Set {
		n.CreatedBy = identitySetFromPatch(p.CreatedBy.Value)
	}
	if ri := p.ResultInfo.Value; ri != nil && (ri.Code.Value != nil || ri.Message.Value != nil || ri.Subcode.Value != nil) {
		n.ResultInfo = &store.ResultInfo{Code: ri.Code.Value, Message: ri.Message.Value, Subcode: ri.Subcode.Value}
	}
	return n
}

// identitySetFromPatch applies a merge patch to nothing: what it sets, without its nulls.
func identitySetFromPatch(p *store.IdentitySetPatch) *store.IdentitySet {
	if p == nil {
		return nil
	}
	identity := func(o store.Optional[*store.IdentityPatch]) *store.Identity {
		if o.Value == nil {
			return nil
		}
		return &store.Identity{ID: o.Value.ID.Value, DisplayName: o.Value.DisplayName.Value}
	}
	return &store.IdentitySet{Application: identity(p.Application), Device: identity(p.Device), User: identity(p.User)}
}
