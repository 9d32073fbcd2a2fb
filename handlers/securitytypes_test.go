package handlers_test

import (
	"encoding/json"
	"net/url"
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
