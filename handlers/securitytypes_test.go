package handlers_test

import (
	"encoding/json"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// ownNames are each type's own properties (CONTRACT section 8), in the order the service sends them.
var ownNames = map[string][]string{
	"ediscoveryHoldPolicySyncOperation": {"reportFileMetadata"},
	"ediscoveryEstimateOperation": {"indexedItemCount", "indexedItemsSize", "unindexedItemCount", "unindexedItemsSize",
		"mailboxCount", "siteCount", "statisticsOptions", "reportFileMetadata"},
	"ediscoveryAddToReviewSetOperation": {"additionalDataOptions", "itemsToInclude", "cloudAttachmentVersion",
		"documentVersion", "reportFileMetadata"},
	"ediscoveryExportOperation": {"description", "outputName", "exportOptions", "exportStructure", "exportFileMetadata"},
	"ediscoverySearchExportOperation": {"cloudAttachmentVersion", "documentVersion", "displayName", "description",
		"additionalOptions", "exportCriteria", "exportLocation", "exportFormat", "exportSingleItems", "exportFileMetadata"},
}

// On the security paths @odata.type chooses which of the nine caseOperation types a create makes; the answer
// names it, isof() lists one type, and the older routes keep their one type out of reach.
func TestSecurityOperationTypes(t *testing.T) {
	t.Parallel()
	types := []string{"ediscoveryTagOperation", "ediscoveryIndexOperation", "ediscoveryHoldOperation",
		"ediscoveryPurgeDataOperation", "ediscoveryHoldPolicySyncOperation", "ediscoveryEstimateOperation",
		"ediscoveryAddToReviewSetOperation", "ediscoveryExportOperation", "ediscoverySearchExportOperation"}
	for _, version := range versions {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t)
			caseID := s.createCase(version, `{"displayName": "Types"}`)["id"].(string)
			ops := version + "/security/cases/ediscoveryCases/" + caseID + "/operations"
			context := s.url + version + "/$metadata#security/cases/ediscoveryCases('" + caseID + "')/operations"
			ids := map[string]string{}
			for _, typ := range types {
				body := `{"@odata.type": "#microsoft.graph.security.` + typ + `", "status": "running"}`
				want := map[string]any{"@odata.type": "#microsoft.graph.security." + typ, "status": "running"}
				for _, p := range ownNames[typ] {
					want[p] = nil // every own property of the type is sent, null when unset
				}
				op := assertCaseOperation(t, s.do("POST", ops, body), 201, context+"/$entity", want)
				ids[typ] = op["id"].(string)
				assertCaseOperation(t, s.do("GET", ops+"/"+ids[typ], ""), 200, context+"/$entity", want)
			}
			// A PATCH may repeat the type, as the Graph SDKs send it with every body.
			est := "#microsoft.graph.security.ediscoveryEstimateOperation"
			want := map[string]any{"@odata.type": est, "status": "running", "percentProgress": 40}
			for _, p := range ownNames["ediscoveryEstimateOperation"] {
				want[p] = nil
			}
			assertCaseOperation(t, s.do("PATCH", ops+"/"+ids["ediscoveryEstimateOperation"], `{"@odata.type": "`+est+`", "percentProgress": 40}`),
				200, context+"/$entity", want)

			for _, bad := range []string{`"#microsoft.graph.tagOperation"`, `"#microsoft.graph.security.ediscoveryCase"`, `"ediscoveryTagOperation"`, `7`} {
				e := assertError(t, s.do("POST", ops, `{"@odata.type": `+bad+`}`), 400, "badRequest", "@odata.type", "@odata.type")
				details, _ := e["details"].([]any)
				if len(details) != 1 || details[0].(map[string]any)["message"] != "@odata.type must name one of the types "+
					"microsoft.graph.security.ediscoveryTagOperation, microsoft.graph.security.ediscoveryIndexOperation, "+
					"microsoft.graph.security.ediscoveryHoldOperation, microsoft.graph.security.ediscoveryPurgeDataOperation, "+
					"microsoft.graph.security.ediscoveryHoldPolicySyncOperation, microsoft.graph.security.ediscoveryEstimateOperation, "+
					"microsoft.graph.security.ediscoveryAddToReviewSetOperation, microsoft.graph.security.ediscoveryExportOperation, "+
					"microsoft.graph.security.ediscoverySearchExportOperation, with a leading #." {
					t.Errorf("@odata.type %s: %v", bad, e["details"])
				}
			}

			for _, typ := range types {
				r := s.do("GET", ops+"?$count=true&$filter="+url.QueryEscape("isof('microsoft.graph.security."+typ+"')"), "")
				value, _ := r.json(t)["value"].([]any)
				if r.status != 200 || len(value) != 1 || value[0].(map[string]any)["id"] != ids[typ] ||
					value[0].(map[string]any)["@odata.type"] != "#microsoft.graph.security."+typ {
					t.Errorf("isof %s: %d %s", typ, r.status, r.body)
				}
			}
			r := s.do("GET", ops+"/$count?$filter="+url.QueryEscape("not isof('microsoft.graph.security.ediscoveryTagOperation')"), "")
			if r.status != 200 || string(r.body) != "8" {
				t.Errorf("$count of not isof the tag type: %d %s, want 8", r.status, r.body)
			}
			assertError(t, s.do("GET", ops+"?$filter="+url.QueryEscape("isof('microsoft.graph.tagOperation')"), ""), 400, "badRequest", "$filter")
			// The older list has no isof, and names every tag operation as it always has.
			assertError(t, s.do("GET", "/beta/tagOperations?$filter="+url.QueryEscape("isof('microsoft.graph.security.ediscoveryTagOperation')"), ""),
				400, "badRequest", "$filter")
			assertEntity(t, s.do("GET", "/beta/tagOperations/"+ids["ediscoveryTagOperation"], ""), 200,
				map[string]any{"id": ids["ediscoveryTagOperation"], "status": "running"})
		})
	}
}

// caseAction members Graph lists after unknownFutureValue reach a client that asks for them by
// Prefer: include-unknown-enum-members; every other reads unknownFutureValue (CONTRACT section 9).
func TestEvolvableActions(t *testing.T) {
	t.Parallel()
	for _, version := range versions {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t)
			caseID := s.createCase(version, `{"displayName": "Purges"}`)["id"].(string)
			ops := version + "/security/cases/ediscoveryCases/" + caseID + "/operations"
			context := s.url + version + "/$metadata#security/cases/ediscoveryCases('" + caseID + "')/operations"
			const prefer = "include-unknown-enum-members"
			for _, action := range []string{"purgeData", "exportReport", "exportResult", "holdPolicySync"} {
				r := s.do("POST", ops, `{"action": "`+action+`"}`)
				op := assertCaseOperation(t, r, 201, context+"/$entity", map[string]any{"action": "unknownFutureValue"})
				if r.header.Get("Preference-Applied") != "" {
					t.Errorf("Preference-Applied %q without the preference", r.header.Get("Preference-Applied"))
				}
				id := op["id"].(string)
				r = s.do("GET", ops+"/"+id, "", "Prefer", prefer)
				assertCaseOperation(t, r, 200, context+"/$entity", map[string]any{"action": action})
				if r.header.Get("Preference-Applied") != prefer {
					t.Errorf("GET with Prefer %s: Preference-Applied %q", prefer, r.header.Get("Preference-Applied"))
				}
				// Sending unknownFutureValue back changes nothing; $filter finds the member with or without the preference.
				assertCaseOperation(t, s.do("PATCH", ops+"/"+id, `{"action": "unknownFutureValue", "percentProgress": 1}`, "Prefer", prefer),
					200, context+"/$entity", map[string]any{"action": action, "percentProgress": 1})
				for _, headers := range [][]string{nil, {"Prefer", prefer}} {
					r = s.do("GET", ops+"?$filter="+url.QueryEscape("action eq '"+action+"'"), "", headers...)
					var list struct{ Value []map[string]any }
					if err := json.Unmarshal(r.body, &list); err != nil || len(list.Value) != 1 || list.Value[0]["id"] != id {
						t.Errorf("$filter action eq %s (headers %v): %d %s", action, headers, r.status, r.body)
					}
					want := "unknownFutureValue"
					if headers != nil {
						want = action
					}
					if len(list.Value) == 1 && list.Value[0]["action"] != want {
						t.Errorf("listed action %v with headers %v, want %s", list.Value[0]["action"], headers, want)
					}
				}
				// The older routes know today's six members only.
				assertError(t, s.do("POST", "/beta/tagOperations", `{"action": "`+action+`"}`), 400, "badRequest", "action", "action")
			}
		})
	}
}

// Each type's own properties are created, read back, patched and cleared through the security paths; a
// value of the wrong kind, or a property of another type, is a 400 that names it and writes nothing.
func TestOwnProperties(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	version := "/v1.0"
	caseID := s.createCase(version, `{"displayName": "Own properties"}`)["id"].(string)
	ops := version + "/security/cases/ediscoveryCases/" + caseID + "/operations"
	context := s.url + version + "/$metadata#security/cases/ediscoveryCases('" + caseID + "')/operations/$entity"
	const ns = "#microsoft.graph.security."
	report := `[{"@odata.type": "#microsoft.graph.security.reportFileMetadata", "downloadUrl": "https://example.com/r.csv", "fileName": "r.csv", "size": 1099511627776}]`
	reportJSON := []any{map[string]any{"@odata.type": "#microsoft.graph.security.reportFileMetadata",
		"downloadUrl": "https://example.com/r.csv", "fileName": "r.csv", "size": 1099511627776}}
	exportJSON := []any{map[string]any{"@odata.type": "#microsoft.graph.security.exportFileMetadata",
		"downloadUrl": nil, "fileName": "x.pst", "size": nil}}
	cases := []struct {
		typ, body string
		want      map[string]any // with Prefer: include-unknown-enum-members
		plain     map[string]any // what changes without it
	}{
		{"ediscoveryHoldPolicySyncOperation", `"reportFileMetadata": ` + report,
			map[string]any{"reportFileMetadata": reportJSON}, nil},
		{"ediscoveryEstimateOperation", `"indexedItemCount": 9007199254740993, "indexedItemsSize": 0, "unindexedItemCount": 3,
			"unindexedItemsSize": 4, "mailboxCount": 2147483647, "siteCount": 6,
			"statisticsOptions": "locationsWithoutHits,includeRefiners,includeRefiners", "reportFileMetadata": []`,
			map[string]any{"indexedItemCount": 9007199254740993, "indexedItemsSize": 0, "unindexedItemCount": 3,
				"unindexedItemsSize": 4, "mailboxCount": 2147483647, "siteCount": 6,
				"statisticsOptions": "includeRefiners,locationsWithoutHits", "reportFileMetadata": []any{}}, nil},
		{"ediscoveryAddToReviewSetOperation", `"additionalDataOptions": "allVersions,htmlTranscripts", "itemsToInclude": "searchHits",
			"cloudAttachmentVersion": "recent10", "documentVersion": "all"`,
			map[string]any{"additionalDataOptions": "allVersions,htmlTranscripts", "itemsToInclude": "searchHits",
				"cloudAttachmentVersion": "recent10", "documentVersion": "all", "reportFileMetadata": nil},
			map[string]any{"additionalDataOptions": "allVersions,unknownFutureValue"}},
		{"ediscoveryExportOperation", `"description": "all of it", "outputName": "export-1", "exportOptions": "tags,originalFiles,condensePaths",
			"exportStructure": "msg", "exportFileMetadata": [{"fileName": "x.pst"}]`,
			map[string]any{"description": "all of it", "outputName": "export-1", "exportOptions": "originalFiles,tags,condensePaths",
				"exportStructure": "msg", "exportFileMetadata": exportJSON},
			map[string]any{"exportOptions": "originalFiles,tags,unknownFutureValue", "exportStructure": "unknownFutureValue"}},
		{"ediscoverySearchExportOperation", `"displayName": "search export", "description": "d", "additionalOptions": "none,includeReport",
			"exportCriteria": "partiallyIndexed", "exportLocation": "responsiveLocations,nonresponsiveLocations", "exportFormat": "eml",
			"exportSingleItems": false, "cloudAttachmentVersion": "latest", "documentVersion": "recent100"`,
			map[string]any{"displayName": "search export", "description": "d", "additionalOptions": "none,includeReport",
				"exportCriteria": "partiallyIndexed", "exportLocation": "responsiveLocations,nonresponsiveLocations",
				"exportFormat": "eml", "exportSingleItems": false, "cloudAttachmentVersion": "latest",
				"documentVersion": "recent100", "exportFileMetadata": nil},
			map[string]any{"additionalOptions": "none,unknownFutureValue"}},
	}
	const prefer = "include-unknown-enum-members"
	for _, c := range cases {
		full := map[string]any{"@odata.type": ns + c.typ}
		for k, v := range c.want {
			full[k] = v
		}
		r := s.do("POST", ops, `{"@odata.type": "`+ns+c.typ+`", `+c.body+`}`, "Prefer", prefer)
		op := assertCaseOperation(t, r, 201, context, full)
		id := op["id"].(string)
		for k, v := range c.plain {
			full[k] = v
		}
		assertCaseOperation(t, s.do("GET", ops+"/"+id, ""), 200, context, full)

		// PATCH one own property to null, and refuse one of another type (the schema's check).
		first := ownNames[c.typ][0]
		full[first] = nil
		assertCaseOperation(t, s.do("PATCH", ops+"/"+id, `{"`+first+`": null}`), 200, context, full)
		foreign, value := "indexedItemCount", "5"
		if c.typ == "ediscoveryEstimateOperation" {
			foreign, value = "exportFormat", `"pst"`
		}
		before := s.row(id)
		assertError(t, s.do("PATCH", ops+"/"+id, `{"`+foreign+`": `+value+`, "percentProgress": 3}`), 400, "badRequest", foreign, foreign)
		if after := s.row(id); after != before {
			t.Errorf("%s: a refused PATCH changed the row:\n%s\n%s", c.typ, before, after)
		}
		// Another type's property is refused on create, naming it.
		assertError(t, s.do("POST", ops, `{"@odata.type": "`+ns+c.typ+`", "`+foreign+`": `+value+`}`), 400, "badRequest", foreign, foreign)
	}

	est := `{"@odata.type": "` + ns + `ediscoveryEstimateOperation", `
	for _, bad := range []struct{ body, target string }{
		{`"indexedItemCount": -1}`, "indexedItemCount"},
		{`"indexedItemCount": "5"}`, "indexedItemCount"},
		{`"indexedItemCount": 1.5}`, "indexedItemCount"},
		{`"mailboxCount": 2147483648}`, "mailboxCount"},
		{`"statisticsOptions": ""}`, "statisticsOptions"},
		{`"statisticsOptions": "includeRefiners,unknownFutureValue"}`, "statisticsOptions"},
		{`"statisticsOptions": ["includeRefiners"]}`, "statisticsOptions"},
		{`"reportFileMetadata": {"fileName": "x"}}`, "reportFileMetadata"},
		{`"reportFileMetadata": [{"fileName": 3}]}`, "reportFileMetadata/0/fileName"},
		{`"reportFileMetadata": [{"size": -1}]}`, "reportFileMetadata/0/size"},
		{`"reportFileMetadata": [{"path": "x"}]}`, "reportFileMetadata/0/path"},
		{`"reportFileMetadata": [{"@odata.type": "#microsoft.graph.security.exportFileMetadata"}]}`, "reportFileMetadata/0/@odata.type"},
		{`"exportFormat": "pst"}`, "exportFormat"},
		{`"indexedItemCout": 1}`, "indexedItemCout"},
	} {
		assertError(t, s.do("POST", ops, est+bad.body), 400, "badRequest", bad.target, bad.target)
	}
	assertError(t, s.do("POST", ops, `{"@odata.type": "`+ns+`ediscoveryExportOperation", "exportStructure": "zip"}`), 400, "badRequest", "exportStructure", "exportStructure")
	assertError(t, s.do("POST", ops, `{"@odata.type": "`+ns+`ediscoverySearchExportOperation", "exportSingleItems": "yes"}`), 400, "badRequest", "exportSingleItems", "exportSingleItems")
	// The older routes know no own property.
	assertError(t, s.do("POST", "/beta/tagOperations", `{"indexedItemCount": 1}`), 400, "badRequest", "indexedItemCount", "indexedItemCount")
}

// $filter and $select reach the types' own scalar properties on the security paths; an operation whose type
// lacks one reads it as null in a filter and is sent without it in a selection.
func TestOwnPropertyQueries(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	const version = "/v1.0"
	caseID := s.createCase(version, `{"displayName": "Queries"}`)["id"].(string)
	ops := version + "/security/cases/ediscoveryCases/" + caseID + "/operations"
	typed := func(typ, props string) string {
		body := `{"@odata.type": "#microsoft.graph.security.` + typ + `"` + props + `}`
		r := s.do("POST", ops, body)
		if r.status != 201 {
			t.Fatalf("create %s: %d %s", body, r.status, r.body)
		}
		return r.json(t)["id"].(string)
	}
	big := typed("ediscoveryEstimateOperation", `, "indexedItemCount": 5000000000, "mailboxCount": 3`)
	small := typed("ediscoveryEstimateOperation", `, "indexedItemCount": 10`)
	unset := typed("ediscoveryEstimateOperation", ``)
	export := typed("ediscoveryExportOperation", `, "description": "Q3 custodians", "exportStructure": "msg"`)
	single := typed("ediscoverySearchExportOperation", `, "description": "Q3 custodians", "exportSingleItems": true, "exportFormat": "eml"`)
	many := typed("ediscoverySearchExportOperation", `, "exportSingleItems": false, "exportFormat": "pst"`)
	tag := typed("ediscoveryTagOperation", ``)

	ids := func(path string) []string {
		t.Helper()
		r := s.do("GET", path, "")
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		var list struct{ Value []map[string]any }
		if err := json.Unmarshal(r.body, &list); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, op := range list.Value {
			out = append(out, op["id"].(string))
		}
		slices.Sort(out)
		return out
	}
	sorted := func(in ...string) []string { slices.Sort(in); return in }
	for _, c := range []struct {
		filter string
		want   []string
	}{
		{"indexedItemCount gt 3000000000", sorted(big)},
		{"indexedItemCount le 10", sorted(small)},
		{"indexedItemCount eq null", sorted(unset, export, single, many, tag)},
		{"not (indexedItemCount gt 3000000000)", sorted(small, unset, export, single, many, tag)},
		{"indexedItemCount ne 10 and isof('microsoft.graph.security.ediscoveryEstimateOperation')", sorted(big, unset)},
		{"mailboxCount eq 3", sorted(big)},
		{"exportSingleItems eq true", sorted(single)},
		{"exportSingleItems ne true", sorted(big, small, unset, export, many, tag)},
		{"exportSingleItems in (false, null) and isof('microsoft.graph.security.ediscoverySearchExportOperation')", sorted(many)},
		{"description eq 'Q3 custodians'", sorted(export, single)},
		{"exportFormat eq 'eml'", sorted(single)},
		{"exportStructure eq 'msg'", sorted(export)}, // a member after unknownFutureValue: accepted in requests always
		{"exportStructure in ('pst', 'none')", nil},
	} {
		path := ops + "?$filter=" + url.QueryEscape(c.filter)
		if got := ids(path); !slices.Equal(got, c.want) {
			t.Errorf("$filter=%s: %v, want %v", c.filter, got, c.want)
		}
		if r := s.do("GET", ops+"/$count?$filter="+url.QueryEscape(c.filter), ""); r.status != 200 || string(r.body) != strconv.Itoa(len(c.want)) {
			t.Errorf("$count $filter=%s: %d %s, want %d", c.filter, r.status, r.body, len(c.want))
		}
	}

	// Paging keeps the filter: two pages of one over the two estimates that have a count.
	r := s.do("GET", ops+"?$top=1&$filter="+url.QueryEscape("indexedItemCount ne null"), "")
	first := r.json(t)
	next, _ := first["@odata.nextLink"].(string)
	if r.status != 200 || next == "" {
		t.Fatalf("first page: %d %s", r.status, r.body)
	}
	second := s.do("GET", strings.TrimPrefix(next, s.url), "").json(t)
	got := sorted(first["value"].([]any)[0].(map[string]any)["id"].(string), second["value"].([]any)[0].(map[string]any)["id"].(string))
	if !slices.Equal(got, sorted(big, small)) || second["@odata.nextLink"] != nil {
		t.Errorf("pages %v then %v", first, second)
	}

	// $select names own properties beside the common ones.
	r = s.do("GET", ops+"?$select=status,indexedItemCount,exportFormat,exportStructure&$filter="+url.QueryEscape("not isof('microsoft.graph.security.ediscoveryTagOperation')"), "")
	if r.status != 200 {
		t.Fatalf("$select: %d %s", r.status, r.body)
	}
	var list struct {
		Context string `json:"@odata.context"`
		Value   []map[string]any
	}
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatal(err)
	}
	if want := s.url + version + "/$metadata#security/cases/ediscoveryCases('" + caseID + "')/operations(status,indexedItemCount,exportFormat,exportStructure)"; list.Context != want {
		t.Errorf("@odata.context %q, want %q", list.Context, want)
	}
	wantOwn := map[string]map[string]any{
		big: {"indexedItemCount": 5000000000}, small: {"indexedItemCount": 10}, unset: {"indexedItemCount": nil},
		export: {"exportStructure": "unknownFutureValue"}, single: {"exportFormat": "eml"}, many: {"exportFormat": "pst"},
	}
	if len(list.Value) != len(wantOwn) {
		t.Fatalf("$select listed %d operations, want %d: %s", len(list.Value), len(wantOwn), r.body)
	}
	for _, op := range list.Value {
		id := op["id"].(string)
		want := map[string]any{"@odata.type": op["@odata.type"], "@odata.etag": op["@odata.etag"], "id": id, "status": "notStarted"}
		for k, v := range wantOwn[id] {
			want[k] = v
		}
		if !reflect.DeepEqual(normalize(op), normalize(want)) {
			t.Errorf("$select %s:\n got %s\nwant %s", id, mustJSON(op), mustJSON(want))
		}
	}

	// Wrong literals, sorting by an own property, and the older routes, which have none, are 400s.
	for _, bad := range []struct{ path, target string }{
		{ops + "?$filter=" + url.QueryEscape("indexedItemCount eq '5'"), "$filter"},
		{ops + "?$filter=" + url.QueryEscape("exportSingleItems gt false"), "$filter"},
		{ops + "?$filter=" + url.QueryEscape("exportFormat eq 'zip'"), "$filter"},
		{ops + "?$filter=" + url.QueryEscape("statisticsOptions eq 'includeRefiners'"), "$filter"},
		{ops + "?$orderby=indexedItemCount", "$orderby"},
		{ops + "?$select=indexedItemCounts", "$select"},
		{"/beta/tagOperations?$filter=" + url.QueryEscape("indexedItemCount eq 1"), "$filter"},
		{"/beta/tagOperations?$select=indexedItemCount", "$select"},
	} {
		assertError(t, s.do("GET", bad.path, ""), 400, "badRequest", bad.target)
	}
}
