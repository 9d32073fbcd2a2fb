package odata

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/caseops/caseops/handlers/spelling"
)

// ParseFilter parses a $filter value against schema. The grammar, loosest binding first:
//
//	filter     = or
//	or         = and *( "or" and )
//	and        = unary *( "and" unary )
//	unary      = "not" unary / "(" or ")" / comparison
//	comparison = operand op operand / property "in" "(" literal *( "," literal ) ")"
//	op         = "eq" / "ne" / "gt" / "ge" / "lt" / "le"
//	operand    = property / literal
//	literal    = 'string' / integer / DateTimeOffset / "null" / "true" / "false"
//
// One operand of a comparison is a property of schema and the other a literal of its type;
// null compares only with eq and ne.
func ParseFilter(s string, schema Schema, names []string) (Expr, error) {
	if len(s) > MaxFilterLength {
		return nil, &Error{Pos: -1, Message: "it is " + strconv.Itoa(len(s)) + " bytes long; the limit is " + strconv.Itoa(MaxFilterLength) + " bytes"}
	}
	if strings.TrimSpace(s) == "" {
		return nil, &Error{Pos: -1, Message: "it is empty"}
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, schema: schema, names: names}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, errorAt(t.pos, "expected and, or or the end of the filter, found "+t.describe())
	}
	return e, nil
}

type parser struct {
	toks   []token
	i      int
	depth  int
	schema Schema
	names  []string // the schema's property names in the order messages list them
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

// keyword reports whether the next token is the name word, and consumes it when it is.
func (p *parser) keyword(word string) bool {
	if t := p.peek(); t.kind == tokName && t.text == word {
		p.i++
		return true
	}
	return false
}

func (p *parser) enter(pos int) error {
	p.depth++
	if p.depth > MaxDepth {
		return errorAt(pos, "the filter is nested more than "+strconv.Itoa(MaxDepth)+" levels deep")
	}
	return nil
}

func (p *parser) or() (Expr, error) {
	first, err := p.and()
	if err != nil {
		return nil, err
	}
	operands := []Expr{first}
	for p.keyword("or") {
		e, err := p.and()
		if err != nil {
			return nil, err
		}
		operands = append(operands, e)
	}
	if len(operands) == 1 {
		return first, nil
	}
	return &Or{Operands: operands}, nil
}

func (p *parser) and() (Expr, error) {
	first, err := p.unary()
	if err != nil {
		return nil, err
	}
	operands := []Expr{first}
	for p.keyword("and") {
		e, err := p.unary()
		if err != nil {
			return nil, err
		}
		operands = append(operands, e)
	}
	if len(operands) == 1 {
		return first, nil
	}
	return &And{Operands: operands}, nil
}

func (p *parser) unary() (Expr, error) {
	t := p.peek()
	switch {
	case t.kind == tokName && t.text == "not":
		p.next()
		if err := p.enter(t.pos); err != nil {
			return nil, err
		}
		e, err := p.unary()
		if err != nil {
			return nil, err
		}
		p.depth--
		return &Not{Operand: e}, nil
	case t.kind == tokLParen:
		p.next()
		if err := p.enter(t.pos); err != nil {
			return nil, err
		}
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tokRParen {
			return nil, errorAt(c.pos, "expected ')' to close the '(' at position "+strconv.Itoa(t.pos+1)+", found "+c.describe())
		}
		p.depth--
		return e, nil
	case t.kind == tokName && t.text == "isof" && p.toks[p.i+1].kind == tokLParen:
		if _, ok := p.schema[IsOfTypes]; ok {
			return p.isof()
		}
	}
	return p.comparison()
}

// isof parses isof('qualified.type'), the one-argument form that tests the entity itself. The name may be
// quoted or not, and may start with '#', as an @odata.type does.
func (p *parser) isof() (Expr, error) {
	p.next() // isof
	p.next() // (
	arg := p.next()
	if arg.kind != tokString && arg.kind != tokName {
		return nil, errorAt(arg.pos, "isof() takes the qualified name of a type, such as '"+
			p.schema[IsOfTypes].Members[0]+"', found "+arg.describe())
	}
	name := strings.TrimPrefix(arg.text, "#")
	types := p.schema[IsOfTypes].Members
	found := ""
	for _, t := range types {
		if strings.EqualFold(t, name) {
			found = t
		}
	}
	if found == "" {
		return nil, errorAt(arg.pos, "isof() names the type '"+clip100(name)+"', which is none of "+strings.Join(types, ", "))
	}
	if c := p.next(); c.kind != tokRParen {
		return nil, errorAt(c.pos, "expected ')' to close isof(, found "+c.describe())
	}
	return &IsOf{Type: found}, nil
}

// clip100 keeps a client's text short enough to quote, and whole when it is a type name of ours.
func clip100(s string) string {
	if r := []rune(s); len(r) > 100 {
		return string(r[:100]) + "…"
	}
	return s
}

// operand is a property path or a literal as written; its type is checked once the comparison is known.
type operand struct {
	tok      token
	property bool
}

func (p *parser) operand() (operand, error) {
	t := p.next()
	switch t.kind {
	case tokString, tokNumber, tokDateTime:
		return operand{tok: t}, nil
	case tokName:
		switch t.text {
		case "null", "true", "false":
			return operand{tok: t}, nil
		case "and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le", "in":
			return operand{}, errorAt(t.pos, "expected a property or a literal, found the keyword "+t.text)
		}
		if p.peek().kind == tokLParen {
			return operand{}, errorAt(t.pos, "functions such as "+truncate(t.text)+"() are not supported; use eq, ne, gt, ge, lt, le, in, and, or, not")
		}
		if _, ok := p.schema[t.text]; !ok {
			return operand{}, errorAt(t.pos, "unknown property "+quoted(t.text)+didYouMean(t.text, p.schema.names(p.names))+
				"; a filter may use "+p.schema.Names(p.names))
		}
		return operand{tok: t, property: true}, nil
	case tokEOF:
		return operand{}, errorAt(t.pos, "the filter ends where a property or a literal was expected")
	}
	return operand{}, errorAt(t.pos, "expected a property or a literal, found "+t.describe())
}

func (p *parser) comparison() (Expr, error) {
	left, err := p.operand()
	if err != nil {
		return nil, err
	}
	opTok := p.next()
	if opTok.kind == tokName && opTok.text == "in" {
		return p.in(left)
	}
	op, ok := ops[opTok.text]
	if opTok.kind != tokName || !ok {
		return nil, errorAt(opTok.pos, "expected a comparison operator (eq, ne, gt, ge, lt, le or in) after "+left.tok.describe()+", found "+opTok.describe())
	}
	right, err := p.operand()
	if err != nil {
		return nil, err
	}
	switch {
	case left.property && right.property:
		return nil, errorAt(left.tok.pos, "compare a property with a literal, not with another property")
	case !left.property && !right.property:
		return nil, errorAt(left.tok.pos, "a comparison needs a property on one side; "+left.tok.describe()+" and "+right.tok.describe()+" are both literals")
	case !left.property:
		left, right, op = right, left, op.mirror()
	}
	name := left.tok.text
	v, err := p.literal(name, right.tok)
	if err != nil {
		return nil, err
	}
	if v.Null() && op != Eq && op != Ne {
		return nil, errorAt(right.tok.pos, "null can only be compared with eq or ne")
	}
	if v.Kind == KindBoolean && op != Eq && op != Ne {
		return nil, errorAt(right.tok.pos, name+" is a Boolean, which can only be compared with eq or ne")
	}
	return &Comparison{Property: name, Op: op, Value: v}, nil
}

func (p *parser) in(left operand) (Expr, error) {
	if !left.property {
		return nil, errorAt(left.tok.pos, "in needs a property on its left, not "+left.tok.describe())
	}
	if t := p.next(); t.kind != tokLParen {
		return nil, errorAt(t.pos, "expected '(' after in, found "+t.describe())
	}
	name := left.tok.text
	var values []Value
	for {
		t := p.next()
		if t.kind == tokRParen && len(values) == 0 {
			return nil, errorAt(t.pos, "an in list needs at least one value")
		}
		if t.kind == tokName && t.text != "null" && t.text != "true" && t.text != "false" {
			return nil, errorAt(t.pos, "an in list holds literals, not "+t.describe())
		}
		v, err := p.literal(name, t)
		if err != nil {
			return nil, err
		}
		if len(values) == MaxInItems {
			return nil, errorAt(t.pos, "an in list may hold at most "+strconv.Itoa(MaxInItems)+" values")
		}
		values = append(values, v)
		sep := p.next()
		if sep.kind == tokRParen {
			return &In{Property: name, Values: values}, nil
		}
		if sep.kind != tokComma {
			return nil, errorAt(sep.pos, "expected ',' or ')' in the in list, found "+sep.describe())
		}
	}
}

// literal checks that t is a literal of property name's type and returns its value.
func (p *parser) literal(name string, t token) (Value, error) {
	prop := p.schema[name]
	wrong := func(what string) (Value, error) {
		return Value{}, errorAt(t.pos, name+" is "+prop.Kind.String()+"; "+t.describe()+" is "+what)
	}
	switch t.kind {
	case tokName:
		switch t.text {
		case "null":
			return Value{}, nil
		case "true", "false":
			if prop.Kind == KindBoolean {
				return Value{Kind: KindBoolean, Bool: t.text == "true"}, nil
			}
			return wrong("a Boolean")
		}
	case tokEOF:
		return Value{}, errorAt(t.pos, "the filter ends where a value for "+name+" was expected")
	case tokString:
		switch prop.Kind {
		case KindString:
			return Value{Kind: KindString, Str: t.text}, nil
		case KindEnum:
			for _, m := range prop.Members {
				if m == t.text {
					return Value{Kind: KindEnum, Str: t.text}, nil
				}
			}
			hint := ""
			if m := spelling.Nearest(t.text, prop.Members); m != "" {
				hint = " (did you mean '" + m + "'?)"
			}
			return Value{}, errorAt(t.pos, t.describe()+" is not a value of "+name+hint+"; it is one of "+strings.Join(prop.Members, ", "))
		case KindDateTimeOffset:
			return wrong("a String; write a DateTimeOffset without quotes, as in 2026-01-01T00:00:00Z")
		}
		return wrong("a String")
	case tokNumber:
		switch prop.Kind {
		case KindInt32:
			n, err := strconv.ParseInt(t.text, 10, 32)
			if err != nil {
				return wrong("not an integer from -2147483648 to 2147483647")
			}
			return Value{Kind: KindInt32, Int: n}, nil
		case KindInt64:
			n, err := strconv.ParseInt(t.text, 10, 64)
			if err != nil {
				return wrong("not an integer from -9223372036854775808 to 9223372036854775807")
			}
			return Value{Kind: KindInt64, Int: n}, nil
		}
		return wrong("a number")
	case tokDateTime:
		if prop.Kind != KindDateTimeOffset {
			return wrong("a date")
		}
		tm, ok := parseDateTimeOffset(t.text)
		if !ok {
			return Value{}, errorAt(t.pos, t.describe()+" is not a DateTimeOffset such as 2026-01-01T00:00:00Z: it needs a date, a time and Z or an offset (+ written as %2B)")
		}
		return Value{Kind: KindDateTimeOffset, Time: tm}, nil
	}
	return Value{}, errorAt(t.pos, "expected a value for "+name+", found "+t.describe())
}

// offsetForm is the end of a dateTimeOffsetValue, which time.Parse reads too loosely (+24:00, +00:60).
var offsetForm = regexp.MustCompile(`([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$`)

// parseDateTimeOffset reads OData's dateTimeOffsetValue: date T hour:minute[:second[.fraction]] (Z or ±hh:mm).
func parseDateTimeOffset(s string) (time.Time, bool) {
	if !offsetForm.MatchString(s) {
		return time.Time{}, false
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999Z07:00", "2006-01-02T15:04Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// ParseOrderBy parses an $orderby value: property [asc|desc] *( "," property [asc|desc] ).
func ParseOrderBy(s string, schema Schema, names []string) ([]OrderKey, error) {
	if strings.TrimSpace(s) == "" {
		return nil, &Error{Pos: -1, Message: "it is empty"}
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, schema: schema}
	var keys []OrderKey
	seen := map[string]bool{}
	for {
		t := p.next()
		if t.kind != tokName {
			return nil, errorAt(t.pos, "expected a property to sort by, found "+t.describe())
		}
		if _, ok := schema[t.text]; !ok {
			return nil, errorAt(t.pos, "unknown property "+quoted(t.text)+didYouMean(t.text, schema.names(names))+
				"; operations can be sorted by "+schema.Names(names))
		}
		if seen[t.text] {
			return nil, errorAt(t.pos, t.text+" is given more than once")
		}
		seen[t.text] = true
		key := OrderKey{Property: t.text}
		if p.keyword("desc") {
			key.Descending = true
		} else {
			p.keyword("asc")
		}
		keys = append(keys, key)
		switch sep := p.next(); sep.kind {
		case tokEOF:
			return keys, nil
		case tokComma:
		default:
			return nil, errorAt(sep.pos, "expected asc, desc, ',' or the end after "+t.text+", found "+sep.describe())
		}
	}
}

// ParseSelect parses a $select value: * or property *( "," property ), each one of names.
// It returns the properties asked for; * returns names.
func ParseSelect(s string, names []string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, &Error{Pos: -1, Message: "it is empty"}
	}
	var out []string
	pos := 0
	for _, part := range strings.Split(s, ",") {
		name := strings.Trim(part, " \t")
		at := pos + strings.Index(part, name)
		pos += len(part) + 1
		switch {
		case name == "*":
			out = append(out, names...)
			continue
		case name == "":
			return nil, errorAt(at, "expected a property, found nothing")
		}
		found := false
		for _, n := range names {
			if n == name {
				found = true
			}
		}
		if !found {
			return nil, errorAt(at, "unknown property "+quoted(name)+didYouMean(name, names)+"; $select may list "+strings.Join(names, ", ")+" or *")
		}
		out = append(out, name)
	}
	return out, nil
}

func quoted(s string) string { return "'" + truncate(s) + "'" }

// didYouMean is " (did you mean x?)" when name looks like a slip of the property x, else "".
func didYouMean(name string, properties []string) string {
	if p := spelling.Nearest(name, properties); p != "" {
		return " (did you mean " + p + "?)"
	}
	return ""
}
