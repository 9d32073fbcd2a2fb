package handlers_test

import (
	"encoding/json"
	"net/url"
	"testing"
)

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
				op := assertCaseOperation(t, s.do("POST", ops, body), 201, context+"/$entity",
					map[string]any{"@odata.type": "#microsoft.graph.security." + typ, "status": "running"})
				ids[typ] = op["id"].(string)
				assertCaseOperation(t, s.do("GET", ops+"/"+ids[typ], ""), 200, context+"/$entity",
					map[string]any{"@odata.type": "#microsoft.graph.security." + typ, "status": "running"})
			}
			// A PATCH may repeat the type, as the Graph SDKs send it with every body.
			est := "#microsoft.graph.security.ediscoveryEstimateOperation"
			assertCaseOperation(t, s.do("PATCH", ops+"/"+ids["ediscoveryEstimateOperation"], `{"@odata.type": "`+est+`", "percentProgress": 40}`),
				200, context+"/$entity", map[string]any{"@odata.type": est, "status": "running", "percentProgress": 40})

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
