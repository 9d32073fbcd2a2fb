package handlers_test

import (
	"context"
	"encoding/xml"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// edmxDoc is as much of an OData v4 CSDL document as the tests read.
type edmxDoc struct {
	XMLName xml.Name     `xml:"http://docs.oasis-open.org/odata/ns/edmx Edmx"`
	Version string       `xml:"Version,attr"`
	Schemas []edmxSchema `xml:"DataServices>Schema"`
}

type edmxSchema struct {
	Namespace string `xml:"Namespace,attr"`
	EnumTypes []struct {
		Name    string `xml:"Name,attr"`
		IsFlags bool   `xml:"IsFlags,attr"`
		Members []struct {
			Name  string `xml:"Name,attr"`
			Value string `xml:"Value,attr"`
		} `xml:"Member"`
	} `xml:"EnumType"`
	ComplexTypes []edmxStructured `xml:"ComplexType"`
	EntityTypes  []edmxStructured `xml:"EntityType"`
	Actions      []struct {
		Name       string `xml:"Name,attr"`
		IsBound    bool   `xml:"IsBound,attr"`
		Parameters []struct {
			Name string `xml:"Name,attr"`
			Type string `xml:"Type,attr"`
		} `xml:"Parameter"`
	} `xml:"Action"`
	Containers []struct {
		Name       string `xml:"Name,attr"`
		EntitySets []struct {
			Name       string `xml:"Name,attr"`
			EntityType string `xml:"EntityType,attr"`
		} `xml:"EntitySet"`
		Singletons []struct {
			Name string `xml:"Name,attr"`
			Type string `xml:"Type,attr"`
		} `xml:"Singleton"`
	} `xml:"EntityContainer"`
}

type edmxStructured struct {
	Name     string `xml:"Name,attr"`
	BaseType string `xml:"BaseType,attr"`
	Key      []struct {
		Name string `xml:"Name,attr"`
	} `xml:"Key>PropertyRef"`
	Properties []struct {
		Name string `xml:"Name,attr"`
		Type string `xml:"Type,attr"`
	} `xml:"Property"`
	Navigation []struct {
		Name           string `xml:"Name,attr"`
		Type           string `xml:"Type,attr"`
		ContainsTarget bool   `xml:"ContainsTarget,attr"`
	} `xml:"NavigationProperty"`
}

// getMetadata fetches GET /{version}/$metadata without a token and parses it, failing unless it is a
// 200 application/xml EDMX document.
func getMetadata(t *testing.T, ts *testServer, version string) edmxDoc {
	t.Helper()
	r := ts.do(http.MethodGet, "/"+version+"/$metadata", "", "Authorization", "")
	if r.status != http.StatusOK {
		t.Fatalf("GET /%s/$metadata = %d: %s", version, r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/xml" {
		t.Errorf("Content-Type %q, want application/xml", ct)
	}
	var doc edmxDoc
	if err := xml.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("/%s/$metadata is not EDMX: %v\n%.512s", version, err, r.body)
	}
	if doc.Version != "4.0" {
		t.Errorf("Edmx Version %q", doc.Version)
	}
	return doc
}

// structured finds a complex or entity type by its qualified name.
func (d edmxDoc) structured(qualified string) (edmxStructured, bool) {
	for _, s := range d.Schemas {
		name, ok := strings.CutPrefix(qualified, s.Namespace+".")
		if !ok || strings.Contains(name, ".") {
			continue
		}
		for _, ty := range slices.Concat(s.EntityTypes, s.ComplexTypes) {
			if ty.Name == name {
				return ty, true
			}
		}
	}
	return edmxStructured{}, false
}

// enum is the members of an enum type by qualified name, as "name=value", and whether it is flags.
func (d edmxDoc) enum(qualified string) (members []string, flags, found bool) {
	for _, s := range d.Schemas {
		for _, e := range s.EnumTypes {
			if s.Namespace+"."+e.Name == qualified {
				for _, m := range e.Members {
					members = append(members, m.Name+"="+m.Value)
				}
				return members, e.IsFlags, true
			}
		}
	}
	return nil, false, false
}

// properties are a structured type's properties, inherited ones included: name -> type.
func (d edmxDoc) properties(t testing.TB, qualified string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for seen := 0; qualified != ""; seen++ {
		ty, ok := d.structured(qualified)
		if !ok || seen > 10 {
			t.Fatalf("type %s is not in the document (or its base types loop)", qualified)
		}
		for _, p := range ty.Properties {
			if _, dup := out[p.Name]; dup {
				t.Errorf("%s: property %s is declared twice along its base types", qualified, p.Name)
			}
			out[p.Name] = p.Type
		}
		qualified = ty.BaseType
	}
	return out
}

// metadataProperties is every property of the structured type typeName (qualified, such as
// "microsoft.graph.security.ediscoveryCase") in /{version}/$metadata, inherited ones included: name -> type.
// A route test can hold its JSON against it: every key but the @odata.* annotations must be one.
func metadataProperties(t *testing.T, version, typeName string) map[string]string {
	t.Helper()
	return getMetadata(t, newTestServerOn(t, nil), version).properties(t, typeName)
}

const sec = "microsoft.graph.security."

// wantEnums are Graph's enums, in Graph's member order.
var wantEnums = map[string]struct {
	flags   bool
	members string
}{
	"caseOperationStatus":    {false, "notStarted, submissionFailed, running, succeeded, partiallySucceeded, failed, unknownFutureValue"},
	"caseAction":             {false, "contentExport, applyTags, convertToPdf, index, estimateStatistics, addToReviewSet, holdUpdate, unknownFutureValue, purgeData, exportReport, exportResult, holdPolicySync"},
	"caseStatus":             {false, "unknown, active, pendingDelete, closing, closed, closedWithError, unknownFutureValue"},
	"statisticsOptions":      {true, "includeRefiners, includeQueryStats, includeUnindexedStats, advancedIndexing, locationsWithoutHits, unknownFutureValue"},
	"additionalDataOptions":  {true, "allVersions, linkedFiles, unknownFutureValue, advancedIndexing, listAttachments, htmlTranscripts, messageConversationExpansion, locationsWithoutHits, allItemsInFolder"},
	"itemsToInclude":         {true, "searchHits, partiallyIndexed, unknownFutureValue"},
	"cloudAttachmentVersion": {false, "latest, recent10, recent100, all, unknownFutureValue"},
	"documentVersion":        {false, "latest, recent10, recent100, all, unknownFutureValue"},
	"exportOptions":          {true, "originalFiles, text, pdfReplacement, tags, unknownFutureValue, splitSource, includeFolderAndPath, friendlyName, condensePaths"},
	"exportFileStructure":    {false, "none, directory, pst, unknownFutureValue, msg"},
	"additionalOptions":      {true, "none, teamsAndYammerConversations, cloudAttachments, allDocumentVersions, subfolderContents, listAttachments, unknownFutureValue, htmlTranscripts, advancedIndexing, allItemsInFolder, includeFolderAndPath, condensePaths, friendlyName, splitSource, includeReport"},
	"exportCriteria":         {true, "searchHits, partiallyIndexed, unknownFutureValue"},
	"exportLocation":         {true, "responsiveLocations, nonresponsiveLocations, unknownFutureValue"},
	"exportFormat":           {false, "pst, msg, eml, unknownFutureValue"},
}

// wantOperationTypes are the caseOperation types and their own properties (CONTRACT section 8).
var wantOperationTypes = map[string]map[string]string{
	"ediscoveryTagOperation":            {},
	"ediscoveryIndexOperation":          {},
	"ediscoveryHoldOperation":           {},
	"ediscoveryPurgeDataOperation":      {},
	"ediscoveryHoldPolicySyncOperation": {"reportFileMetadata": "Collection(" + sec + "reportFileMetadata)"},
	"ediscoveryEstimateOperation": {"indexedItemCount": "Edm.Int64", "indexedItemsSize": "Edm.Int64",
		"unindexedItemCount": "Edm.Int64", "unindexedItemsSize": "Edm.Int64", "mailboxCount": "Edm.Int32",
		"siteCount": "Edm.Int32", "statisticsOptions": sec + "statisticsOptions",
		"reportFileMetadata": "Collection(" + sec + "reportFileMetadata)"},
	"ediscoveryAddToReviewSetOperation": {"additionalDataOptions": sec + "additionalDataOptions",
		"itemsToInclude": sec + "itemsToInclude", "cloudAttachmentVersion": sec + "cloudAttachmentVersion",
		"documentVersion": sec + "documentVersion", "reportFileMetadata": "Collection(" + sec + "reportFileMetadata)"},
	"ediscoveryExportOperation": {"description": "Edm.String", "outputName": "Edm.String",
		"exportOptions": sec + "exportOptions", "exportStructure": sec + "exportFileStructure",
		"exportFileMetadata": "Collection(" + sec + "exportFileMetadata)"},
	"ediscoverySearchExportOperation": {"displayName": "Edm.String", "description": "Edm.String",
		"additionalOptions": sec + "additionalOptions", "exportCriteria": sec + "exportCriteria",
		"exportLocation": sec + "exportLocation", "exportFormat": sec + "exportFormat", "exportSingleItems": "Edm.Boolean",
		"cloudAttachmentVersion": sec + "cloudAttachmentVersion", "documentVersion": sec + "documentVersion",
		"exportFileMetadata": "Collection(" + sec + "exportFileMetadata)"},
}

func caseOperationProps(ns string) map[string]string {
	return map[string]string{"id": "Edm.String", "action": ns + "caseAction", "createdBy": "microsoft.graph.identitySet",
		"createdDateTime": "Edm.DateTimeOffset", "completedDateTime": "Edm.DateTimeOffset", "percentProgress": "Edm.Int32",
		"resultInfo": "microsoft.graph.resultInfo", "status": ns + "caseOperationStatus"}
}

func withProps(base, own map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range own {
		out[k] = v
	}
	return out
}

func TestMetadataDocuments(t *testing.T) {
	t.Parallel()
	ts := newTestServerOn(t, nil)
	for _, version := range []string{"v1.0", "beta"} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			doc := getMetadata(t, ts, version)

			for name, want := range wantEnums {
				got, flags, ok := doc.enum(sec + name)
				if !ok {
					t.Errorf("enum %s%s is missing", sec, name)
					continue
				}
				var members []string
				for i, m := range strings.Split(want.members, ", ") {
					v := i
					if want.flags {
						v = 1 << i
					}
					members = append(members, m+"="+strconv.Itoa(v))
				}
				if flags != want.flags || !slices.Equal(got, members) {
					t.Errorf("enum %s (flags %v) = %v\nwant (flags %v) %v", name, flags, got, want.flags, members)
				}
			}

			fileMetadata := map[string]string{"downloadUrl": "Edm.String", "fileName": "Edm.String", "size": "Edm.Int64"}
			wantTypes := map[string]map[string]string{
				sec + "reportFileMetadata": fileMetadata,
				sec + "exportFileMetadata": fileMetadata,
				"microsoft.graph.identity": {"id": "Edm.String", "displayName": "Edm.String"},
				"microsoft.graph.identitySet": {"application": "microsoft.graph.identity",
					"device": "microsoft.graph.identity", "user": "microsoft.graph.identity"},
				"microsoft.graph.resultInfo": {"code": "Edm.Int32", "message": "Edm.String", "subcode": "Edm.Int32"},
				sec + "ediscoveryCase": {"id": "Edm.String", "displayName": "Edm.String", "description": "Edm.String",
					"externalId": "Edm.String", "status": sec + "caseStatus", "createdDateTime": "Edm.DateTimeOffset",
					"lastModifiedDateTime": "Edm.DateTimeOffset", "closedDateTime": "Edm.DateTimeOffset",
					"lastModifiedBy": "microsoft.graph.identitySet", "closedBy": "microsoft.graph.identitySet"},
				sec + "caseOperation": caseOperationProps(sec),
			}
			for name, own := range wantOperationTypes {
				wantTypes[sec+name] = withProps(caseOperationProps(sec), own)
				if ty, _ := doc.structured(sec + name); ty.BaseType != sec+"caseOperation" {
					t.Errorf("%s has BaseType %q", name, ty.BaseType)
				}
			}
			for name, want := range wantTypes {
				if _, ok := doc.structured(name); !ok {
					t.Errorf("type %s is missing", name)
					continue
				}
				if got := doc.properties(t, name); !mapsEqual(got, want) {
					t.Errorf("%s properties = %v\nwant %v", name, got, want)
				}
			}

			c, _ := doc.structured(sec + "ediscoveryCase")
			if len(c.Key) != 1 || c.Key[0].Name != "id" || len(c.Navigation) != 1 ||
				c.Navigation[0].Name != "operations" || c.Navigation[0].Type != "Collection("+sec+"caseOperation)" || !c.Navigation[0].ContainsTarget {
				t.Errorf("ediscoveryCase key %v, navigation %v", c.Key, c.Navigation)
			}
			assertBoundActions(t, doc)
			assertCasesPath(t, doc)
			assertResolves(t, doc)

			_, legacyType := doc.structured("microsoft.graph.tagOperation")
			_, legacyBase := doc.structured("microsoft.graph.caseOperation")
			_, legacySet := doc.entitySet("tagOperations")
			if want := version == "beta"; legacyType != want || legacyBase != want || legacySet != want {
				t.Errorf("legacy tagOperation %v, caseOperation %v, entity set %v; want them %v", legacyType, legacyBase, legacySet, want)
			}
			if version == "beta" {
				if got, want := doc.properties(t, "microsoft.graph.tagOperation"), caseOperationProps("microsoft.graph."); !mapsEqual(got, want) {
					t.Errorf("microsoft.graph.tagOperation properties = %v\nwant %v", got, want)
				}
				got, _, _ := doc.enum("microsoft.graph.caseAction")
				want := []string{"contentExport=0", "applyTags=1", "convertToPdf=2", "index=3", "estimateStatistics=4",
					"addToReviewSet=5", "unknownFutureValue=6"}
				if !slices.Equal(got, want) {
					t.Errorf("microsoft.graph.caseAction = %v, want the tagOperation routes' %v", got, want)
				}
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func assertBoundActions(t *testing.T, doc edmxDoc) {
	t.Helper()
	var got []string
	for _, s := range doc.Schemas {
		for _, a := range s.Actions {
			if s.Namespace+"." == sec && a.IsBound && len(a.Parameters) > 0 && a.Parameters[0].Type == sec+"ediscoveryCase" {
				got = append(got, a.Name)
			}
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"close", "reopen"}) {
		t.Errorf("actions bound to ediscoveryCase: %v, want close and reopen", got)
	}
}

// assertCasesPath follows security/cases/ediscoveryCases from the entity container to ediscoveryCase.
func assertCasesPath(t *testing.T, doc edmxDoc) {
	t.Helper()
	ty := ""
	for _, s := range doc.Schemas {
		for _, c := range s.Containers {
			for _, single := range c.Singletons {
				if single.Name == "security" {
					ty = single.Type
				}
			}
		}
	}
	for _, segment := range []string{"cases", "ediscoveryCases"} {
		from, ok := doc.structured(ty)
		if !ok {
			t.Fatalf("security/cases/ediscoveryCases: no type %q before %s", ty, segment)
		}
		ty = ""
		for _, n := range from.Navigation {
			if n.Name == segment && n.ContainsTarget {
				ty = strings.TrimSuffix(strings.TrimPrefix(n.Type, "Collection("), ")")
			}
		}
	}
	if ty != sec+"ediscoveryCase" {
		t.Errorf("security/cases/ediscoveryCases leads to %q", ty)
	}
}

// edmPrimitives are the Edm types the document may use.
var edmPrimitives = []string{"Edm.String", "Edm.Boolean", "Edm.Int32", "Edm.Int64", "Edm.DateTimeOffset"}

// assertResolves checks that every type the document names is Edm's or its own, and every entity type has a key.
func assertResolves(t *testing.T, doc edmxDoc) {
	t.Helper()
	known := func(name string) bool {
		name = strings.TrimSuffix(strings.TrimPrefix(name, "Collection("), ")")
		_, structured := doc.structured(name)
		_, _, enum := doc.enum(name)
		return slices.Contains(edmPrimitives, name) || structured || enum
	}
	for _, s := range doc.Schemas {
		for _, ty := range slices.Concat(s.EntityTypes, s.ComplexTypes) {
			for _, p := range ty.Properties {
				if !known(p.Type) {
					t.Errorf("%s.%s/%s has unknown type %s", s.Namespace, ty.Name, p.Name, p.Type)
				}
			}
			for _, n := range ty.Navigation {
				if !known(n.Type) {
					t.Errorf("%s.%s/%s navigates to unknown type %s", s.Namespace, ty.Name, n.Name, n.Type)
				}
			}
			if ty.BaseType != "" && !known(ty.BaseType) {
				t.Errorf("%s.%s has unknown BaseType %s", s.Namespace, ty.Name, ty.BaseType)
			}
		}
		for _, ty := range s.EntityTypes {
			keyed := ty
			for len(keyed.Key) == 0 && keyed.BaseType != "" {
				keyed, _ = doc.structured(keyed.BaseType)
			}
			if len(keyed.Key) == 0 {
				t.Errorf("entity type %s.%s has no key", s.Namespace, ty.Name)
			}
		}
		for _, c := range s.Containers {
			for _, set := range c.EntitySets {
				if !known(set.EntityType) {
					t.Errorf("entity set %s has unknown type %s", set.Name, set.EntityType)
				}
			}
			for _, single := range c.Singletons {
				if !known(single.Type) {
					t.Errorf("singleton %s has unknown type %s", single.Name, single.Type)
				}
			}
		}
	}
}

// entitySet is the entity type of the container's entity set name.
func (d edmxDoc) entitySet(name string) (string, bool) {
	for _, s := range d.Schemas {
		for _, c := range s.Containers {
			for _, set := range c.EntitySets {
				if set.Name == name {
					return set.EntityType, true
				}
			}
		}
	}
	return "", false
}

func TestMetadataMethods(t *testing.T) {
	t.Parallel()
	ts := newTestServerOn(t, nil)
	for _, path := range []string{"/v1.0/$metadata", "/beta/$metadata"} {
		get := ts.do(http.MethodGet, path, "")
		head := ts.do(http.MethodHead, path, "")
		if head.status != get.status || head.header.Get("Content-Type") != get.header.Get("Content-Type") || len(head.body) != 0 {
			t.Errorf("HEAD %s = %d %q with %d bytes; GET = %d %q", path, head.status, head.header.Get("Content-Type"),
				len(head.body), get.status, get.header.Get("Content-Type"))
		}
		r := ts.do(http.MethodPost, path, `{}`)
		assertError(t, r, http.StatusMethodNotAllowed, "methodNotAllowed", "")
		if allow := r.header.Get("Allow"); allow != "GET, HEAD, OPTIONS" {
			t.Errorf("POST %s: Allow %q", path, allow)
		}
		if r := ts.do(http.MethodOptions, path, ""); r.status != http.StatusNoContent || r.header.Get("Allow") != "GET, HEAD, OPTIONS" {
			t.Errorf("OPTIONS %s = %d, Allow %q", path, r.status, r.header.Get("Allow"))
		}
	}
}

// The @odata.context of the tagOperation routes names a document that answers, and a set and type in it
// that hold every property the JSON renders.
func TestMetadataDescribesTagOperations(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	created := ts.create(`{"percentProgress": 40, "resultInfo": {"code": 7}}`)
	for _, path := range []string{"/beta/tagOperations/" + created["id"].(string), "/beta/tagOperations",
		"/beta/tagOperations?$select=status,resultInfo"} {
		r := ts.do(http.MethodGet, path, "")
		if r.status != http.StatusOK {
			t.Fatalf("GET %s = %d: %s", path, r.status, r.body)
		}
		body := r.json(t)
		context, _ := body["@odata.context"].(string)
		metadataURL, fragment, _ := strings.Cut(context, "#")
		metadataPath, ok := strings.CutPrefix(metadataURL, ts.url)
		if !ok {
			t.Fatalf("@odata.context %q is not on this server", context)
		}
		doc := getMetadata(t, ts, strings.TrimSuffix(strings.TrimPrefix(metadataPath, "/"), "/$metadata"))
		setName, _, _ := strings.Cut(fragment, "/") // tagOperations/$entity
		setName, _, _ = strings.Cut(setName, "(")   // tagOperations(status,resultInfo), after a $select
		typeName, ok := doc.entitySet(setName)
		if !ok {
			t.Fatalf("@odata.context %q names entity set %q, which %s lacks", context, setName, metadataPath)
		}
		if typeName != "microsoft.graph.tagOperation" {
			t.Errorf("entity set %s holds %s", setName, typeName)
		}
		entity := body
		if values, ok := body["value"].([]any); ok && len(values) > 0 {
			entity = values[0].(map[string]any)
		}
		props := doc.properties(t, typeName)
		for k := range entity {
			if _, ok := props[k]; !ok && !strings.HasPrefix(k, "@odata.") {
				t.Errorf("GET %s renders %s, which %s does not have in %s", path, k, typeName, metadataPath)
			}
		}
		if entity["@odata.type"] != "#"+typeName {
			t.Errorf("@odata.type %v, entity set type %s", entity["@odata.type"], typeName)
		}
	}
	if got := metadataProperties(t, "beta", "microsoft.graph.tagOperation"); got["percentProgress"] != "Edm.Int32" {
		t.Errorf("metadataProperties: %v", got)
	}
}

// The enums of the document allow exactly what the database stores: the members of the Postgres enum
// types and of the CHECK constraints, in the same order, and the sentinel besides.
func TestMetadataEnumsMatchTheDatabase(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	doc := getMetadata(t, ts, "v1.0")
	enumTypes := map[string]string{"caseOperationStatus": "case_operation_status", "caseAction": "case_action",
		"caseStatus": "ediscovery_case_status"}
	constraints := map[string]string{
		"statisticsOptions": "statistics_options_valid", "additionalDataOptions": "additional_data_options_valid",
		"itemsToInclude": "items_to_include_valid", "cloudAttachmentVersion": "cloud_attachment_version_known",
		"documentVersion": "document_version_known", "exportOptions": "export_options_valid",
		"exportFileStructure": "export_structure_known", "additionalOptions": "additional_options_valid",
		"exportCriteria": "export_criteria_valid", "exportLocation": "export_location_valid",
		"exportFormat": "export_format_known",
	}
	quoted := regexp.MustCompile(`'([^']*)'`)
	for name := range wantEnums {
		var stored []string
		if pgType, ok := enumTypes[name]; ok {
			if err := ts.pool.QueryRow(context.Background(),
				`SELECT enum_range(NULL::`+pgType+`)::text[]`).Scan(&stored); err != nil {
				t.Fatal(err)
			}
		} else {
			var def string
			if err := ts.pool.QueryRow(context.Background(), `SELECT pg_get_constraintdef(oid) FROM pg_constraint
				WHERE conrelid = 'case_operations'::regclass AND conname = $1`, "case_operations_"+constraints[name]).Scan(&def); err != nil {
				t.Fatalf("%s: constraint %s: %v", name, constraints[name], err)
			}
			for _, m := range quoted.FindAllStringSubmatch(def, -1) {
				if list, ok := strings.CutPrefix(m[1], "{"); ok {
					stored = append(stored, strings.Split(strings.TrimSuffix(list, "}"), ",")...)
				} else {
					stored = append(stored, m[1])
				}
			}
		}
		members, _, _ := doc.enum(sec + name)
		var documented []string
		for _, m := range members {
			if m, _, _ := strings.Cut(m, "="); m != "unknownFutureValue" {
				documented = append(documented, m)
			}
		}
		if !slices.Equal(documented, stored) {
			t.Errorf("%s: $metadata has %v (unknownFutureValue aside); the database stores %v", name, documented, stored)
		}
	}
}

// Each caseOperation type of the document has exactly the own properties the database lets its rows hold.
func TestMetadataTypesMatchTheDatabase(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	doc := getMetadata(t, ts, "v1.0")
	var def string
	if err := ts.pool.QueryRow(context.Background(), `SELECT pg_get_constraintdef(oid) FROM pg_constraint
		WHERE conrelid = 'case_operations'::regclass AND conname = 'case_operations_own_properties_only'`).Scan(&def); err != nil {
		t.Fatal(err)
	}
	// Each branch lists the columns a type must leave NULL; ELSE (every type without a branch) lists them all.
	branch := regexp.MustCompile(`(?:WHEN '(\w+)'::text|ELSE) THEN \(num_nonnulls\(([^)]*)\)|ELSE \(num_nonnulls\(([^)]*)\)`)
	mustBeNull := map[string][]string{}
	var all []string
	for _, m := range branch.FindAllStringSubmatch(def, -1) {
		if m[1] != "" {
			mustBeNull[m[1]] = strings.Split(m[2], ", ")
		} else {
			all = strings.Split(m[3], ", ")
		}
	}
	if len(all) == 0 || len(mustBeNull) == 0 {
		t.Fatalf("cannot read case_operations_own_properties_only: %s", def)
	}
	camel := func(column string) string {
		parts := strings.Split(column, "_")
		for i := 1; i < len(parts); i++ {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
		return strings.Join(parts, "")
	}
	for name := range wantOperationTypes {
		null, ok := mustBeNull[name]
		if !ok {
			null = all
		}
		var stored []string
		for _, column := range all {
			if !slices.Contains(null, column) {
				stored = append(stored, camel(column))
			}
		}
		var documented []string
		base := doc.properties(t, sec+"caseOperation")
		for p := range doc.properties(t, sec+name) {
			if _, inherited := base[p]; !inherited {
				documented = append(documented, p)
			}
		}
		slices.Sort(stored)
		slices.Sort(documented)
		if !slices.Equal(documented, stored) {
			t.Errorf("%s: $metadata gives it %v; the database lets it store %v", name, documented, stored)
		}
	}
}

// What the security routes send is what $metadata declares: every property of each caseOperation type and of
// ediscoveryCase, inherited ones included, and nothing else but @odata annotations.
func TestSecurityJSONMatchesMetadata(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	for _, version := range versions {
		doc := getMetadata(t, s, strings.TrimPrefix(version, "/"))
		keys := func(entity map[string]any) map[string]bool {
			out := map[string]bool{}
			for k := range entity {
				if !strings.HasPrefix(k, "@odata.") {
					out[k] = true
				}
			}
			return out
		}
		declared := func(typeName string) map[string]bool {
			out := map[string]bool{}
			for k := range doc.properties(t, typeName) {
				out[k] = true
			}
			return out
		}
		c := s.createCase(version, `{"displayName": "Shapes"}`)
		if got, want := keys(c), declared(sec+"ediscoveryCase"); !reflect.DeepEqual(got, want) {
			t.Errorf("%s case JSON has %v, $metadata declares %v", version, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
		}
		ops := version + casesPathForTest + c["id"].(string) + "/operations"
		for typ := range wantOperationTypes {
			r := s.do("POST", ops, `{"@odata.type": "#`+sec+typ+`"}`)
			if r.status != 201 {
				t.Fatalf("create %s: %d %s", typ, r.status, r.body)
			}
			created := r.json(t)
			listed := s.do("GET", ops+"?$filter="+url.QueryEscape("isof('"+sec+typ+"')"), "").json(t)["value"].([]any)
			for what, entity := range map[string]map[string]any{"create": created, "list": listed[0].(map[string]any)} {
				if got, want := keys(entity), declared(sec+typ); !reflect.DeepEqual(got, want) {
					t.Errorf("%s %s %s JSON has %v, $metadata declares %v", version, typ, what,
						slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
				}
			}
		}
	}
}

const casesPathForTest = "/security/cases/ediscoveryCases/"
