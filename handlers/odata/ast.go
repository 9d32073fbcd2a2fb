// Package odata parses the OData system query options caseops supports ($filter, $orderby, $select)
// with a tokenizer and a recursive-descent parser into a typed tree, checked against a schema of the
// properties a client may use. It knows the grammar and the literal types; it knows nothing of SQL or HTTP.
package odata

import (
	"strconv"
	"strings"
	"time"
)

// Limits on a $filter, so that a hostile one costs little to refuse.
const (
	MaxFilterLength = 4096 // bytes
	MaxDepth        = 32   // nested parentheses and nots
	MaxInItems      = 100  // literals in one in (...) list
)

// Kind is the type of a property, and of the literal it is compared with.
type Kind int

// The kinds of property a schema may declare.
const (
	KindString Kind = iota + 1
	KindInt32
	KindDateTimeOffset
	KindEnum
	KindInt64
	KindBoolean
)

func (k Kind) String() string {
	switch k {
	case KindString:
		return "a String"
	case KindInt32:
		return "an Int32"
	case KindDateTimeOffset:
		return "a DateTimeOffset"
	case KindEnum:
		return "an enumeration"
	case KindInt64:
		return "an Int64"
	case KindBoolean:
		return "a Boolean"
	}
	return "null"
}

// Property is what a client may filter or sort on.
type Property struct {
	Kind    Kind
	Members []string // for KindEnum: every member, in order
}

// Schema maps property paths (createdBy/user/id) to their types. The entry IsOfTypes, when present, lists
// in Members the qualified names of the types isof() may name (microsoft.graph.security.ediscoveryTagOperation).
type Schema map[string]Property

// IsOfTypes is the Schema key whose Members are the types isof() takes; it is no property.
const IsOfTypes = "isof()"

// Names lists the schema's property paths in a stable order, for messages.
func (s Schema) Names(order []string) string { return strings.Join(s.names(order), ", ") }

// names lists the schema's property paths in order, leaving out those it does not have.
func (s Schema) names(order []string) []string {
	var names []string
	for _, n := range order {
		if _, ok := s[n]; ok {
			names = append(names, n)
		}
	}
	return names
}

// Expr is a boolean $filter expression: *Comparison, *In, *And, *Or or *Not.
type Expr interface {
	// String renders the expression canonically, so that two spellings of one filter compare equal.
	String() string
	isExpr()
}

// Op is a comparison operator.
type Op string

// The comparison operators.
const (
	Eq Op = "eq"
	Ne Op = "ne"
	Gt Op = "gt"
	Ge Op = "ge"
	Lt Op = "lt"
	Le Op = "le"
)

var ops = map[string]Op{"eq": Eq, "ne": Ne, "gt": Gt, "ge": Ge, "lt": Lt, "le": Le}

// mirror is the operator that gives the same answer with its operands swapped ('x' lt p is p gt 'x').
func (o Op) mirror() Op {
	switch o {
	case Gt:
		return Lt
	case Ge:
		return Le
	case Lt:
		return Gt
	case Le:
		return Ge
	}
	return o
}

// Value is a literal, typed by the property it is compared with. Kind 0 is null.
type Value struct {
	Kind Kind
	Str  string    // KindString and KindEnum
	Int  int64     // KindInt32 (in its range) and KindInt64
	Bool bool      // KindBoolean
	Time time.Time // UTC
}

// Null reports whether v is the literal null.
func (v Value) Null() bool { return v.Kind == 0 }

func (v Value) String() string {
	switch v.Kind {
	case KindString, KindEnum:
		return "'" + strings.ReplaceAll(v.Str, "'", "''") + "'"
	case KindInt32, KindInt64:
		return strconv.FormatInt(v.Int, 10)
	case KindBoolean:
		return strconv.FormatBool(v.Bool)
	case KindDateTimeOffset:
		return v.Time.UTC().Format(time.RFC3339Nano)
	}
	return "null"
}

// Comparison is property op literal.
type Comparison struct {
	Property string
	Op       Op
	Value    Value
}

// In is property in (literal, ...).
type In struct {
	Property string
	Values   []Value
}

// And holds two or more operands that must all be true.
type And struct{ Operands []Expr }

// Or holds two or more operands of which one must be true.
type Or struct{ Operands []Expr }

// Not negates its operand.
type Not struct{ Operand Expr }

// IsOf is isof('namespace.type'): true for the entities of that type. Type is the name as the schema's
// IsOfTypes lists it.
type IsOf struct{ Type string }

func (*Comparison) isExpr() {}
func (*In) isExpr()         {}
func (*And) isExpr()        {}
func (*Or) isExpr()         {}
func (*Not) isExpr()        {}
func (*IsOf) isExpr()       {}

func (c *Comparison) String() string { return c.Property + " " + string(c.Op) + " " + c.Value.String() }

func (in *In) String() string {
	vals := make([]string, len(in.Values))
	for i, v := range in.Values {
		vals[i] = v.String()
	}
	return in.Property + " in (" + strings.Join(vals, ",") + ")"
}

func (a *And) String() string  { return join(a.Operands, " and ") }
func (o *Or) String() string   { return join(o.Operands, " or ") }
func (n *Not) String() string  { return "not (" + n.Operand.String() + ")" }
func (i *IsOf) String() string { return "isof('" + i.Type + "')" }

func join(operands []Expr, sep string) string {
	parts := make([]string, len(operands))
	for i, e := range operands {
		parts[i] = "(" + e.String() + ")"
	}
	return strings.Join(parts, sep)
}

// OrderKey is one key of an $orderby.
type OrderKey struct {
	Property   string
	Descending bool
}

// OrderString renders keys canonically.
func OrderString(keys []OrderKey) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k.Property + " asc"
		if k.Descending {
			parts[i] = k.Property + " desc"
		}
	}
	return strings.Join(parts, ",")
}

// Error is a refused option value; Pos is the 0-based byte offset of the problem, or -1.
type Error struct {
	Pos     int
	Message string
}

func (e *Error) Error() string {
	if e.Pos < 0 {
		return e.Message + "."
	}
	return e.Message + " (at position " + strconv.Itoa(e.Pos+1) + ")."
}

func errorAt(pos int, message string) *Error { return &Error{Pos: pos, Message: message} }
