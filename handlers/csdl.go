package handlers

import (
	"encoding/xml"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/caseops/caseops/store"
)

// The service document of each API version, GET /{version}/$metadata: the OData v4 CSDL (EDMX XML) that every
// @odata.context points into, so the Graph SDKs and OData clients can resolve the types they are sent.
// The enums are built from the Go tables that decode and store them, so the document cannot drift from them.

const (
	graphNS    = "microsoft.graph."
	securityNS = "microsoft.graph.security."
	// unknownFutureValue is Graph's evolvable-enum sentinel: members after it reach only clients that ask.
	unknownFutureValue = string(store.ActionUnknownFutureValue)
)

// The EDMX document, as encoding/xml writes it.
type (
	csdlDocument struct {
		XMLName      xml.Name         `xml:"edmx:Edmx"`
		XMLNSEdmx    string           `xml:"xmlns:edmx,attr"`
		Version      string           `xml:"Version,attr"`
		DataServices csdlDataServices `xml:"edmx:DataServices"`
	}
	csdlDataServices struct {
		Schemas []csdlSchema `xml:"Schema"`
	}
	csdlSchema struct {
		XMLNS           string               `xml:"xmlns,attr"`
		Namespace       string               `xml:"Namespace,attr"`
		EnumTypes       []csdlEnumType       `xml:"EnumType"`
		ComplexTypes    []csdlComplexType    `xml:"ComplexType"`
		EntityTypes     []csdlEntityType     `xml:"EntityType"`
		Actions         []csdlAction         `xml:"Action"`
		EntityContainer *csdlEntityContainer `xml:"EntityContainer,omitempty"`
	}
	csdlEnumType struct {
		Name    string       `xml:"Name,attr"`
		IsFlags bool         `xml:"IsFlags,attr,omitempty"`
		Members []csdlMember `xml:"Member"`
	}
	csdlMember struct {
		Name  string `xml:"Name,attr"`
		Value int64  `xml:"Value,attr"`
	}
	csdlComplexType struct {
		Name       string         `xml:"Name,attr"`
		Properties []csdlProperty `xml:"Property"`
	}
	csdlEntityType struct {
		Name                 string                   `xml:"Name,attr"`
		BaseType             string                   `xml:"BaseType,attr,omitempty"`
		Key                  *csdlKey                 `xml:"Key,omitempty"`
		Properties           []csdlProperty           `xml:"Property"`
		NavigationProperties []csdlNavigationProperty `xml:"NavigationProperty"`
	}
	csdlKey struct {
		PropertyRefs []csdlPropertyRef `xml:"PropertyRef"`
	}
	csdlPropertyRef struct {
		Name string `xml:"Name,attr"`
	}
	csdlProperty struct {
		Name     string `xml:"Name,attr"`
		Type     string `xml:"Type,attr"`
		Nullable string `xml:"Nullable,attr,omitempty"` // "false", or absent for nullable
	}
	csdlNavigationProperty struct {
		Name           string `xml:"Name,attr"`
		Type           string `xml:"Type,attr"`
		ContainsTarget bool   `xml:"ContainsTarget,attr,omitempty"`
	}
	csdlAction struct {
		Name       string          `xml:"Name,attr"`
		IsBound    bool            `xml:"IsBound,attr"`
		Parameters []csdlParameter `xml:"Parameter"`
	}
	csdlParameter struct {
		Name     string `xml:"Name,attr"`
		Type     string `xml:"Type,attr"`
		Nullable string `xml:"Nullable,attr,omitempty"`
	}
	csdlEntityContainer struct {
		Name       string          `xml:"Name,attr"`
		EntitySets []csdlEntitySet `xml:"EntitySet"`
		Singletons []csdlSingleton `xml:"Singleton"`
	}
	csdlEntitySet struct {
		Name       string `xml:"Name,attr"`
		EntityType string `xml:"EntityType,attr"`
	}
	csdlSingleton struct {
		Name string `xml:"Name,attr"`
		Type string `xml:"Type,attr"`
	}
)

// prop is a nullable property; required one that is never null.
func prop(name, typ string) csdlProperty { return csdlProperty{Name: name, Type: typ} }

func required(name, typ string) csdlProperty {
	return csdlProperty{Name: name, Type: typ, Nullable: "false"}
}

func keyedEntity(name string, props ...csdlProperty) csdlEntityType {
	return csdlEntityType{Name: name, Key: &csdlKey{PropertyRefs: []csdlPropertyRef{{Name: "id"}}},
		Properties: append([]csdlProperty{required("id", "Edm.String")}, props...)}
}

func derivedEntity(name, base string, props ...csdlProperty) csdlEntityType {
	return csdlEntityType{Name: name, BaseType: base, Properties: props}
}

// enumType numbers members 0, 1, 2, ..., or 1, 2, 4, ... for a flags enum, in the order given.
func enumType(name string, flags bool, members []string) csdlEnumType {
	e := csdlEnumType{Name: name, IsFlags: flags}
	for i, m := range members {
		v := int64(i)
		if flags {
			v = 1 << i
		}
		e.Members = append(e.Members, csdlMember{Name: m, Value: v})
	}
	return e
}

// withSentinel is members with unknownFutureValue placed before members[evolvableFrom], as Graph orders them.
func withSentinel(members []string, evolvableFrom int) []string {
	out := append([]string{}, members[:evolvableFrom]...)
	out = append(out, unknownFutureValue)
	return append(out, members[evolvableFrom:]...)
}

// withSentinel is the enum's members as Graph lists them, sentinel included.
func (e evolvableEnum) withSentinel() []string { return withSentinel(e.members, e.evolvableFrom) }

// caseActionMembers is store.Actions with the sentinel before the first evolvable member.
func caseActionMembers(actions []store.Action) []string {
	from := len(actions)
	for i, a := range actions {
		if a.Evolvable() {
			from = i
			break
		}
	}
	return withSentinel(enumStrings(actions), from)
}

// caseOperationProperties are the caseOperation properties of section 1, with the enums of namespace ns.
func caseOperationProperties(ns string) []csdlProperty {
	return []csdlProperty{
		required("action", ns+"caseAction"),
		prop("createdBy", graphNS+"identitySet"),
		prop("createdDateTime", "Edm.DateTimeOffset"),
		prop("completedDateTime", "Edm.DateTimeOffset"),
		prop("percentProgress", "Edm.Int32"),
		prop("resultInfo", graphNS+"resultInfo"),
		required("status", ns+"caseOperationStatus"),
	}
}

// securitySchema is the microsoft.graph.security namespace, the same at both versions.
func securitySchema() csdlSchema {
	caseOperation := securityNS + "caseOperation"
	reportFiles := prop("reportFileMetadata", "Collection("+securityNS+"reportFileMetadata)")
	exportFiles := prop("exportFileMetadata", "Collection("+securityNS+"exportFileMetadata)")
	cloudAttachmentVersion := prop("cloudAttachmentVersion", securityNS+"cloudAttachmentVersion")
	documentVersion := prop("documentVersion", securityNS+"documentVersion")
	fileMetadata := []csdlProperty{prop("downloadUrl", "Edm.String"), prop("fileName", "Edm.String"), prop("size", "Edm.Int64")}
	ediscoveryCase := keyedEntity("ediscoveryCase",
		required("displayName", "Edm.String"),
		prop("description", "Edm.String"),
		prop("externalId", "Edm.String"),
		required("status", securityNS+"caseStatus"),
		prop("createdDateTime", "Edm.DateTimeOffset"),
		prop("lastModifiedDateTime", "Edm.DateTimeOffset"),
		prop("closedDateTime", "Edm.DateTimeOffset"),
		prop("lastModifiedBy", graphNS+"identitySet"),
		prop("closedBy", graphNS+"identitySet"))
	ediscoveryCase.NavigationProperties = []csdlNavigationProperty{
		{Name: "operations", Type: "Collection(" + caseOperation + ")", ContainsTarget: true}}
	casesRoot := keyedEntity("casesRoot")
	casesRoot.NavigationProperties = []csdlNavigationProperty{
		{Name: "ediscoveryCases", Type: "Collection(" + securityNS + "ediscoveryCase)", ContainsTarget: true}}
	boundToCase := []csdlParameter{{Name: "bindingParameter", Type: securityNS + "ediscoveryCase", Nullable: "false"}}

	return csdlSchema{
		XMLNS:     "http://docs.oasis-open.org/odata/ns/edm",
		Namespace: "microsoft.graph.security",
		EnumTypes: []csdlEnumType{
			enumType("caseOperationStatus", false, append(enumStrings(store.Statuses), unknownFutureValue)),
			enumType("caseAction", false, caseActionMembers(store.Actions)),
			enumType("caseStatus", false, append(enumStrings(store.CaseStatuses), unknownFutureValue)),
			enumType("statisticsOptions", true, statisticsOptionsEnum.withSentinel()),
			enumType("additionalDataOptions", true, additionalDataOptionsEnum.withSentinel()),
			enumType("itemsToInclude", true, itemsToIncludeEnum.withSentinel()),
			enumType("cloudAttachmentVersion", false, versionEnum.withSentinel()),
			enumType("documentVersion", false, versionEnum.withSentinel()),
			enumType("exportOptions", true, exportOptionsEnum.withSentinel()),
			enumType("exportFileStructure", false, exportStructureEnum.withSentinel()),
			enumType("additionalOptions", true, additionalOptionsEnum.withSentinel()),
			enumType("exportCriteria", true, exportCriteriaEnum.withSentinel()),
			enumType("exportLocation", true, exportLocationEnum.withSentinel()),
			enumType("exportFormat", false, exportFormatEnum.withSentinel()),
		},
		ComplexTypes: []csdlComplexType{
			{Name: "reportFileMetadata", Properties: fileMetadata},
			{Name: "exportFileMetadata", Properties: fileMetadata},
		},
		EntityTypes: []csdlEntityType{
			casesRoot,
			ediscoveryCase,
			keyedEntity("caseOperation", caseOperationProperties(securityNS)...),
			derivedEntity("ediscoveryTagOperation", caseOperation),
			derivedEntity("ediscoveryIndexOperation", caseOperation),
			derivedEntity("ediscoveryHoldOperation", caseOperation),
			derivedEntity("ediscoveryPurgeDataOperation", caseOperation),
			derivedEntity("ediscoveryHoldPolicySyncOperation", caseOperation, reportFiles),
			derivedEntity("ediscoveryEstimateOperation", caseOperation,
				prop("indexedItemCount", "Edm.Int64"),
				prop("indexedItemsSize", "Edm.Int64"),
				prop("unindexedItemCount", "Edm.Int64"),
				prop("unindexedItemsSize", "Edm.Int64"),
				prop("mailboxCount", "Edm.Int32"),
				prop("siteCount", "Edm.Int32"),
				prop("statisticsOptions", securityNS+"statisticsOptions"),
				reportFiles),
			derivedEntity("ediscoveryAddToReviewSetOperation", caseOperation,
				prop("additionalDataOptions", securityNS+"additionalDataOptions"),
				prop("itemsToInclude", securityNS+"itemsToInclude"),
				cloudAttachmentVersion,
				documentVersion,
				reportFiles),
			derivedEntity("ediscoveryExportOperation", caseOperation,
				prop("description", "Edm.String"),
				prop("outputName", "Edm.String"),
				prop("exportOptions", securityNS+"exportOptions"),
				prop("exportStructure", securityNS+"exportFileStructure"),
				exportFiles),
			derivedEntity("ediscoverySearchExportOperation", caseOperation,
				prop("displayName", "Edm.String"),
				prop("description", "Edm.String"),
				prop("additionalOptions", securityNS+"additionalOptions"),
				prop("exportCriteria", securityNS+"exportCriteria"),
				prop("exportLocation", securityNS+"exportLocation"),
				prop("exportFormat", securityNS+"exportFormat"),
				prop("exportSingleItems", "Edm.Boolean"),
				cloudAttachmentVersion,
				documentVersion,
				exportFiles),
		},
		Actions: []csdlAction{
			{Name: "close", IsBound: true, Parameters: boundToCase},
			{Name: "reopen", IsBound: true, Parameters: boundToCase},
		},
	}
}

// graphSchema is the microsoft.graph namespace: the shared complex types, the security singleton that roots
// /security/cases/ediscoveryCases, and at /beta the legacy tagOperation routes' types and entity set.
func graphSchema(legacy bool) csdlSchema {
	security := keyedEntity("security")
	security.NavigationProperties = []csdlNavigationProperty{
		{Name: "cases", Type: securityNS + "casesRoot", ContainsTarget: true}}
	s := csdlSchema{
		XMLNS:     "http://docs.oasis-open.org/odata/ns/edm",
		Namespace: "microsoft.graph",
		ComplexTypes: []csdlComplexType{
			{Name: "identitySet", Properties: []csdlProperty{
				prop("application", graphNS+"identity"), prop("device", graphNS+"identity"), prop("user", graphNS+"identity")}},
			{Name: "identity", Properties: []csdlProperty{prop("id", "Edm.String"), prop("displayName", "Edm.String")}},
			{Name: "resultInfo", Properties: []csdlProperty{
				prop("code", "Edm.Int32"), prop("message", "Edm.String"), prop("subcode", "Edm.Int32")}},
		},
		EntityTypes: []csdlEntityType{security},
		EntityContainer: &csdlEntityContainer{Name: "GraphService",
			Singletons: []csdlSingleton{{Name: "security", Type: graphNS + "security"}}},
	}
	if legacy {
		// The tagOperation routes take and list only the caseAction members they had before the later ones.
		s.EnumTypes = []csdlEnumType{
			enumType("caseOperationStatus", false, append(enumStrings(store.Statuses), unknownFutureValue)),
			enumType("caseAction", false, append(enumStrings(store.TagOperationActions), unknownFutureValue)),
		}
		s.EntityTypes = append(s.EntityTypes,
			keyedEntity("caseOperation", caseOperationProperties(graphNS)...),
			derivedEntity("tagOperation", graphNS+"caseOperation"))
		s.EntityContainer.EntitySets = []csdlEntitySet{{Name: "tagOperations", EntityType: graphNS + "tagOperation"}}
	}
	return s
}

// metadataDocument is the CSDL of one API version, "v1.0" or "beta".
func metadataDocument(version string) []byte {
	doc := csdlDocument{
		XMLNSEdmx:    "http://docs.oasis-open.org/odata/ns/edmx",
		Version:      "4.0",
		DataServices: csdlDataServices{Schemas: []csdlSchema{securitySchema(), graphSchema(version == "beta")}},
	}
	b, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic("csdl: " + err.Error()) // the model is static: a failure is a programming error, found by any test
	}
	return append([]byte(xml.Header), b...)
}

// handleMetadata serves the CSDL of version, built once; like Graph's, it needs no token.
func handleMetadata(version string) echo.HandlerFunc {
	doc := metadataDocument(version)
	return func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/xml", doc)
	}
}
