package store

import (
	"reflect"
	"slices"
	"strings"
	"time"
)

// Matches reports whether op satisfies f, as the SQL a list renders for f would decide it: OData's logic,
// where a comparison with a null property is false except ne, which is true. Change streams filter with it
// the operations a round reports, without a query per watcher.
func Matches(f Filter, op Operation) bool {
	switch f := f.(type) {
	case And:
		for _, g := range f {
			if !Matches(g, op) {
				return false
			}
		}
		return true
	case Or:
		for _, g := range f {
			if Matches(g, op) {
				return true
			}
		}
		return false
	case Not:
		return !Matches(f.Filter, op)
	case IsType:
		return op.Type == f.Type
	case Compare:
		v := matchValue(op, f.Field)
		if f.Value == nil || v == nil {
			bothNull := f.Value == nil && v == nil
			return (f.Op == OpEq && bothNull) || (f.Op == OpNe && !bothNull)
		}
		c, ok := compareValues(v, f.Field, f.Value)
		if !ok {
			return false
		}
		switch f.Op {
		case OpEq:
			return c == 0
		case OpNe:
			return c != 0
		case OpGt:
			return c > 0
		case OpGe:
			return c >= 0
		case OpLt:
			return c < 0
		case OpLe:
			return c <= 0
		}
	case In:
		v := matchValue(op, f.Field)
		for _, want := range f.Values {
			if want == nil || v == nil {
				if want == nil && v == nil {
					return true
				}
				continue
			}
			if c, ok := compareValues(v, f.Field, want); ok && c == 0 {
				return true
			}
		}
	}
	return false
}

// matchValue is op's value of f: fieldValue's for the fields a list sorts on, else the own property's.
func matchValue(op Operation, f Field) any {
	if slices.Contains(Fields, f) {
		return fieldValue(op, f)
	}
	if !slices.Contains(OwnFields, f) {
		return nil
	}
	name := string(f)
	v := reflect.ValueOf(op.Props).FieldByName(strings.ToUpper(name[:1]) + name[1:])
	if !v.IsValid() || v.IsNil() {
		return nil
	}
	return v.Elem().Interface()
}

// compareValues orders an operation's value against a filter's value of the same field: -1, 0 or 1.
// Enumerations compare in their declared member order, as the columns' enum types do.
func compareValues(have any, f Field, want any) (int, bool) {
	switch h := have.(type) {
	case Status:
		w, ok := want.(Status)
		if s, isStr := want.(string); isStr {
			w, ok = Status(s), true
		}
		return cmpInt(indexOfMember(Statuses, h), indexOfMember(Statuses, w)), ok
	case Action:
		w, ok := want.(Action)
		if s, isStr := want.(string); isStr {
			w, ok = Action(s), true
		}
		return cmpInt(indexOfMember(Actions, h), indexOfMember(Actions, w)), ok
	case int32:
		return cmpNumber(int64(h), want)
	case int64:
		return cmpNumber(h, want)
	case time.Time:
		w, ok := want.(time.Time)
		return h.Compare(w), ok
	case string:
		w, ok := want.(string)
		return strings.Compare(h, w), ok
	case bool:
		w, ok := want.(bool)
		if !ok {
			return 0, false
		}
		return cmpInt(boolInt(h), boolInt(w)), true
	}
	return 0, false
}

func cmpNumber(h int64, want any) (int, bool) {
	switch w := want.(type) {
	case int32:
		return cmpNumber(h, int64(w))
	case int64:
		switch {
		case h < w:
			return -1, true
		case h > w:
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func indexOfMember[T comparable](members []T, m T) int {
	for i, x := range members {
		if x == m {
			return i
		}
	}
	return len(members)
}
