package handlers_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// detail is one member of error.details, as a client reads it.
type detail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Target  string `json:"target"`
}

// assertWholeError checks every part of a Graph error answer: status, code, target, message and each detail.
func assertWholeError(t *testing.T, r response, status int, code, target, message string, details ...detail) {
	t.Helper()
	targets := make([]string, len(details))
	for i, d := range details {
		targets[i] = d.Target
	}
	e := assertError(t, r, status, code, target, targets...)
	if e["message"] != message {
		t.Errorf("message\n got %q\nwant %q", e["message"], message)
	}
	var got struct {
		Error struct {
			Details []detail `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if len(details) == 0 {
		details = nil
	}
	if !reflect.DeepEqual(got.Error.Details, details) {
		t.Errorf("details\n got %+v\nwant %+v", got.Error.Details, details)
	}
}

const listOptions = "A list of operations takes $filter, $orderby, $select, $top, $count and $skiptoken."

// An unknown query option is answered with the options the request takes, and the one it most likely meant.
func TestUnknownQueryOptionMessages(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	id := s.create(`{}`)["id"].(string)
	for _, c := range []struct{ method, path, target, message string }{
		{"GET", "/beta/tagOperations?$fitler=status%20eq%20'running'", "$fitler",
			"The query option '$fitler' is not supported on this request; did you mean $filter? " + listOptions},
		{"GET", "/beta/tagOperations?$Filter=status%20eq%20'running'", "$Filter",
			"The query option '$Filter' is not supported on this request; did you mean $filter? " + listOptions},
		{"GET", "/beta/tagOperations?fitler=status%20eq%20'running'", "fitler",
			"The query option 'fitler' is not supported on this request; did you mean $filter? " + listOptions},
		{"GET", "/beta/tagOperations?$orderBy=status", "$orderBy",
			"The query option '$orderBy' is not supported on this request; did you mean $orderby? " + listOptions},
		{"GET", "/beta/tagOperations?pretty", "pretty",
			"The query option 'pretty' is not supported on this request. " + listOptions},
		{"GET", "/beta/tagOperations?$expand=createdBy", "$expand",
			"The query option '$expand' is not supported on this request: tagOperation has no navigation properties to expand."},
		{"GET", "/beta/tagOperations/" + id + "?$select=status", "$select",
			"The query option '$select' is not supported on this request, which takes no query options."},
		{"DELETE", "/beta/tagOperations/" + id + "?$top=1", "$top",
			"The query option '$top' is not supported on this request, which takes no query options."},
		{"GET", "/beta/tagOperations/delta?$deltaToken=abc", "$deltaToken",
			"The query option '$deltaToken' is not supported on delta; did you mean $deltatoken? Follow @odata.nextLink and " +
				"@odata.deltaLink as they are, and set the page size with Prefer: odata.maxpagesize."},
	} {
		r := s.do(c.method, c.path, "")
		assertWholeError(t, r, 400, "badRequest", c.target, c.message)
	}
	if n := len(s.events(id)); n != 1 {
		t.Errorf("%d events, want only the create", n)
	}
}

// A property of $filter, $orderby or $select with a slip in it is answered with the property it most likely meant;
// so is a member of an enumeration in $filter.
func TestQueryPropertySuggestions(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	const filterable = "status, action, percentProgress, createdDateTime, completedDateTime, createdBy/user/id, " +
		"createdBy/application/id, resultInfo/code"
	for _, c := range []struct{ query, target, message string }{
		{"$filter=Status eq 'running'", "$filter",
			"$filter is not valid: unknown property 'Status' (did you mean status?); a filter may use " + filterable + " (at position 1)."},
		{"$filter=createdBy/User/id eq 'ada'", "$filter",
			"$filter is not valid: unknown property 'createdBy/User/id' (did you mean createdBy/user/id?); a filter may use " + filterable + " (at position 1)."},
		{"$filter=precentProgress gt 5", "$filter",
			"$filter is not valid: unknown property 'precentProgress' (did you mean percentProgress?); a filter may use " + filterable + " (at position 1)."},
		{"$filter=tenant_id eq 'other'", "$filter",
			"$filter is not valid: unknown property 'tenant_id'; a filter may use " + filterable + " (at position 1)."},
		{"$filter=status eq 'Running'", "$filter",
			"$filter is not valid: 'Running' is not a value of status (did you mean 'running'?); it is one of notStarted, " +
				"submissionFailed, running, succeeded, partiallySucceeded, failed (at position 11)."},
		{"$filter=action in ('applyTags', 'Index')", "$filter",
			"$filter is not valid: 'Index' is not a value of action (did you mean 'index'?); it is one of contentExport, " +
				"applyTags, convertToPdf, index, estimateStatistics, addToReviewSet (at position 25)."},
		{"$orderby=CreatedDateTime desc", "$orderby",
			"$orderby is not valid: unknown property 'CreatedDateTime' (did you mean createdDateTime?); operations can be sorted by " +
				filterable + " (at position 1)."},
		{"$select=id,PercentProgress", "$select",
			"$select is not valid: unknown property 'PercentProgress' (did you mean percentProgress?); $select may list id, " +
				"createdDateTime, completedDateTime, percentProgress, status, action, createdBy, resultInfo or * (at position 4)."},
	} {
		r := s.do("GET", "/beta/tagOperations?"+encodeQuery(c.query), "")
		assertWholeError(t, r, 400, "badRequest", c.target, c.message)
	}
}

// An unknown property in a body is answered with the property it most likely meant, or with the properties
// there are; an enumeration value with a slip in its case with the member it meant; and null is mentioned
// only when null was sent.
func TestBodyPropertyMessages(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	id := s.create(`{}`)["id"].(string)
	before := s.row(id)
	const statuses = "notStarted, submissionFailed, running, succeeded, partiallySucceeded, failed"
	const actions = "contentExport, applyTags, convertToPdf, index, estimateStatistics, addToReviewSet"
	for _, c := range []struct {
		body string
		want detail
	}{
		{`{"PercentProgress": 5}`, detail{"unknownProperty", "tagOperation has no property 'PercentProgress'; did you mean percentProgress?", "PercentProgress"}},
		{`{"completedDatetime": null}`, detail{"unknownProperty", "tagOperation has no property 'completedDatetime'; did you mean completedDateTime?", "completedDatetime"}},
		{`{"tenantId": "other"}`, detail{"unknownProperty", "tagOperation has no property 'tenantId'; its properties are id, " +
			"createdDateTime, completedDateTime, percentProgress, status, action, createdBy and resultInfo.", "tenantId"}},
		{`{"createdBy": {"User": {"id": "u"}}}`, detail{"unknownProperty", "identitySet has no property 'User'; did you mean user?", "createdBy/User"}},
		{`{"createdBy": {"owner": {"id": "u"}}}`, detail{"unknownProperty", "identitySet has no property 'owner'; its properties are application, device and user.", "createdBy/owner"}},
		{`{"createdBy": {"user": {"displayname": "Ada"}}}`, detail{"unknownProperty", "identity has no property 'displayname'; did you mean displayName?", "createdBy/user/displayname"}},
		{`{"resultInfo": {"subCode": 1}}`, detail{"unknownProperty", "resultInfo has no property 'subCode'; did you mean subcode?", "resultInfo/subCode"}},
		{`{"resultInfo": {"text": "x"}}`, detail{"unknownProperty", "resultInfo has no property 'text'; its properties are code, message and subcode.", "resultInfo/text"}},
		{`{"status": "Running"}`, detail{"invalidValue", "status must be one of " + statuses + "; did you mean running?", "status"}},
		{`{"status": "paused"}`, detail{"invalidValue", "status must be one of " + statuses + ".", "status"}},
		{`{"status": 1}`, detail{"invalidValue", "status must be one of " + statuses + ".", "status"}},
		{`{"status": null}`, detail{"invalidValue", "status cannot be null; it must be one of " + statuses + ".", "status"}},
		{`{"action": "ApplyTags"}`, detail{"invalidValue", "action must be one of " + actions + "; did you mean applyTags?", "action"}},
		{`{"action": null}`, detail{"invalidValue", "action cannot be null; it must be one of " + actions + ".", "action"}},
	} {
		for _, req := range [][2]string{{"POST", "/beta/tagOperations"}, {"PATCH", "/beta/tagOperations/" + id}} {
			r := s.do(req[0], req[1], c.body)
			assertWholeError(t, r, 400, "badRequest", c.want.Target, c.want.Message, c.want)
		}
	}
	if s.row(id) != before {
		t.Errorf("a refused PATCH changed the row")
	}
	if n := s.count("SELECT count(*) FROM case_operations"); n != 1 {
		t.Errorf("%d operations, want only the one created", n)
	}
}

// A body that is not JSON is answered with where the problem is (line, column and byte offset) and, in words,
// what was expected there.
func TestBodySyntaxMessages(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	id := s.create(`{}`)["id"].(string)
	before := s.row(id)
	const notJSON = "The request body is not valid JSON: "
	const value = "where a value was expected: a string in double quotes, a number, true, false, null, an object or an array"
	for _, c := range []struct{ body, message string }{
		{`{"status": nope}`, notJSON + "at line 1, column 13 (byte offset 12), it has 'o' where 'u' was expected, to spell null; " +
			"a string goes in double quotes."},
		{`{"status": running}`, notJSON + "at line 1, column 12 (byte offset 11), it has 'r' " + value + "."},
		{`{"status": True}`, notJSON + "at line 1, column 12 (byte offset 11), it has 'T' " + value + "."},
		{"{\n  \"percentProgress\": 5,\n  \"status\": x\n}", notJSON + "at line 3, column 13 (byte offset 38), it has 'x' " + value + "."},
		{"\xef\xbb\xbf" + `{"status": nope}`, notJSON + "at line 1, column 13 (byte offset 15), it has 'o' where 'u' was expected, " +
			"to spell null; a string goes in double quotes."},
		{`{"percentProgress": 5,}`, notJSON + "at line 1, column 23 (byte offset 22), it has '}' where a property name in " +
			"double quotes was expected; JSON allows no comma before it."},
		{`{percentProgress: 5}`, notJSON + "at line 1, column 2 (byte offset 1), it has 'p' where a property name in double quotes was expected."},
		{`{"percentProgress" 5}`, notJSON + "at line 1, column 20 (byte offset 19), it has '5' where ':' was expected after the property name."},
		{`{"percentProgress": 5 "status": "running"}`, notJSON + "at line 1, column 23 (byte offset 22), it has '\"' where ',' or '}' " +
			"was expected after the property's value."},
		{`{"percentProgress": 5.}`, notJSON + "at line 1, column 23 (byte offset 22), it has '}' where a digit was expected after the decimal point."},
		{`{"resultInfo": {"message": "a` + "\t" + `b"}}`, notJSON + "at line 1, column 30 (byte offset 29), it has a tab inside " +
			`a string, where a control character must be escaped (\t for a tab, \n for a line break, \u0001 and the like for others).`},
		{`{"resultInfo": {"message": "a\qb"}}`, notJSON + "at line 1, column 31 (byte offset 30), it has 'q' after a backslash, " +
			`where an escape was expected: \", \\, \/, \b, \f, \n, \r, \t, or \u and four hexadecimal digits.`},
		{`{"createdBy": {"user": {"id": ["a" "b"]}}}`, notJSON + "at line 1, column 36 (byte offset 35), it has '\"' where ',' or ']' " +
			"was expected after the array element."},
		{`{"percentProgress": 5`, notJSON + "it ends at line 1, column 22 (byte offset 21), before every object, array and string in it is closed."},
		{`{"status": "running`, notJSON + "it ends at line 1, column 20 (byte offset 19), before every object, array and string in it is closed."},
		{` `, `The request body is empty; it must be a JSON object, such as {"percentProgress": 50}.`},
		{`nope`, notJSON + "at line 1, column 2 (byte offset 1), it has 'o' where 'u' was expected, to spell null; a string goes in double quotes."},
		{`[{"percentProgress": 2}]`, `The request body must be a JSON object, such as {"percentProgress": 50}, not an array.`},
		{`"x"`, `The request body must be a JSON object, such as {"percentProgress": 50}, not a string.`},
		{`null`, `The request body must be a JSON object, such as {"percentProgress": 50}, not null.`},
		{`{"percentProgress": 2} {}`, "The request body must hold one JSON object and nothing after it; at line 1, column 24 " +
			"(byte offset 23), it has '{'."},
	} {
		for _, req := range [][2]string{{"POST", "/beta/tagOperations"}, {"PATCH", "/beta/tagOperations/" + id}} {
			assertWholeError(t, s.do(req[0], req[1], c.body), 400, "badRequest", "", c.message)
		}
	}
	if s.row(id) != before {
		t.Errorf("a refused PATCH changed the row")
	}
	if n := s.count("SELECT count(*) FROM case_operations"); n != 1 {
		t.Errorf("%d operations, want only the one created", n)
	}
}

// However many problems a body has, the answer lists the first 20 and counts the rest, so its size is bounded.
func TestManyProblemsAreCounted(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	id := s.create(`{}`)["id"].(string)
	before := s.row(id)
	const properties = "; its properties are id, createdDateTime, completedDateTime, percentProgress, status, action, createdBy and resultInfo."
	var body strings.Builder
	body.WriteString(`{"percentProgress": 500`)
	for i := range 6000 {
		fmt.Fprintf(&body, `,"k%d":1`, i)
	}
	body.WriteString(`}`)
	want := []detail{{"invalidValue", "percentProgress must be an integer from 0 to 100, or null.", "percentProgress"}}
	targets := []string{"percentProgress"}
	for i := range 19 {
		k := fmt.Sprintf("k%d", i)
		want = append(want, detail{"unknownProperty", "tagOperation has no property '" + k + "'" + properties, k})
		targets = append(targets, k)
	}
	want = append(want, detail{"moreProblems", "5981 more problems are not listed; correct these and send the request " +
		"again to see the rest.", ""})
	message := "The request body has 6001 problems; the first 20 concern " + strings.Join(targets, ", ") + "."
	for _, req := range [][2]string{{"POST", "/beta/tagOperations"}, {"PATCH", "/beta/tagOperations/" + id}, {"PATCH", "/beta/tagOperation"}} {
		r := s.do(req[0], req[1], body.String())
		if req[1] == "/beta/tagOperation" {
			// Without an id the body names no operation: one problem more.
			want := append(append([]detail{}, want[:20]...), detail{"moreProblems", "5982 more problems are not listed; " +
				"correct these and send the request again to see the rest.", ""})
			assertWholeError(t, r, 400, "badRequest", "", "The request body has 6002 problems; the first 20 concern "+
				strings.Join(targets, ", ")+".", want...)
		} else {
			assertWholeError(t, r, 400, "badRequest", "", message, want...)
		}
		if len(r.body) > 8<<10 {
			t.Errorf("%s %s: a %d-byte body got a %d-byte answer", req[0], req[1], body.Len(), len(r.body))
		}
	}
	if s.row(id) != before {
		t.Errorf("a refused PATCH changed the row")
	}
}

// A completion time more than a few minutes ahead of the service's clock (a worker's clock skew) is refused on
// POST and PATCH, naming the property, and nothing is written.
func TestCompletedDateTimeInTheFuture(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	id := s.create(`{"status": "running"}`)["id"].(string)
	before := s.row(id)
	later := time.Now().UTC().Add(6 * time.Minute).Truncate(time.Second).Format(time.RFC3339)
	for _, value := range []string{"2999-01-01T00:00:00Z", "2999-01-01T02:00:00+02:00", later} {
		body := `{"status": "succeeded", "completedDateTime": "` + value + `"}`
		want := detail{"invalidValue", "completedDateTime " + value + " is in the future: a completion time may be at most " +
			"5 minutes after the service's clock.", "completedDateTime"}
		for _, req := range [][2]string{{"POST", "/beta/tagOperations"}, {"PATCH", "/beta/tagOperations/" + id}} {
			assertWholeError(t, s.do(req[0], req[1], body), 400, "badRequest", want.Target, want.Message, want)
		}
	}
	if s.row(id) != before {
		t.Errorf("a refused PATCH changed the row")
	}
	if n := s.count("SELECT count(*) FROM case_operations"); n != 1 {
		t.Errorf("%d operations, want only the one created", n)
	}
	// Within the allowance, a worker whose clock runs ahead is believed.
	soon := time.Now().UTC().Add(4 * time.Minute).Truncate(time.Second).Format(time.RFC3339)
	r := s.do("PATCH", "/beta/tagOperations/"+id, `{"status": "succeeded", "completedDateTime": "`+soon+`"}`)
	assertEntity(t, r, 200, map[string]any{"id": id, "status": "succeeded", "completedDateTime": soon, "@odata.etag": etagVersion(2)})
	r = s.do("POST", "/beta/tagOperations", `{"status": "failed", "completedDateTime": "`+soon+`"}`)
	assertEntity(t, r, 201, map[string]any{"status": "failed", "completedDateTime": soon, "@odata.etag": etagVersion(1)})
}

// An If-Match or If-None-Match that is no entity tag can never match, so it is a 400 that shows the form expected,
// not a 412 that a client retries for ever; If-None-Match is honoured on writes.
func TestConditionalHeaders(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	op := s.create(`{}`)
	id := op["id"].(string)
	path := "/beta/tagOperations/" + id
	current := etagOf(t, op["createdDateTime"].(string), 1)
	before := s.row(id)
	const form = " is not an entity tag. Send * or ETags as the service gave them, quotes included, such as " +
		`W/"3.hol4d7qf5q", separated by commas.`
	for _, header := range []string{"If-Match", "If-None-Match"} {
		for _, c := range []struct{ value, message string }{
			{`garbage`, "'garbage'" + form},
			{`\"` + strings.TrimPrefix(current, `W/"`)[:len(current)-4] + `\"`, "'" + `\"` + strings.TrimPrefix(current, `W/"`)[:len(current)-4] +
				`\"'` + form + " Do not escape the quotes with backslashes."},
			{`W/\"1.abc\"`, `'W/\"1.abc\"'` + form + " Do not escape the quotes with backslashes."},
			{`w/"1.abc"`, `'w/"1.abc"'` + form},
			{`"1.abc`, `'"1.abc'` + form},
			{current + ` ` + current, "'" + current + " " + current + "'" + form},
			{`*, ` + current, "'*' must be the only value of " + header + "; send * alone, or ETags only."},
		} {
			for _, method := range []string{"PATCH", "DELETE"} {
				body := ""
				if method == "PATCH" {
					body = `{"percentProgress": 5}`
				}
				r := s.do(method, path, body, header, c.value)
				assertWholeError(t, r, 400, "badRequest", header, "The "+header+" header is malformed: "+c.message)
			}
		}
	}
	if s.row(id) != before {
		t.Errorf("a malformed precondition wrote the row")
	}

	// Well-formed, If-None-Match is evaluated after If-Match (RFC 9110 §13.2.2); on a write, a match is 412.
	exists := "The operation exists, and If-None-Match: * allows the request only when it does not; nothing was changed."
	named := "The operation's current ETag is one that If-None-Match names; nothing was changed."
	for _, c := range []struct {
		method, ifMatch, ifNoneMatch, message string
	}{
		{"PATCH", "", "*", exists},
		{"PATCH", "", `W/"9.abc", ` + current, named},
		{"PATCH", current, "*", exists},
		{"DELETE", "", "*", exists},
		{"DELETE", "", current, named},
	} {
		r := s.do(c.method, path, `{"percentProgress": 5}`, "If-Match", c.ifMatch, "If-None-Match", c.ifNoneMatch)
		assertWholeError(t, r, 412, "preconditionFailed", "", c.message)
	}
	r := s.do("PATCH", path, `{"percentProgress": 5}`, "If-Match", `W/"9.abc"`, "If-None-Match", "*")
	assertWholeError(t, r, 412, "preconditionFailed", "", "The operation has changed since the ETag in If-Match was issued; read it again and retry.")
	if s.row(id) != before {
		t.Errorf("a failed precondition wrote the row")
	}
	r = s.do("PATCH", "/beta/tagOperations/05de44a5-44a5-05de-a544-de05a544de05", `{"percentProgress": 5}`, "If-None-Match", "*")
	assertWholeError(t, r, 404, "notFound", "", "The operation does not exist.")
	r = s.do("PATCH", path, `{"percentProgress": 5}`, "If-None-Match", `W/"9.abc"`, "If-Match", current)
	assertEntity(t, r, 200, map[string]any{"id": id, "percentProgress": 5, "@odata.etag": etagVersion(2)})
	r = s.do("DELETE", path, "", "If-None-Match", current)
	if r.status != 204 {
		t.Fatalf("DELETE with an If-None-Match naming an older ETag: %d %s", r.status, r.body)
	}
}
