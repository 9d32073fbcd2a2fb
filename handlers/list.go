package handlers

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/caseops/caseops/handlers/odata"
	"github.com/caseops/caseops/handlers/spelling"
	"github.com/caseops/caseops/store"
)

// queryProperties is the tagOperation schema $filter and $orderby see: every field of the store's allow-list,
// with the type its literals must have.
var queryProperties = func() odata.Schema {
	statuses := make([]string, len(store.Statuses))
	for i, s := range store.Statuses {
		statuses[i] = string(s)
	}
	actions := make([]string, len(store.TagOperationActions))
	for i, a := range store.TagOperationActions {
		actions[i] = string(a)
	}
	return odata.Schema{
		string(store.FieldStatus):                 {Kind: odata.KindEnum, Members: statuses},
		string(store.FieldAction):                 {Kind: odata.KindEnum, Members: actions},
		string(store.FieldPercentProgress):        {Kind: odata.KindInt32},
		string(store.FieldCreatedDateTime):        {Kind: odata.KindDateTimeOffset},
		string(store.FieldCompletedDateTime):      {Kind: odata.KindDateTimeOffset},
		string(store.FieldCreatedByUserID):        {Kind: odata.KindString},
		string(store.FieldCreatedByApplicationID): {Kind: odata.KindString},
		string(store.FieldResultCode):             {Kind: odata.KindInt32},
	}
}()

// securityQueryProperties is queryProperties on the security paths: every caseAction member, and isof() over
// the nine caseOperation types.
var securityQueryProperties = func() odata.Schema {
	schema := maps.Clone(queryProperties)
	schema[string(store.FieldAction)] = odata.Property{Kind: odata.KindEnum, Members: enumStrings(store.Actions)}
	schema[odata.IsOfTypes] = odata.Property{Members: securityBody.types}
	return schema
}()

// securityFilterProperties is what $filter sees on the security paths: securityQueryProperties, and the
// types' own scalar properties (store.OwnFields), null on an operation whose type lacks one.
var securityFilterProperties = func() odata.Schema {
	schema := maps.Clone(securityQueryProperties)
	kinds := map[ownKind]odata.Kind{ownInt64: odata.KindInt64, ownInt32: odata.KindInt32, ownString: odata.KindString,
		ownBool: odata.KindBoolean, ownEnum: odata.KindEnum}
	for _, f := range store.OwnFields {
		p := ownPropertyNamed(string(f))
		schema[string(f)] = odata.Property{Kind: kinds[p.kind], Members: p.enum.members}
	}
	return schema
}()

// securityFilterPropertyNames lists securityFilterProperties in the order messages name them.
var securityFilterPropertyNames = func() []string {
	names := slices.Clone(queryPropertyNames)
	for _, f := range store.OwnFields {
		names = append(names, string(f))
	}
	return names
}()

// queryPropertyNames lists queryProperties in the order messages name them.
var queryPropertyNames = func() []string {
	names := make([]string, len(store.Fields))
	for i, f := range store.Fields {
		names[i] = string(f)
	}
	return names
}()

// selectableProperties are the properties $select may list; @odata.type, @odata.etag and id are always sent.
var selectableProperties = []string{"id", "createdDateTime", "completedDateTime", "percentProgress", "status",
	"action", "createdBy", "resultInfo"}

// securitySelectableProperties are selectableProperties and every type's own properties: an operation whose
// type lacks a selected one is sent without it.
var securitySelectableProperties = slices.Concat(selectableProperties, ownPropertyNames)

// unsupportedOptions are OData system query options this API knows and refuses, with the reason.
var unsupportedOptions = map[string]string{
	"$expand":     "tagOperation has no navigation properties to expand",
	"$search":     "use $filter",
	"$skip":       "page with @odata.nextLink, whose $skiptoken stays correct while operations are added",
	"$format":     "every answer is JSON",
	"$apply":      "aggregation is done in SQL on the reporting views",
	"$compute":    "computed properties are not supported",
	"$deltatoken": "follow the @odata.deltaLink of /beta/tagOperations/delta",
}

// listOptions is a parsed list request: the store's query, the $select, and the options as given,
// which @odata.nextLink repeats.
type listOptions struct {
	query  store.ListQuery
	fields []string // $select; nil: every property
	given  map[string]string
	digest string // of $filter and $orderby: a $skiptoken is good only for the query it was made for
}

// listOptionNames are the options a list takes, in the order messages name them.
var listOptionNames = []string{"$filter", "$orderby", "$select", "$top", "$count", "$skiptoken"}

// listOptionOrder is the order @odata.nextLink writes the options in.
var listOptionOrder = []string{"$filter", "$orderby", "$select", "$top", "$count"}

// parseTop reads a $top: a page of 1 to maxTop.
func parseTop(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxTop {
		return 0, badRequest("$top", "$top must be an integer from 1 to "+itoa(maxTop)+".")
	}
	return n, nil
}

// repeatedOption is the error of a query option given more than once.
func repeatedOption(name string) error {
	return badRequest(name, "The query option "+quote(name)+" is given more than once.")
}

func parseListOptions(params url.Values, sf surface) (listOptions, error) {
	schema, filterSchema, filterNames, selectable := queryProperties, queryProperties, queryPropertyNames, selectableProperties
	if sf.cased {
		schema, filterSchema, filterNames, selectable = securityQueryProperties, securityFilterProperties,
			securityFilterPropertyNames, securitySelectableProperties
	}
	opts := listOptions{query: store.ListQuery{Top: defaultTop}, given: map[string]string{}}
	for key, values := range params {
		name := optionName(key)
		if _, dup := opts.given[name]; dup || len(values) > 1 {
			return opts, repeatedOption(name)
		}
		switch name {
		case "$filter", "$orderby", "$select", "$top", "$count", "$skiptoken":
			opts.given[name] = values[0]
		default:
			msg := "The query option " + quote(key) + " is not supported on this request"
			if why, known := unsupportedOptions[name]; known {
				return opts, badRequest(key, msg+": "+why+".")
			}
			if meant := spelling.Nearest(name, listOptionNames); meant != "" {
				msg += "; did you mean " + meant + "?"
			} else {
				msg += "."
			}
			return opts, badRequest(key, msg+" A list of operations takes "+joinWords(listOptionNames, "and")+".")
		}
	}

	var filterText, orderText string
	if v, ok := opts.given["$filter"]; ok {
		expr, err := odata.ParseFilter(v, filterSchema, filterNames)
		if err != nil {
			return opts, badRequest("$filter", "$filter is not valid: "+err.Error())
		}
		opts.query.Filter = toStoreFilter(expr)
		filterText = expr.String()
	}
	if v, ok := opts.given["$orderby"]; ok {
		keys, err := odata.ParseOrderBy(v, schema, queryPropertyNames)
		if err != nil {
			return opts, badRequest("$orderby", "$orderby is not valid: "+err.Error())
		}
		for _, k := range keys {
			opts.query.OrderBy = append(opts.query.OrderBy, store.Order{Field: store.Field(k.Property), Descending: k.Descending})
		}
		orderText = odata.OrderString(keys)
	}
	if v, ok := opts.given["$select"]; ok {
		fields, err := odata.ParseSelect(v, selectable)
		if err != nil {
			return opts, badRequest("$select", "$select is not valid: "+err.Error())
		}
		opts.fields = fields
	}
	if v, ok := opts.given["$top"]; ok {
		n, err := parseTop(v)
		if err != nil {
			return opts, err
		}
		opts.query.Top = n
	}
	if v, ok := opts.given["$count"]; ok {
		switch v {
		case "true":
			opts.query.Count = true
		case "false":
		default:
			return opts, badRequest("$count", "$count must be true or false.")
		}
	}
	sum := sha256.Sum256([]byte("list\x00" + filterText + "\x00" + orderText))
	opts.digest = hex.EncodeToString(sum[:8])
	if v, ok := opts.given["$skiptoken"]; ok {
		cur, err := decodeListToken(v, opts.digest)
		if err != nil {
			return opts, err
		}
		opts.query.After = &cur
	}
	return opts, nil
}

// toStoreFilter translates the parsed $filter into the store's filter; the parser has checked every
// property against the schema and every literal against its property's type.
func toStoreFilter(e odata.Expr) store.Filter {
	switch e := e.(type) {
	case *odata.And:
		out := make(store.And, len(e.Operands))
		for i, o := range e.Operands {
			out[i] = toStoreFilter(o)
		}
		return out
	case *odata.Or:
		out := make(store.Or, len(e.Operands))
		for i, o := range e.Operands {
			out[i] = toStoreFilter(o)
		}
		return out
	case *odata.Not:
		return store.Not{Filter: toStoreFilter(e.Operand)}
	case *odata.IsOf:
		return store.IsType{Type: strings.TrimPrefix("#"+e.Type, store.SecurityODataTypePrefix)}
	case *odata.Comparison:
		return store.Compare{Field: store.Field(e.Property), Op: storeOps[e.Op], Value: toStoreValue(e.Property, e.Value)}
	case *odata.In:
		values := make([]any, len(e.Values))
		for i, v := range e.Values {
			values[i] = toStoreValue(e.Property, v)
		}
		return store.In{Field: store.Field(e.Property), Values: values}
	}
	panic("odata: unknown expression") // the parser makes no other kind
}

var storeOps = map[odata.Op]store.CompareOp{odata.Eq: store.OpEq, odata.Ne: store.OpNe, odata.Gt: store.OpGt,
	odata.Ge: store.OpGe, odata.Lt: store.OpLt, odata.Le: store.OpLe}

func toStoreValue(property string, v odata.Value) any {
	switch v.Kind {
	case odata.KindEnum:
		switch store.Field(property) {
		case store.FieldAction:
			return store.Action(v.Str)
		case store.FieldStatus:
			return store.Status(v.Str)
		}
		return v.Str // an own property's enumeration is stored as its member's name
	case odata.KindString:
		return v.Str
	case odata.KindInt32:
		return int32(v.Int)
	case odata.KindInt64:
		return v.Int
	case odata.KindBoolean:
		return v.Bool
	case odata.KindDateTimeOffset:
		return v.Time
	}
	return nil
}

// listToken is what a list $skiptoken holds, as base64url JSON: the sort key values and id of the last
// operation of the page, and the digest of the $filter and $orderby the page was made for.
type listToken struct {
	Version int          `json:"v"`
	Digest  string       `json:"h"`
	Keys    []tokenValue `json:"k"`
	ID      uuid.UUID    `json:"i"`
}

// tokenValue is one sort key value: a string (s), an integer (n), a time in Unix microseconds (t), or null (none).
type tokenValue struct {
	S *string `json:"s,omitempty"`
	N *int64  `json:"n,omitempty"`
	T *int64  `json:"t,omitempty"`
}

const listTokenVersion = 1

func encodeListToken(cur store.Cursor, digest string) string {
	tok := listToken{Version: listTokenVersion, Digest: digest, ID: cur.ID}
	for _, v := range cur.Values {
		var tv tokenValue
		switch v := v.(type) {
		case store.Status:
			s := string(v)
			tv.S = &s
		case store.Action:
			s := string(v)
			tv.S = &s
		case string:
			tv.S = &v
		case int32:
			n := int64(v)
			tv.N = &n
		case time.Time:
			t := v.UnixMicro()
			tv.T = &t
		}
		tok.Keys = append(tok.Keys, tv)
	}
	return encodeToken(tok)
}

func decodeListToken(s, digest string) (store.Cursor, error) {
	invalid := badRequest("$skiptoken", "$skiptoken is not one this service issued; follow @odata.nextLink as it is.")
	var tok listToken
	if !decodeToken(s, &tok) || tok.Version != listTokenVersion || tok.ID == uuid.Nil {
		return store.Cursor{}, invalid
	}
	if tok.Digest != digest {
		return store.Cursor{}, badRequest("$skiptoken", "$skiptoken was issued for another $filter or $orderby; "+
			"follow @odata.nextLink as it is, or start again without $skiptoken.")
	}
	cur := store.Cursor{ID: tok.ID}
	for _, tv := range tok.Keys {
		switch {
		case tv.S != nil && tv.N == nil && tv.T == nil && !strings.ContainsRune(*tv.S, 0):
			cur.Values = append(cur.Values, *tv.S)
		case tv.N != nil && tv.S == nil && tv.T == nil:
			cur.Values = append(cur.Values, *tv.N)
		case tv.T != nil && tv.S == nil && tv.N == nil && store.TimeInRange(*tv.T):
			cur.Values = append(cur.Values, time.UnixMicro(*tv.T).UTC())
		case tv.S == nil && tv.N == nil && tv.T == nil:
			cur.Values = append(cur.Values, nil)
		default:
			return store.Cursor{}, invalid
		}
	}
	return cur, nil
}

// listJSON is a page of a collection; @odata.count, when asked for, comes before the value as on Graph.
type listJSON struct {
	Context  string            `json:"@odata.context"`
	Count    *int64            `json:"@odata.count,omitempty"`
	Value    []json.RawMessage `json:"value"`
	NextLink string            `json:"@odata.nextLink,omitempty"`
}

func handleListOperations(s OperationStore, sf surface) echo.HandlerFunc {
	return func(c echo.Context) error {
		caseID, err := sf.caseID(c)
		if err != nil {
			return err
		}
		params, err := queryOptions(c)
		if err != nil {
			return err
		}
		opts, err := parseListOptions(params, sf)
		if err != nil {
			return err
		}
		if sf.cased {
			opts.query.Case = &caseID
		}
		ctx, tenant := c.Request().Context(), callerOf(c).TenantID
		page, err := s.List(ctx, tenant, opts.query)
		if errors.Is(err, store.ErrInvalidCursor) {
			return badRequest("$skiptoken", "$skiptoken does not fit this $orderby; follow @odata.nextLink as it is.")
		}
		if err != nil {
			return err
		}
		if len(page.Operations) == 0 {
			// An empty page may be an unknown case's: only then is the case read.
			if err := sf.caseExists(ctx, s, tenant, caseID); err != nil {
				return err
			}
		}
		context := sf.contextURL(c, caseID)
		if opts.fields != nil {
			context += "(" + strings.Join(uniqueStrings(opts.fields), ",") + ")"
		}
		out := listJSON{Context: context, Count: page.Count, Value: make([]json.RawMessage, len(page.Operations))}
		prefs := sf.prefs(c)
		for i, op := range page.Operations {
			out.Value[i] = selectJSON(sf.toJSON(op, "", prefs), opts.fields)
			if sf.cased {
				out.Value[i] = appendOwnProperties(out.Value[i], op, opts.fields, prefs.includeUnknown)
			}
		}
		if page.Next != nil {
			out.NextLink = sf.collectionURL(c, caseID) + "?" + opts.nextQuery(encodeListToken(*page.Next, opts.digest))
		}
		return writeJSON(c, http.StatusOK, out)
	}
}

// handleCountOperations answers GET .../operations/$count: the number of the case's operations $filter matches,
// as a text/plain integer.
func handleCountOperations(s OperationStore, sf surface) echo.HandlerFunc {
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
			if optionName(key) != "$filter" {
				return badRequest(key, "The query option "+quote(key)+" is not supported on $count, which takes only $filter.")
			}
		}
		opts, err := parseListOptions(params, sf)
		if err != nil {
			return err
		}
		if sf.cased {
			opts.query.Case = &caseID
		}
		ctx, tenant := c.Request().Context(), callerOf(c).TenantID
		n, err := s.Count(ctx, tenant, opts.query)
		if err != nil {
			return err
		}
		if n == 0 {
			if err := sf.caseExists(ctx, s, tenant, caseID); err != nil {
				return err
			}
		}
		return c.Blob(http.StatusOK, "text/plain; charset=utf-8", []byte(strconv.FormatInt(n, 10)))
	}
}

// nextQuery repeats the options as given, with skiptoken as the new $skiptoken.
func (o listOptions) nextQuery(skiptoken string) string {
	var parts []string
	for _, name := range listOptionOrder {
		if v, ok := o.given[name]; ok {
			parts = append(parts, name+"="+queryEscape(v))
		}
	}
	return strings.Join(append(parts, "$skiptoken="+skiptoken), "&")
}

// queryEscape escapes a query value with %20 for a space, which every client reads the same way.
func queryEscape(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

// selectJSON renders an entity with only the selected properties, in the entity's own order;
// @odata.type, @odata.etag and id are always present. A nil selection renders everything.
func selectJSON(j operationJSON, fields []string) json.RawMessage {
	if fields == nil {
		b, _ := json.Marshal(j) // operationJSON always marshals
		return b
	}
	want := map[string]bool{"@odata.type": true, "@odata.etag": true, "id": true, lastModifiedAnnotation: j.LastModified != ""}
	for _, f := range fields {
		want[f] = true
	}
	members := []struct {
		name  string
		value any
	}{
		{"@odata.type", j.Type}, {"@odata.etag", j.ETag}, {lastModifiedAnnotation, j.LastModified}, {"id", j.ID}, {"createdDateTime", j.CreatedDateTime},
		{"completedDateTime", j.CompletedDateTime}, {"percentProgress", j.PercentProgress}, {"status", j.Status},
		{"action", j.Action}, {"createdBy", j.CreatedBy}, {"resultInfo", j.ResultInfo},
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	for _, m := range members {
		if !want[m.name] {
			continue
		}
		if buf.Len() > 1 {
			buf.WriteByte(',')
		}
		name, _ := json.Marshal(m.name)
		value, _ := json.Marshal(m.value) // strings, numbers and the JSON structs always marshal
		buf.Write(name)
		buf.WriteByte(':')
		buf.Write(value)
	}
	buf.WriteByte('}')
	return buf.Bytes()
}

func uniqueStrings(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
