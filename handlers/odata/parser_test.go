package odata_test

import (
	"strings"
	"testing"

	"github.com/caseops/caseops/handlers/odata"
)

var schema = odata.Schema{
	"status":            {Kind: odata.KindEnum, Members: []string{"notStarted", "running", "failed"}},
	"percentProgress":   {Kind: odata.KindInt32},
	"createdDateTime":   {Kind: odata.KindDateTimeOffset},
	"createdBy/user/id": {Kind: odata.KindString},
}

var names = []string{"status", "percentProgress", "createdDateTime", "createdBy/user/id"}

// The canonical form shows how the parser grouped and typed what it read.
func TestParseFilterCanonicalForm(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"status eq 'running'", "status eq 'running'"},
		{"  status\teq   'running'  ", "status eq 'running'"},
		{"'running' eq status", "status eq 'running'"},
		{"50 lt percentProgress", "percentProgress gt 50"},
		{"-3 ge percentProgress", "percentProgress le -3"},
		{"a eq 1", ""},
		{"status eq 'running' or status eq 'failed' and percentProgress gt 5",
			"(status eq 'running') or ((status eq 'failed') and (percentProgress gt 5))"},
		{"(status eq 'running' or status eq 'failed') and percentProgress gt 5",
			"((status eq 'running') or (status eq 'failed')) and (percentProgress gt 5)"},
		{"not status eq 'running' and percentProgress eq null", "(not (status eq 'running')) and (percentProgress eq null)"},
		{"not (not (status eq 'running'))", "not (not (status eq 'running'))"},
		{"a or b or c", ""},
		{"percentProgress eq 1 or percentProgress eq 2 or percentProgress eq 3",
			"(percentProgress eq 1) or (percentProgress eq 2) or (percentProgress eq 3)"},
		{"createdBy/user/id eq 'o''neil'", "createdBy/user/id eq 'o''neil'"},
		{"createdBy/user/id eq ''", "createdBy/user/id eq ''"},
		{"createdDateTime ge 2026-01-01T02:00:00+02:00", "createdDateTime ge 2026-01-01T00:00:00Z"},
		{"createdDateTime lt 2026-01-01T00:00Z", "createdDateTime lt 2026-01-01T00:00:00Z"},
		{"createdDateTime lt 2026-01-01T00:00:00.123456Z", "createdDateTime lt 2026-01-01T00:00:00.123456Z"},
		{"status in ('running','failed')", "status in ('running','failed')"},
		{"percentProgress in (1, null ,3)", "percentProgress in (1,null,3)"},
		{"status ne null", "status ne null"},
	} {
		if c.want == "" {
			continue
		}
		e, err := odata.ParseFilter(c.in, schema, names)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if got := e.String(); got != c.want {
			t.Errorf("%q parsed as %q, want %q", c.in, got, c.want)
		}
		// The canonical form parses to itself.
		again, err := odata.ParseFilter(e.String(), schema, names)
		if err != nil || again.String() != c.want {
			t.Errorf("%q does not round-trip: %v %v", c.want, again, err)
		}
	}
}

func TestParseFilterRefusals(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("(", odata.MaxDepth+1) + "status eq 'running'" + strings.Repeat(")", odata.MaxDepth+1)
	nots := strings.Repeat("not ", odata.MaxDepth+1) + "status eq 'running'"
	in := "percentProgress in (" + strings.Repeat("1,", odata.MaxInItems) + "1)"
	for _, c := range []struct{ in, want string }{
		{"", "it is empty."},
		{"   ", "it is empty."},
		{strings.Repeat(" ", odata.MaxFilterLength+1), "it is 4097 bytes long; the limit is 4096 bytes."},
		// The limit counts bytes, so 2,049 two-byte characters are over it.
		{"createdBy/user/id eq '" + strings.Repeat("é", 2049) + "'", "it is 4121 bytes long; the limit is 4096 bytes."},
		{deep, "the filter is nested more than 32 levels deep (at position 33)."},
		{nots, "the filter is nested more than 32 levels deep (at position 129)."},
		{in, "an in list may hold at most 100 values (at position 221)."},
		{"foo eq 1", "unknown property 'foo'; a filter may use status, percentProgress, createdDateTime, createdBy/user/id (at position 1)."},
		{"status eq 'paused'", "'paused' is not a value of status; it is one of notStarted, running, failed (at position 11)."},
		{"status eq 'x'';drop table case_operations;--'", "'x'';drop table case_operations;--' is not a value of status; it is one of notStarted, running, failed (at position 11)."},
		{"status eq", "the filter ends where a property or a literal was expected (at position 10)."},
		{"status", "expected a comparison operator (eq, ne, gt, ge, lt, le or in) after status, found the end of the expression (at position 7)."},
		{"status = 'running'", "unexpected character '=' (at position 8)."},
		{`status eq "running"`, `unexpected character '"' (at position 11).`},
		{"status eq 'running", "the string starting here has no closing quote (write '' for a quote inside a string) (at position 11)."},
		{"status eq 'running')", "expected and, or or the end of the filter, found ')' (at position 20)."},
		{"(status eq 'running'", "expected ')' to close the '(' at position 1, found the end of the expression (at position 21)."},
		{"status eq 'running' and", "the filter ends where a property or a literal was expected (at position 24)."},
		{"status eq 'running' eq 'failed'", "expected and, or or the end of the filter, found eq (at position 21)."},
		{"contains(status, 'run')", "functions such as contains() are not supported; use eq, ne, gt, ge, lt, le, in, and, or, not (at position 1)."},
		{"status eq status", "compare a property with a literal, not with another property (at position 1)."},
		{"1 eq 1", "a comparison needs a property on one side; 1 and 1 are both literals (at position 1)."},
		{"percentProgress eq 50.5", "percentProgress is an Int32; 50.5 is not an integer from -2147483648 to 2147483647 (at position 20)."},
		{"percentProgress eq 3000000000", "percentProgress is an Int32; 3000000000 is not an integer from -2147483648 to 2147483647 (at position 20)."},
		{"percentProgress eq '50'", "percentProgress is an Int32; '50' is a String (at position 20)."},
		{"percentProgress gt null", "null can only be compared with eq or ne (at position 20)."},
		{"status eq true", "status is an enumeration; true is a Boolean (at position 11)."},
		{"createdDateTime ge '2026-01-01T00:00:00Z'", "createdDateTime is a DateTimeOffset; '2026-01-01T00:00:00Z' is a String; write a DateTimeOffset without quotes, as in 2026-01-01T00:00:00Z (at position 20)."},
		{"createdDateTime ge 2026-01-01", "2026-01-01 is not a DateTimeOffset such as 2026-01-01T00:00:00Z: it needs a date, a time and Z or an offset (+ written as %2B) (at position 20)."},
		{"createdDateTime ge 2026-01-01T00:00:00", "2026-01-01T00:00:00 is not a DateTimeOffset such as 2026-01-01T00:00:00Z: it needs a date, a time and Z or an offset (+ written as %2B) (at position 20)."},
		{"createdDateTime ge 2026-01-01T00:00:00 02:00", "unexpected character ':' (write the + of a time zone offset as %2B: a + in a URL query means a space) (at position 42)."},
		{"percentProgress ge 2026-01-01T00:00:00Z", "percentProgress is an Int32; 2026-01-01T00:00:00Z is a date (at position 20)."},
		{"status in ()", "an in list needs at least one value (at position 12)."},
		{"status in ('running' 'failed')", "expected ',' or ')' in the in list, found 'failed' (at position 22)."},
		{"status in (percentProgress)", "an in list holds literals, not percentProgress (at position 12)."},
		{"status in 'running'", "expected '(' after in, found 'running' (at position 11)."},
		{"'running' in ('running')", "in needs a property on its left, not 'running' (at position 1)."},
		{"status eq 'running' and or status eq 'failed'", "expected a property or a literal, found the keyword or (at position 25)."},
		{"status eq 'running' &", "unexpected character '&' (at position 21)."},
		{"status eq 'running' + 1", "unexpected character '+' (a + in a URL query means a space: write %2B for a plus sign) (at position 21)."},
		{"status eq '\xff'", "'\xff' is not a value of status; it is one of notStarted, running, failed (at position 11)."},
		{"\xff", "unexpected character (invalid UTF-8) (at position 1)."},
		{"Status eq 'running'", "unknown property 'Status' (did you mean status?); a filter may use status, percentProgress, createdDateTime, createdBy/user/id (at position 1)."},
		{"status EQ 'running'", "expected a comparison operator (eq, ne, gt, ge, lt, le or in) after status, found EQ (at position 8)."},
	} {
		_, err := odata.ParseFilter(c.in, schema, names)
		if err == nil {
			t.Errorf("%q was accepted", c.in)
			continue
		}
		if err.Error() != c.want {
			t.Errorf("%q:\n got %s\nwant %s", c.in, err, c.want)
		}
	}
	// Exactly at the limits is fine.
	for _, ok := range []string{
		strings.Repeat("(", odata.MaxDepth) + "status eq 'running'" + strings.Repeat(")", odata.MaxDepth),
		"percentProgress in (" + strings.Repeat("1,", odata.MaxInItems-1) + "1)",
		"status eq 'running'" + strings.Repeat(" ", odata.MaxFilterLength-len("status eq 'running'")),
	} {
		if _, err := odata.ParseFilter(ok, schema, names); err != nil {
			t.Errorf("at the limit: %v", err)
		}
	}
}

func TestParseOrderByAndSelect(t *testing.T) {
	t.Parallel()
	keys, err := odata.ParseOrderBy("status, percentProgress desc,createdBy/user/id asc", schema, names)
	if err != nil || odata.OrderString(keys) != "status asc,percentProgress desc,createdBy/user/id asc" {
		t.Errorf("orderby: %v %v", keys, err)
	}
	for in, want := range map[string]string{
		"":                       "it is empty.",
		"foo":                    "unknown property 'foo'; operations can be sorted by status, percentProgress, createdDateTime, createdBy/user/id (at position 1).",
		"status,status desc":     "status is given more than once (at position 8).",
		"status sideways":        "expected asc, desc, ',' or the end after status, found sideways (at position 8).",
		"status desc asc":        "expected asc, desc, ',' or the end after status, found asc (at position 13).",
		"status,":                "expected a property to sort by, found the end of the expression (at position 8).",
		"status;drop table x":    "unexpected character ';' (at position 7).",
		"'status'":               "expected a property to sort by, found 'status' (at position 1).",
		"percentProgress desc ,": "expected a property to sort by, found the end of the expression (at position 23).",
	} {
		if _, err := odata.ParseOrderBy(in, schema, names); err == nil || err.Error() != want {
			t.Errorf("orderby %q:\n got %v\nwant %s", in, err, want)
		}
	}

	all := []string{"id", "status", "percentProgress"}
	if got, err := odata.ParseSelect(" status , id", all); err != nil || strings.Join(got, ",") != "status,id" {
		t.Errorf("select: %v %v", got, err)
	}
	if got, err := odata.ParseSelect("*", all); err != nil || strings.Join(got, ",") != "id,status,percentProgress" {
		t.Errorf("select *: %v %v", got, err)
	}
	for in, want := range map[string]string{
		"":             "it is empty.",
		"status,":      "expected a property, found nothing (at position 8).",
		"status,,id":   "expected a property, found nothing (at position 8).",
		"createdBy/id": "unknown property 'createdBy/id'; $select may list id, status, percentProgress or * (at position 1).",
		"status, foo":  "unknown property 'foo'; $select may list id, status, percentProgress or * (at position 9).",
	} {
		if _, err := odata.ParseSelect(in, all); err == nil || err.Error() != want {
			t.Errorf("select %q:\n got %v\nwant %s", in, err, want)
		}
	}
}

// isof() tests an entity's type, when the schema lists the types it may name; elsewhere it is a function
// like any other, and refused.
func TestParseFilterIsOf(t *testing.T) {
	t.Parallel()
	typed := odata.Schema{odata.IsOfTypes: {Members: []string{"microsoft.graph.security.ediscoveryTagOperation",
		"microsoft.graph.security.ediscoveryEstimateOperation"}}}
	for k, v := range schema {
		typed[k] = v
	}
	for _, c := range []struct{ in, want string }{
		{"isof('microsoft.graph.security.ediscoveryEstimateOperation')", "isof('microsoft.graph.security.ediscoveryEstimateOperation')"},
		{"isof('#microsoft.graph.security.EDISCOVERYestimateOperation')", "isof('microsoft.graph.security.ediscoveryEstimateOperation')"},
		{"not isof('microsoft.graph.security.ediscoveryTagOperation') and status eq 'running'",
			"(not (isof('microsoft.graph.security.ediscoveryTagOperation'))) and (status eq 'running')"},
	} {
		e, err := odata.ParseFilter(c.in, typed, names)
		if err != nil || e.String() != c.want {
			t.Errorf("%q: %v, %v; want %s", c.in, e, err, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"isof('microsoft.graph.security.ediscoveryHoldOperation')", "isof() names the type 'microsoft.graph.security.ediscoveryHoldOperation', which is none of microsoft.graph.security.ediscoveryTagOperation, microsoft.graph.security.ediscoveryEstimateOperation (at position 6)."},
		{"isof(3)", "isof() takes the qualified name of a type, such as 'microsoft.graph.security.ediscoveryTagOperation', found 3 (at position 6)."},
		{"isof('microsoft.graph.security.ediscoveryTagOperation'", "expected ')' to close isof(, found the end of the expression (at position 55)."},
	} {
		_, err := odata.ParseFilter(c.in, typed, names)
		if err == nil || err.Error() != c.want {
			t.Errorf("%q: %v, want %s", c.in, err, c.want)
		}
	}
	if _, err := odata.ParseFilter("isof('microsoft.graph.security.ediscoveryTagOperation')", schema, names); err == nil ||
		!strings.Contains(err.Error(), "functions such as isof() are not supported") {
		t.Errorf("isof without types in the schema: %v", err)
	}
}

// Int64 and Boolean properties (an estimate's item counts, a search export's exportSingleItems) take
// their own literals, and a Boolean only eq and ne.
func TestParseFilterInt64AndBoolean(t *testing.T) {
	t.Parallel()
	typed := odata.Schema{"indexedItemCount": {Kind: odata.KindInt64}, "exportSingleItems": {Kind: odata.KindBoolean}}
	typedNames := []string{"indexedItemCount", "exportSingleItems"}
	for _, c := range []struct{ in, want string }{
		{"indexedItemCount gt 3000000000", "indexedItemCount gt 3000000000"},
		{"9223372036854775807 ge indexedItemCount", "indexedItemCount le 9223372036854775807"},
		{"indexedItemCount in (1, null, -9223372036854775808)", "indexedItemCount in (1,null,-9223372036854775808)"},
		{"exportSingleItems eq true", "exportSingleItems eq true"},
		{"false ne exportSingleItems", "exportSingleItems ne false"},
		{"exportSingleItems in (true, null)", "exportSingleItems in (true,null)"},
	} {
		e, err := odata.ParseFilter(c.in, typed, typedNames)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if got := e.String(); got != c.want {
			t.Errorf("%q parsed as %q, want %q", c.in, got, c.want)
		}
		if again, err := odata.ParseFilter(e.String(), typed, typedNames); err != nil || again.String() != c.want {
			t.Errorf("%q does not round-trip: %v %v", c.want, again, err)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"indexedItemCount eq 9223372036854775808", "indexedItemCount is an Int64; 9223372036854775808 is not an integer from -9223372036854775808 to 9223372036854775807 (at position 21)."},
		{"indexedItemCount eq 1.5", "indexedItemCount is an Int64; 1.5 is not an integer from -9223372036854775808 to 9223372036854775807 (at position 21)."},
		{"indexedItemCount eq true", "indexedItemCount is an Int64; true is a Boolean (at position 21)."},
		{"exportSingleItems eq 1", "exportSingleItems is a Boolean; 1 is a number (at position 22)."},
		{"exportSingleItems eq 'true'", "exportSingleItems is a Boolean; 'true' is a String (at position 22)."},
		{"exportSingleItems gt false", "exportSingleItems is a Boolean, which can only be compared with eq or ne (at position 22)."},
	} {
		_, err := odata.ParseFilter(c.in, typed, typedNames)
		if err == nil || err.Error() != c.want {
			t.Errorf("%q:\n got %v\nwant %s", c.in, err, c.want)
		}
	}
}
