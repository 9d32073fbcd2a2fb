package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Field is a property a list may filter and sort on, named by its Graph path.
type Field string

// The fields of the allow-list. Nothing else reaches SQL: a Field names a column only through fieldColumns.
const (
	FieldStatus                 Field = "status"
	FieldAction                 Field = "action"
	FieldPercentProgress        Field = "percentProgress"
	FieldCreatedDateTime        Field = "createdDateTime"
	FieldCompletedDateTime      Field = "completedDateTime"
	FieldCreatedByUserID        Field = "createdBy/user/id"
	FieldCreatedByApplicationID Field = "createdBy/application/id"
	FieldResultCode             Field = "resultInfo/code"
)

// Fields lists every Field a list may sort on, in the order messages name them.
var Fields = []Field{FieldStatus, FieldAction, FieldPercentProgress, FieldCreatedDateTime, FieldCompletedDateTime,
	FieldCreatedByUserID, FieldCreatedByApplicationID, FieldResultCode}

// OwnFields are the scalar own properties of the caseOperation types (TypeProps), which a filter may name
// too, by their JSON names. Each is null on an operation whose type lacks it, as OData reads a property that
// a derived type adds. The value of an enumeration is its member's name, a string.
var OwnFields = []Field{"indexedItemCount", "indexedItemsSize", "unindexedItemCount", "unindexedItemsSize",
	"mailboxCount", "siteCount", "cloudAttachmentVersion", "documentVersion", "displayName", "description",
	"outputName", "exportStructure", "exportFormat", "exportSingleItems"}

type fieldKind int

const (
	kindStatus fieldKind = iota + 1
	kindAction
	kindInt
	kindTime
	kindText
	kindInt64
	kindBool
)

// fieldColumn is how a Field is stored: its column, the SQL type its parameters are cast to, and whether
// it may be NULL (which decides how comparisons and sort order treat a missing value).
type fieldColumn struct {
	column   string
	sqlType  string
	kind     fieldKind
	nullable bool
}

// fieldColumns is the allow-list from Graph property paths to columns.
var fieldColumns = map[Field]fieldColumn{
	FieldStatus:                 {"status", "case_operation_status", kindStatus, false},
	FieldAction:                 {"action", "case_action", kindAction, false},
	FieldPercentProgress:        {"percent_progress", "integer", kindInt, true},
	FieldCreatedDateTime:        {"created_date_time", "timestamptz", kindTime, false},
	FieldCompletedDateTime:      {"completed_date_time", "timestamptz", kindTime, true},
	FieldCreatedByUserID:        {"created_by_user_id", "text", kindText, true},
	FieldCreatedByApplicationID: {"created_by_application_id", "text", kindText, true},
	FieldResultCode:             {"result_code", "integer", kindInt, true},

	"indexedItemCount":       {"indexed_item_count", "bigint", kindInt64, true},
	"indexedItemsSize":       {"indexed_items_size", "bigint", kindInt64, true},
	"unindexedItemCount":     {"unindexed_item_count", "bigint", kindInt64, true},
	"unindexedItemsSize":     {"unindexed_items_size", "bigint", kindInt64, true},
	"mailboxCount":           {"mailbox_count", "integer", kindInt, true},
	"siteCount":              {"site_count", "integer", kindInt, true},
	"cloudAttachmentVersion": {"cloud_attachment_version", "text", kindText, true},
	"documentVersion":        {"document_version", "text", kindText, true},
	"displayName":            {"display_name", "text", kindText, true},
	"description":            {"description", "text", kindText, true},
	"outputName":             {"output_name", "text", kindText, true},
	"exportStructure":        {"export_structure", "text", kindText, true},
	"exportFormat":           {"export_format", "text", kindText, true},
	"exportSingleItems":      {"export_single_items", "boolean", kindBool, true},
}

// CompareOp is a comparison operator of a Filter.
type CompareOp int

// The comparison operators, as OData's eq, ne, gt, ge, lt and le.
const (
	OpEq CompareOp = iota + 1
	OpNe
	OpGt
	OpGe
	OpLt
	OpLe
)

var opSQL = map[CompareOp]string{OpEq: "=", OpNe: "<>", OpGt: ">", OpGe: ">=", OpLt: "<", OpLe: "<="}

// complement is the operator that is true exactly when o is false (for non-null operands).
func (o CompareOp) complement() CompareOp {
	return map[CompareOp]CompareOp{OpEq: OpNe, OpNe: OpEq, OpGt: OpLe, OpGe: OpLt, OpLt: OpGe, OpLe: OpGt}[o]
}

// Filter is a condition on operations: Compare, In, And, Or or Not. Its logic is OData's, which has no
// unknown: a comparison with a null property is false, except ne, which is true.
type Filter interface{ isFilter() }

// Compare is Field Op Value. Value is nil (only with OpEq and OpNe), a Status, an Action, an int32,
// a time.Time or a string, as the field's type requires.
type Compare struct {
	Field Field
	Op    CompareOp
	Value any
}

// In is true when Field equals one of Values (nil matches a null property).
type In struct {
	Field  Field
	Values []any
}

// And is true when every filter is.
type And []Filter

// Or is true when any filter is.
type Or []Filter

// Not is true when its filter is false.
type Not struct{ Filter Filter }

// IsType is true for the operations of one caseOperation type, named as Operation.Type is
// (ediscoveryEstimateOperation): OData's isof.
type IsType struct{ Type string }

func (Compare) isFilter() {}
func (In) isFilter()      {}
func (And) isFilter()     {}
func (Or) isFilter()      {}
func (Not) isFilter()     {}
func (IsType) isFilter()  {}

// Order is one sort key.
type Order struct {
	Field      Field
	Descending bool
}

// ListQuery selects a page of a tenant's operations.
type ListQuery struct {
	Filter  Filter  // nil: every operation
	OrderBy []Order // nil: newest first
	Top     int     // page size, at least 1
	After   *Cursor // nil: the first page
	Count   bool    // also count every operation the filter matches
	// Case, when not nil, limits the list to the operations of that eDiscovery case.
	Case *uuid.UUID
}

// Cursor is a position in a list: the sort key values of the last operation of the previous page,
// one per SortKeys entry, and its id. Values are nil, Status, Action, int32, time.Time or string.
type Cursor struct {
	Values []any
	ID     uuid.UUID
}

// Page is one page of a list; Next is nil on the last page, and Count is set when the query asked for it.
type Page struct {
	Operations []Operation
	Next       *Cursor
	Count      *int64
}

// ErrInvalidCursor: a cursor that does not fit the query's sort keys, so it was not made for this query.
var ErrInvalidCursor = errors.New("the cursor does not belong to this query")

// SortKeys returns the keys a list is really sorted by: the query's own, then createdDateTime (newest first
// unless the query sorts by it) as the tie-breaker; the id follows, in createdDateTime's direction, so that
// every operation has one place in the order.
func (q ListQuery) SortKeys() []Order {
	keys := append([]Order(nil), q.OrderBy...)
	for _, k := range keys {
		if k.Field == FieldCreatedDateTime {
			return keys
		}
	}
	return append(keys, Order{Field: FieldCreatedDateTime, Descending: true})
}

// idDescending reports the direction of the final id key: that of createdDateTime among keys.
func idDescending(keys []Order) bool {
	for _, k := range keys {
		if k.Field == FieldCreatedDateTime {
			return k.Descending
		}
	}
	return true
}

// listWhere is the condition of a list or count: the tenant, the case when q names one, and q.Filter.
func (b *sqlBuilder) listWhere(tenant string, q ListQuery) (string, error) {
	where := "tenant_id = " + b.arg(tenant, "text")
	if q.Case != nil {
		where += " AND case_id = " + b.arg([16]byte(*q.Case), "uuid")
	}
	if q.Filter != nil {
		cond, err := b.filter(q.Filter, false)
		if err != nil {
			return "", err
		}
		where += " AND " + cond
	}
	return where, nil
}

// Count returns how many of tenant's operations match q.Filter, within q.Case when it is set, in one
// statement; q's paging and order are ignored.
func (s *Store) Count(ctx context.Context, tenant string, q ListQuery) (int64, error) {
	b := &sqlBuilder{}
	where, err := b.listWhere(tenant, q)
	if err != nil {
		return 0, err
	}
	var n int64
	err = s.pool.QueryRow(ctx, "SELECT count(*) FROM case_operations WHERE "+where, b.args...).Scan(&n)
	return n, mapError(err)
}

// List returns a page of tenant's operations that match q.Filter, in q's order, paged by keyset (never OFFSET):
// the next page starts strictly after the cursor, so operations inserted meanwhile never shift a page,
// and an operation that existed when the first page was read is neither skipped nor repeated.
func (s *Store) List(ctx context.Context, tenant string, q ListQuery) (Page, error) {
	for _, k := range q.OrderBy {
		if !slices.Contains(Fields, k.Field) {
			return Page{}, fmt.Errorf("a list cannot be sorted by %q: %w", k.Field, errBadValue)
		}
	}
	keys := q.SortKeys()
	b := &sqlBuilder{}
	where, err := b.listWhere(tenant, q)
	if err != nil {
		return Page{}, err
	}
	countSQL, countArgs := "SELECT count(*) FROM case_operations WHERE "+where, append([]any(nil), b.args...)
	if q.After != nil {
		cond, err := b.keyset(keys, *q.After)
		if err != nil {
			return Page{}, err
		}
		where += " AND " + cond
	}
	sql := "SELECT " + operationColumns + " FROM case_operations WHERE " + where +
		" ORDER BY " + orderBy(keys) + " LIMIT " + strconv.Itoa(q.Top+1)

	var page Page
	read := func(db interface {
		Query(context.Context, string, ...any) (pgx.Rows, error)
		QueryRow(context.Context, string, ...any) pgx.Row
	}) error {
		rows, _ := db.Query(ctx, sql, b.args...)
		ops, err := pgx.CollectRows(rows, scanOperation)
		if err != nil {
			return err
		}
		page.Operations = ops
		if q.Count {
			var n int64
			if err := db.QueryRow(ctx, countSQL, countArgs...).Scan(&n); err != nil {
				return err
			}
			page.Count = &n
		}
		return nil
	}
	if q.Count {
		// The page and the count come from one snapshot, so they agree.
		err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
			func(tx pgx.Tx) error { return read(tx) })
	} else {
		err = read(s.pool)
	}
	if err != nil {
		return Page{}, mapError(err)
	}
	if len(page.Operations) > q.Top {
		page.Operations = page.Operations[:q.Top]
		last := page.Operations[q.Top-1]
		cur := Cursor{ID: last.ID}
		for _, k := range keys {
			cur.Values = append(cur.Values, fieldValue(last, k.Field))
		}
		page.Next = &cur
	}
	return page, nil
}

// fieldValue is op's value of f, as a Cursor holds it.
func fieldValue(op Operation, f Field) any {
	switch f {
	case FieldStatus:
		return op.Status
	case FieldAction:
		return op.Action
	case FieldPercentProgress:
		if op.PercentProgress == nil {
			return nil
		}
		return *op.PercentProgress
	case FieldCreatedDateTime:
		return op.CreatedDateTime
	case FieldCompletedDateTime:
		if op.CompletedDateTime == nil {
			return nil
		}
		return *op.CompletedDateTime
	case FieldCreatedByUserID, FieldCreatedByApplicationID:
		var i *Identity
		if op.CreatedBy != nil && f == FieldCreatedByUserID {
			i = op.CreatedBy.User
		} else if op.CreatedBy != nil {
			i = op.CreatedBy.Application
		}
		if i == nil || i.ID == nil {
			return nil
		}
		return *i.ID
	case FieldResultCode:
		if op.ResultInfo == nil || op.ResultInfo.Code == nil {
			return nil
		}
		return *op.ResultInfo.Code
	}
	return nil
}

// Null ordering follows OData: null sorts before every value ascending, and after every value descending.
// Columns that cannot be null get no NULLS clause, so that their indexes serve the order as declared.
func orderBy(keys []Order) string {
	var parts []string
	for _, k := range keys {
		fc := fieldColumns[k.Field]
		part := fc.column + " ASC"
		if k.Descending {
			part = fc.column + " DESC"
		}
		if fc.nullable && k.Descending {
			part += " NULLS LAST"
		} else if fc.nullable {
			part += " NULLS FIRST"
		}
		parts = append(parts, part)
	}
	if idDescending(keys) {
		return strings.Join(append(parts, "id DESC"), ", ")
	}
	return strings.Join(append(parts, "id ASC"), ", ")
}

// sqlBuilder collects bound parameters; values never enter the SQL text.
type sqlBuilder struct {
	args    []any
	columns map[Field]fieldColumn // nil: fieldColumns, the operations'
}

// column is f's column in the table the builder queries.
func (b *sqlBuilder) column(f Field) (fieldColumn, error) {
	if b.columns == nil {
		return column(f)
	}
	fc, ok := b.columns[f]
	if !ok {
		return fc, fmt.Errorf("field %q is not on the allow-list: %w", f, errBadValue)
	}
	return fc, nil
}

func (b *sqlBuilder) arg(v any, sqlType string) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args)) + "::" + sqlType
}

// param binds v, checked against the field's type.
func (b *sqlBuilder) param(f Field, v any) (string, error) {
	fc, err := b.column(f)
	if err != nil {
		return "", err
	}
	var bound any
	switch fc.kind {
	case kindStatus:
		s, ok := v.(Status)
		if str, isStr := v.(string); isStr {
			s, ok = Status(str), true
		}
		if !ok || !s.Valid() {
			return "", fmt.Errorf("%s needs a status, not %#v: %w", f, v, errBadValue)
		}
		bound = string(s)
	case kindAction:
		a, ok := v.(Action)
		if str, isStr := v.(string); isStr {
			a, ok = Action(str), true
		}
		if !ok || !a.Valid() {
			return "", fmt.Errorf("%s needs an action, not %#v: %w", f, v, errBadValue)
		}
		bound = string(a)
	case kindInt:
		switch n := v.(type) {
		case int32:
			bound = n
		case int64:
			if n != int64(int32(n)) {
				return "", fmt.Errorf("%s needs an int32, not %d: %w", f, n, errBadValue)
			}
			bound = int32(n)
		default:
			return "", fmt.Errorf("%s needs an int32, not %#v: %w", f, v, errBadValue)
		}
	case kindInt64:
		switch n := v.(type) {
		case int32:
			bound = int64(n)
		case int64:
			bound = n
		default:
			return "", fmt.Errorf("%s needs an int64, not %#v: %w", f, v, errBadValue)
		}
	case kindBool:
		t, ok := v.(bool)
		if !ok {
			return "", fmt.Errorf("%s needs a boolean, not %#v: %w", f, v, errBadValue)
		}
		bound = t
	case kindTime:
		t, ok := v.(time.Time)
		if !ok {
			return "", fmt.Errorf("%s needs a time, not %#v: %w", f, v, errBadValue)
		}
		bound = t
	case kindText:
		str, ok := v.(string)
		if st, isStatus := v.(Status); isStatus { // a case's status, parsed as an enumeration
			str, ok = string(st), true
		}
		if !ok {
			return "", fmt.Errorf("%s needs a string, not %#v: %w", f, v, errBadValue)
		}
		bound = str
	}
	return b.arg(bound, fc.sqlType), nil
}

// errBadValue: a value whose type does not fit its field; the HTTP layer's type checks make this a bug.
var errBadValue = errors.New("value does not fit the field")

func column(f Field) (fieldColumn, error) {
	fc, ok := fieldColumns[f]
	if !ok {
		return fc, fmt.Errorf("field %q is not on the allow-list: %w", f, errBadValue)
	}
	return fc, nil
}

// filter renders f as a SQL condition. negate pushes a Not down to the comparisons (De Morgan), where it
// becomes the complementary comparison, so that a null property gives OData's two-valued answer:
// not (percentProgress gt 5) is true for a null percentProgress, although percent_progress > 5 is NULL.
func (b *sqlBuilder) filter(f Filter, negate bool) (string, error) {
	switch f := f.(type) {
	case And:
		return b.junction(f, negate, " AND ", " OR ")
	case Or:
		return b.junction(f, negate, " OR ", " AND ")
	case Not:
		return b.filter(f.Filter, !negate)
	case Compare:
		return b.compare(f, negate)
	case In:
		return b.in(f, negate)
	case IsType:
		if negate {
			return "operation_type <> " + b.arg(f.Type, "text"), nil
		}
		return "operation_type = " + b.arg(f.Type, "text"), nil
	}
	return "", fmt.Errorf("unknown filter %T: %w", f, errBadValue)
}

func (b *sqlBuilder) junction(fs []Filter, negate bool, sep, negatedSep string) (string, error) {
	if len(fs) == 0 {
		return "", fmt.Errorf("an empty And or Or: %w", errBadValue)
	}
	if negate {
		sep = negatedSep
	}
	parts := make([]string, len(fs))
	for i, f := range fs {
		p, err := b.filter(f, negate)
		if err != nil {
			return "", err
		}
		parts[i] = p
	}
	return "(" + strings.Join(parts, sep) + ")", nil
}

func (b *sqlBuilder) compare(c Compare, negate bool) (string, error) {
	fc, err := b.column(c.Field)
	if err != nil {
		return "", err
	}
	op := c.Op
	if _, ok := opSQL[op]; !ok {
		return "", fmt.Errorf("unknown operator %d: %w", op, errBadValue)
	}
	if c.Value == nil {
		if op != OpEq && op != OpNe {
			return "", fmt.Errorf("null compares only with eq or ne: %w", errBadValue)
		}
		if (op == OpEq) != negate {
			return fc.column + " IS NULL", nil
		}
		return fc.column + " IS NOT NULL", nil
	}
	// A null property fails every comparison with a value but ne, and passes every negated one but ne.
	nullPasses := op == OpNe
	if negate {
		op, nullPasses = op.complement(), !nullPasses
	}
	p, err := b.param(c.Field, c.Value)
	if err != nil {
		return "", err
	}
	cond := fc.column + " " + opSQL[op] + " " + p
	if nullPasses && fc.nullable {
		return "(" + cond + " OR " + fc.column + " IS NULL)", nil
	}
	return cond, nil
}

func (b *sqlBuilder) in(in In, negate bool) (string, error) {
	fc, err := b.column(in.Field)
	if err != nil {
		return "", err
	}
	if len(in.Values) == 0 {
		return "", fmt.Errorf("an empty in list: %w", errBadValue)
	}
	var params []string
	withNull := false
	for _, v := range in.Values {
		if v == nil {
			withNull = true
			continue
		}
		p, err := b.param(in.Field, v)
		if err != nil {
			return "", err
		}
		params = append(params, p)
	}
	switch {
	case len(params) == 0 && !negate:
		return fc.column + " IS NULL", nil
	case len(params) == 0:
		return fc.column + " IS NOT NULL", nil
	}
	list := "(" + strings.Join(params, ", ") + ")"
	switch {
	case !negate && withNull:
		return "(" + fc.column + " IN " + list + " OR " + fc.column + " IS NULL)", nil
	case !negate:
		return fc.column + " IN " + list, nil
	case withNull:
		return "(" + fc.column + " NOT IN " + list + " AND " + fc.column + " IS NOT NULL)", nil
	case fc.nullable: // a null property is in no list of values, so its negation holds
		return "(" + fc.column + " NOT IN " + list + " OR " + fc.column + " IS NULL)", nil
	}
	return fc.column + " NOT IN " + list, nil
}

// keyset renders "sorts after cur" for keys followed by id. With keys k1..kn and id, a row comes after the
// cursor when k1 is after v1, or k1 = v1 and k2 is after v2, and so on, where "after" and "=" treat null as
// OData sorts it (before every value). A run of trailing non-null keys in one direction becomes one row
// comparison, (created_date_time, id) < ($1, $2), which an index serves as a range.
func (b *sqlBuilder) keyset(keys []Order, cur Cursor) (string, error) {
	if len(cur.Values) != len(keys) {
		return "", ErrInvalidCursor
	}
	type key struct {
		column   string
		value    string // the bound parameter; "" for a null value
		desc     bool
		nullable bool
	}
	all := make([]key, 0, len(keys)+1)
	for i, k := range keys {
		fc := fieldColumns[k.Field]
		kk := key{column: fc.column, desc: k.Descending, nullable: fc.nullable}
		if v := cur.Values[i]; v != nil {
			p, err := b.param(k.Field, v)
			if err != nil {
				return "", ErrInvalidCursor
			}
			kk.value = p
		} else if !fc.nullable {
			return "", ErrInvalidCursor
		}
		all = append(all, kk)
	}
	all = append(all, key{column: "id", value: b.arg(cur.ID, "uuid"), desc: idDescending(keys)})

	// The longest suffix of non-null, same-direction keys collapses into one row comparison.
	tail := len(all) - 1
	for tail > 0 {
		prev := all[tail-1]
		if prev.nullable || prev.value == "" || prev.desc != all[tail].desc {
			break
		}
		tail--
	}
	rowCmp := func(ks []key) string {
		cols, vals := make([]string, len(ks)), make([]string, len(ks))
		for i, k := range ks {
			cols[i], vals[i] = k.column, k.value
		}
		op := " > "
		if ks[0].desc {
			op = " < "
		}
		if len(ks) == 1 {
			return cols[0] + op + vals[0]
		}
		return "(" + strings.Join(cols, ", ") + ")" + op + "(" + strings.Join(vals, ", ") + ")"
	}
	after := func(k key) string {
		switch {
		case k.value == "" && k.desc:
			return "" // nothing sorts after null descending
		case k.value == "":
			return k.column + " IS NOT NULL"
		case k.desc && k.nullable:
			return "(" + k.column + " < " + k.value + " OR " + k.column + " IS NULL)"
		case k.desc:
			return k.column + " < " + k.value
		}
		return k.column + " > " + k.value
	}
	equal := func(k key) string {
		if k.value == "" {
			return k.column + " IS NULL"
		}
		return k.column + " = " + k.value
	}

	var terms []string
	var prefix []string
	for i := 0; i < tail; i++ {
		if a := after(all[i]); a != "" {
			terms = append(terms, strings.Join(append(append([]string(nil), prefix...), a), " AND "))
		}
		prefix = append(prefix, equal(all[i]))
	}
	terms = append(terms, strings.Join(append(prefix, rowCmp(all[tail:])), " AND "))
	cond := "(" + strings.Join(terms, " OR ") + ")"
	// The first key's bound, implied by the terms, lets an index on it start its scan at the cursor.
	if first := all[0]; tail > 0 && first.value != "" && !(first.desc && first.nullable) {
		bound := first.column + " >= " + first.value
		if first.desc {
			bound = first.column + " <= " + first.value
		}
		cond = "(" + bound + " AND " + cond + ")"
	}
	return cond, nil
}
