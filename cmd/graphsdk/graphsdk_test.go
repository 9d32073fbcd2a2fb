package graphsdk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphgocore "github.com/microsoftgraph/msgraph-sdk-go-core"
	graphmodels "github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/models/security"
	sec "github.com/microsoftgraph/msgraph-sdk-go/security"
)

// TestGraphSDK is the acceptance test of the microsoft.graph.security surface: a real caseops process
// driven by the official Graph Go SDK, at both API versions.
func TestGraphSDK(t *testing.T) {
	srv := startServer(t)
	for _, version := range []string{"v1.0", "beta"} {
		t.Run(version, func(t *testing.T) {
			wire := &wireLog{next: khttp.GetDefaultTransport()}
			base := srv.url + "/" + version
			adapter, err := newRequestAdapter(base, srv.token, wire)
			if err != nil {
				t.Fatal(err)
			}
			g := &graphClient{t: t, ctx: context.Background(), base: base, adapter: adapter, cases: EdiscoveryCases(adapter)}
			g.run()
			wire.check(t)
		})
	}
}

type graphClient struct {
	t       *testing.T
	ctx     context.Context
	base    string // <server>/v1.0 or <server>/beta
	adapter abstractions.RequestAdapter
	cases   *sec.CasesEdiscoveryCasesRequestBuilder
}

func (g *graphClient) run() {
	t := g.t
	caseID := g.caseLifecycle()
	ops := g.createEveryType(caseID)
	g.listAndCount(caseID, ops)
	g.progress(caseID, ops["ediscoveryEstimateOperation"])
	g.errors(caseID)
	g.evolvableEnums(caseID, ops)
	g.deleteOperation(caseID, ops["ediscoveryTagOperation"])
	g.closeAndReopen(caseID)
	if t.Failed() {
		return
	}
	g.deleteCase()
}

// caseLifecycle creates the case the operations go in and checks its GET, $filter, $count and PATCH.
func (g *graphClient) caseLifecycle() string {
	t := g.t
	name := "Contoso v. Fabrikam " + randomSuffix()
	body := security.NewEdiscoveryCase()
	body.SetDisplayName(ptr(name))
	body.SetDescription(ptr("Graph SDK acceptance"))
	body.SetExternalId(ptr("CASE-" + name[len(name)-8:]))
	created, err := g.cases.Post(g.ctx, body, nil)
	if err != nil {
		t.Fatalf("POST %s/security/cases/ediscoveryCases (create a case): %s", g.base, describe(err))
	}
	where := "POST security/cases/ediscoveryCases"
	if created.GetId() == nil || *created.GetId() == "" {
		t.Fatalf("%s: the new case has no id", where)
	}
	caseID := *created.GetId()
	g.checkCase(where, created, body, security.ACTIVE_CASESTATUS)
	eq(t, where, "@odata.context", ptr(annotation(created, "@odata.context")), ptr(g.base+"/$metadata#security/cases/ediscoveryCases/$entity"))

	got, err := g.cases.ByEdiscoveryCaseId(caseID).Get(g.ctx, nil)
	if err != nil {
		t.Fatalf("GET security/cases/ediscoveryCases/%s: %s", caseID, describe(err))
	}
	g.checkCase("GET security/cases/ediscoveryCases/{id}", got, body, security.ACTIVE_CASESTATUS)

	list, err := g.cases.Get(g.ctx, &sec.CasesEdiscoveryCasesRequestBuilderGetRequestConfiguration{
		QueryParameters: &sec.CasesEdiscoveryCasesRequestBuilderGetQueryParameters{
			Filter: ptr("displayName eq '" + name + "'"), Count: ptr(true), Top: ptr(int32(5)),
		},
	})
	if err != nil {
		t.Fatalf("GET security/cases/ediscoveryCases?$filter=displayName eq ...: %s", describe(err))
	}
	where = "GET security/cases/ediscoveryCases?$filter=displayName eq '…'&$count=true"
	eq(t, where, "@odata.count", list.GetOdataCount(), ptr(int64(1)))
	if v := list.GetValue(); len(v) != 1 || v[0].GetId() == nil || *v[0].GetId() != caseID {
		t.Errorf("%s: value has %d cases, want exactly the new case %s", where, len(v), caseID)
	}

	// A new model object, not the one read back: the backing store would send only what changed on it.
	patch := security.NewEdiscoveryCase()
	patch.SetDescription(ptr("Graph SDK acceptance, described again"))
	if _, err := g.cases.ByEdiscoveryCaseId(caseID).Patch(g.ctx, patch, nil); err != nil {
		t.Fatalf("PATCH security/cases/ediscoveryCases/%s: %s", caseID, describe(err))
	}
	got, err = g.cases.ByEdiscoveryCaseId(caseID).Get(g.ctx, nil)
	if err != nil {
		t.Fatalf("GET security/cases/ediscoveryCases/%s after PATCH: %s", caseID, describe(err))
	}
	where = "GET security/cases/ediscoveryCases/{id} after PATCH"
	eq(t, where, "description", got.GetDescription(), patch.GetDescription())
	eq(t, where, "displayName", got.GetDisplayName(), body.GetDisplayName())
	if got.GetLastModifiedDateTime() == nil || got.GetCreatedDateTime() == nil || got.GetLastModifiedDateTime().Before(*got.GetCreatedDateTime()) {
		t.Errorf("%s: lastModifiedDateTime = %v, want a time not before createdDateTime %v", where, show(got.GetLastModifiedDateTime()), show(got.GetCreatedDateTime()))
	}
	return caseID
}

func (g *graphClient) checkCase(where string, got, want security.EdiscoveryCaseable, status security.CaseStatus) {
	t := g.t
	t.Helper()
	if got.GetOdataType() == nil || *got.GetOdataType() != "#microsoft.graph.security.ediscoveryCase" {
		t.Errorf("%s: @odata.type = %v, want #microsoft.graph.security.ediscoveryCase", where, show(got.GetOdataType()))
	}
	eq(t, where, "displayName", got.GetDisplayName(), want.GetDisplayName())
	eq(t, where, "description", got.GetDescription(), want.GetDescription())
	eq(t, where, "externalId", got.GetExternalId(), want.GetExternalId())
	eq(t, where, "status", got.GetStatus(), &status)
	if got.GetCreatedDateTime() == nil {
		t.Errorf("%s: createdDateTime is null", where)
	}
	if got.GetLastModifiedBy() == nil || got.GetLastModifiedBy().GetUser() == nil {
		t.Errorf("%s: lastModifiedBy.user is null, want the token's user", where)
	} else {
		eq(t, where, "lastModifiedBy.user.id", got.GetLastModifiedBy().GetUser().GetId(), ptr("dev"))
	}
}

// operationType is one of the nine caseOperation types: a body with every one of its own properties set,
// and the comparison of each of them through the typed getters.
type operationType struct {
	name  string // after #microsoft.graph.security.
	build func() security.CaseOperationable
	check func(t *testing.T, where string, got, want security.CaseOperationable)
}

var operationTypes = []operationType{
	{"ediscoveryTagOperation", func() security.CaseOperationable {
		op := security.NewEdiscoveryTagOperation()
		op.SetAction(ptr(security.APPLYTAGS_CASEACTION))
		op.SetPercentProgress(ptr(int32(0)))
		return op
	}, func(t *testing.T, where string, got, want security.CaseOperationable) {
		as[*security.EdiscoveryTagOperation](t, where, got)
	}},
	{"ediscoveryIndexOperation", func() security.CaseOperationable {
		op := security.NewEdiscoveryIndexOperation()
		op.SetAction(ptr(security.INDEX_CASEACTION))
		return op
	}, func(t *testing.T, where string, got, want security.CaseOperationable) {
		as[*security.EdiscoveryIndexOperation](t, where, got)
	}},
	{"ediscoveryHoldOperation", func() security.CaseOperationable {
		op := security.NewEdiscoveryHoldOperation()
		op.SetAction(ptr(security.HOLDUPDATE_CASEACTION))
		return op
	}, func(t *testing.T, where string, got, want security.CaseOperationable) {
		as[*security.EdiscoveryHoldOperation](t, where, got)
	}},
	{"ediscoveryPurgeDataOperation", func() security.CaseOperationable {
		op := security.NewEdiscoveryPurgeDataOperation()
		op.SetAction(ptr(security.PURGEDATA_CASEACTION)) // after unknownFutureValue
		return op
	}, func(t *testing.T, where string, got, want security.CaseOperationable) {
		as[*security.EdiscoveryPurgeDataOperation](t, where, got)
	}},
	{"ediscoveryHoldPolicySyncOperation", func() security.CaseOperationable {
		op := security.NewEdiscoveryHoldPolicySyncOperation()
		op.SetAction(ptr(security.HOLDPOLICYSYNC_CASEACTION))
		op.SetReportFileMetadata([]security.ReportFileMetadataable{reportFile("holds.csv", 2048)})
		return op
	}, func(t *testing.T, where string, got, want security.CaseOperationable) {
		g, ok := as[*security.EdiscoveryHoldPolicySyncOperation](t, where, got)
		if !ok {
			return
		}
		w := want.(*security.EdiscoveryHoldPolicySyncOperation)
		reportFiles(t, where, g.GetReportFileMetadata(), w.GetReportFileMetadata())
	}},
	{"ediscoveryEstimateOperation", func() security.CaseOperationable {
		op := security.NewEdiscoveryEstimateOperation()
		op.SetAction(ptr(security.ESTIMATESTATISTICS_CASEACTION))
		op.SetIndexedItemCount(ptr(int64(1200)))
		op.SetIndexedItemsSize(ptr(int64(5_000_000_000))) // more than an Int32 holds
		op.SetUnindexedItemCount(ptr(int64(7)))
		op.SetUnindexedItemsSize(ptr(int64(0)))
		op.SetMailboxCount(ptr(int32(3)))
		op.SetSiteCount(ptr(int32(2)))
		op.SetStatisticsOptions(ptr(security.StatisticsOptions(security.INCLUDEREFINERS_STATISTICSOPTIONS |
			security.INCLUDEQUERYSTATS_STATISTICSOPTIONS | security.LOCATIONSWITHOUTHITS_STATISTICSOPTIONS)))
		op.SetReportFileMetadata([]security.ReportFileMetadataable{reportFile("estimate.csv", 4096), reportFile("estimate-items.csv", 1)})
		return op
	}, func(t *testing.T, where string, got, want security.CaseOperationable) {
		g, ok := as[*security.EdiscoveryEstimateOperation](t, where, got)
		if !ok {
			return
		}
		w := want.(*security.EdiscoveryEstimateOperation)
		eq(t, where, "indexedItemCount", g.GetIndexedItemCount(), w.GetIndexedItemCount())
		eq(t, where, "indexedItemsSize", g.GetIndexedItemsSize(), w.GetIndexedItemsSize())
		eq(t, where, "unindexedItemCount", g.GetUnindexedItemCount(), w.GetUnindexedItemCount())
		eq(t, where, "unindexedItemsSize", g.GetUnindexedItemsSize(), w.GetUnindexedItemsSize())
		eq(t, where, "mailboxCount", g.GetMailboxCount(), w.GetMailboxCount())
		eq(t, where, "siteCount", g.GetSiteCount(), w.GetSiteCount())
		eq(t, where, "statisticsOptions", g.GetStatisticsOptions(), w.GetStatisticsOptions())
		reportFiles(t, where, g.GetReportFileMetadata(), w.GetReportFileMetadata())
	}},
	{"ediscoveryAddToReviewSetOperation", func() security.CaseOperationable {
		op := security.NewEdiscoveryAddToReviewSetOperation()
		op.SetAction(ptr(security.ADDTOREVIEWSET_CASEACTION))
		op.SetAdditionalDataOptions(ptr(security.AdditionalDataOptions(security.ALLVERSIONS_ADDITIONALDATAOPTIONS |
			security.LINKEDFILES_ADDITIONALDATAOPTIONS | security.ADVANCEDINDEXING_ADDITIONALDATAOPTIONS |
			security.ALLITEMSINFOLDER_ADDITIONALDATAOPTIONS)))
		op.SetItemsToInclude(ptr(security.ItemsToInclude(security.SEARCHHITS_ITEMSTOINCLUDE | security.PARTIALLYINDEXED_ITEMSTOINCLUDE)))
		op.SetCloudAttachmentVersion(ptr(security.RECENT10_CLOUDATTACHMENTVERSION))
		op.SetDocumentVersion(ptr(security.ALL_DOCUMENTVERSION))
		op.SetReportFileMetadata([]security.ReportFileMetadataable{reportFile("review-set.csv", 65536)})
		return op
	}, func(t *testing.T, where string, got, want security.CaseOperationable) {
		g, ok := as[*security.EdiscoveryAddToReviewSetOperation](t, where, got)
		if !ok {
			return
		}
		w := want.(*security.EdiscoveryAddToReviewSetOperation)
		eq(t, where, "additionalDataOptions", g.GetAdditionalDataOptions(), w.GetAdditionalDataOptions())
		eq(t, where, "itemsToInclude", g.GetItemsToInclude(), w.GetItemsToInclude())
		eq(t, where, "cloudAttachmentVersion", g.GetCloudAttachmentVersion(), w.GetCloudAttachmentVersion())
		eq(t, where, "documentVersion", g.GetDocumentVersion(), w.GetDocumentVersion())
		reportFiles(t, where, g.GetReportFileMetadata(), w.GetReportFileMetadata())
	}},
	{"ediscoveryExportOperation", func() security.CaseOperationable {
		op := security.NewEdiscoveryExportOperation()
		op.SetAction(ptr(security.CONTENTEXPORT_CASEACTION))
		op.SetDescription(ptr("Review set export for outside counsel"))
		op.SetOutputName(ptr("contoso-export-1"))
		op.SetExportOptions(ptr(security.ExportOptions(security.ORIGINALFILES_EXPORTOPTIONS | security.TAGS_EXPORTOPTIONS |
			security.SPLITSOURCE_EXPORTOPTIONS | security.FRIENDLYNAME_EXPORTOPTIONS)))
		op.SetExportStructure(ptr(security.PST_EXPORTFILESTRUCTURE))
		op.SetExportFileMetadata([]security.ExportFileMetadataable{exportFile("contoso-export-1.zip", 7_000_000_000)})
		return op
	}, func(t *testing.T, where string, got, want security.CaseOperationable) {
		g, ok := as[*security.EdiscoveryExportOperation](t, where, got)
		if !ok {
			return
		}
		w := want.(*security.EdiscoveryExportOperation)
		eq(t, where, "description", g.GetDescription(), w.GetDescription())
		eq(t, where, "outputName", g.GetOutputName(), w.GetOutputName())
		eq(t, where, "exportOptions", g.GetExportOptions(), w.GetExportOptions())
		eq(t, where, "exportStructure", g.GetExportStructure(), w.GetExportStructure())
		exportFiles(t, where, g.GetExportFileMetadata(), w.GetExportFileMetadata())
	}},
	{"ediscoverySearchExportOperation", func() security.CaseOperationable {
		op := security.NewEdiscoverySearchExportOperation()
		op.SetAction(ptr(security.EXPORTRESULT_CASEACTION))
		op.SetDisplayName(ptr("Search export 1"))
		op.SetDescription(ptr("Everything the search found"))
		op.SetAdditionalOptions(ptr(security.AdditionalOptions(security.TEAMSANDYAMMERCONVERSATIONS_ADDITIONALOPTIONS |
			security.CLOUDATTACHMENTS_ADDITIONALOPTIONS | security.HTMLTRANSCRIPTS_ADDITIONALOPTIONS | security.INCLUDEREPORT_ADDITIONALOPTIONS)))
		op.SetExportCriteria(ptr(security.ExportCriteria(security.SEARCHHITS_EXPORTCRITERIA | security.PARTIALLYINDEXED_EXPORTCRITERIA)))
		op.SetExportLocation(ptr(security.ExportLocation(security.RESPONSIVELOCATIONS_EXPORTLOCATION)))
		op.SetExportFormat(ptr(security.EML_EXPORTFORMAT))
		op.SetExportSingleItems(ptr(true))
		op.SetCloudAttachmentVersion(ptr(security.LATEST_CLOUDATTACHMENTVERSION))
		op.SetDocumentVersion(ptr(security.RECENT100_DOCUMENTVERSION))
		op.SetExportFileMetadata([]security.ExportFileMetadataable{exportFile("search-1.zip", 123), exportFile("search-1-report.csv", 45)})
		return op
	}, func(t *testing.T, where string, got, want security.CaseOperationable) {
		g, ok := as[*security.EdiscoverySearchExportOperation](t, where, got)
		if !ok {
			return
		}
		w := want.(*security.EdiscoverySearchExportOperation)
		eq(t, where, "displayName", g.GetDisplayName(), w.GetDisplayName())
		eq(t, where, "description", g.GetDescription(), w.GetDescription())
		eq(t, where, "additionalOptions", g.GetAdditionalOptions(), w.GetAdditionalOptions())
		eq(t, where, "exportCriteria", g.GetExportCriteria(), w.GetExportCriteria())
		eq(t, where, "exportLocation", g.GetExportLocation(), w.GetExportLocation())
		eq(t, where, "exportFormat", g.GetExportFormat(), w.GetExportFormat())
		eq(t, where, "exportSingleItems", g.GetExportSingleItems(), w.GetExportSingleItems())
		eq(t, where, "cloudAttachmentVersion", g.GetCloudAttachmentVersion(), w.GetCloudAttachmentVersion())
		eq(t, where, "documentVersion", g.GetDocumentVersion(), w.GetDocumentVersion())
		exportFiles(t, where, g.GetExportFileMetadata(), w.GetExportFileMetadata())
	}},
}

// createdOperation is what the test keeps of each operation it made.
type createdOperation struct {
	typ  operationType
	id   string
	etag string
}

// createEveryType creates one operation of each type, all its own properties set, and reads each back.
// Both ask for every enum member (Prefer: include-unknown-enum-members); evolvableEnums checks without it.
func (g *graphClient) createEveryType(caseID string) map[string]*createdOperation {
	t := g.t
	ops := g.cases.ByEdiscoveryCaseId(caseID).Operations()
	created := map[string]*createdOperation{}
	for _, typ := range operationTypes {
		body := typ.build()
		// The v1.0 SDK's constructors leave @odata.type unset, and without it a create is a tagOperation:
		// a Graph client names a derived type itself.
		body.SetOdataType(ptr("#microsoft.graph.security." + typ.name))
		inspect := khttp.NewHeadersInspectionOptions()
		inspect.InspectResponseHeaders = true
		got, err := ops.Post(g.ctx, body, &sec.CasesEdiscoveryCasesItemOperationsRequestBuilderPostRequestConfiguration{
			Headers: preferUnknownMembers(), Options: []abstractions.RequestOption{inspect},
		})
		where := "POST security/cases/ediscoveryCases/{caseId}/operations (" + typ.name + ")"
		if err != nil {
			t.Fatalf("%s: %s", where, describe(err))
		}
		if got.GetId() == nil || *got.GetId() == "" {
			t.Fatalf("%s: the new operation has no id", where)
		}
		id := *got.GetId()
		g.checkOperation(where, typ, got, body)
		eq(t, where, "@odata.context", ptr(annotation(got, "@odata.context")),
			ptr(g.base+"/$metadata#security/cases/ediscoveryCases('"+caseID+"')/operations/$entity"))
		etag := annotation(got, "@odata.etag")
		if etag == "" {
			t.Errorf("%s: no @odata.etag", where)
		}
		if h := inspect.GetResponseHeaders().Get("ETag"); len(h) != 1 || h[0] != etag {
			t.Errorf("%s: ETag header %q, want the @odata.etag %q", where, h, etag)
		}
		if h := inspect.GetResponseHeaders().Get("Preference-Applied"); len(h) != 1 || h[0] != "include-unknown-enum-members" {
			t.Errorf("%s: Preference-Applied %q, want include-unknown-enum-members", where, h)
		}
		created[typ.name] = &createdOperation{typ: typ, id: id, etag: etag}

		back, err := ops.ByCaseOperationId(id).Get(g.ctx, &sec.CasesEdiscoveryCasesItemOperationsCaseOperationItemRequestBuilderGetRequestConfiguration{
			Headers: preferUnknownMembers(),
		})
		where = "GET security/cases/ediscoveryCases/{caseId}/operations/{id} (" + typ.name + ")"
		if err != nil {
			t.Fatalf("%s: %s", where, describe(err))
		}
		g.checkOperation(where, typ, back, body)
		eq(t, where, "id", back.GetId(), &id)
		eq(t, where, "createdDateTime", back.GetCreatedDateTime(), got.GetCreatedDateTime())
		eq(t, where, "@odata.etag", ptr(annotation(back, "@odata.etag")), &etag)
	}
	return created
}

// checkOperation compares a new operation with the body that created it: the caseOperation properties,
// then the type's own.
func (g *graphClient) checkOperation(where string, typ operationType, got, want security.CaseOperationable) {
	t := g.t
	t.Helper()
	eq(t, where, "@odata.type", got.GetOdataType(), ptr("#microsoft.graph.security."+typ.name))
	eq(t, where, "action", got.GetAction(), want.GetAction())
	eq(t, where, "status", got.GetStatus(), ptr(security.NOTSTARTED_CASEOPERATIONSTATUS))
	if want.GetPercentProgress() != nil {
		eq(t, where, "percentProgress", got.GetPercentProgress(), want.GetPercentProgress())
	}
	if got.GetCreatedDateTime() == nil {
		t.Errorf("%s: createdDateTime is null", where)
	}
	if got.GetCompletedDateTime() != nil {
		t.Errorf("%s: completedDateTime = %v, want null for an operation not started", where, got.GetCompletedDateTime())
	}
	if got.GetResultInfo() != nil {
		t.Errorf("%s: resultInfo is not null", where)
	}
	if got.GetCreatedBy() == nil || got.GetCreatedBy().GetUser() == nil {
		t.Errorf("%s: createdBy.user is null, want the token's user", where)
	} else {
		eq(t, where, "createdBy.user.id", got.GetCreatedBy().GetUser().GetId(), ptr("dev"))
	}
	typ.check(t, where, got, want)
}

// listAndCount pages through the case's operations with the SDK's page iterator and counts them.
func (g *graphClient) listAndCount(caseID string, created map[string]*createdOperation) {
	t := g.t
	ops := g.cases.ByEdiscoveryCaseId(caseID).Operations()
	n, err := ops.Count().Get(g.ctx, nil)
	if err != nil {
		t.Errorf("GET security/cases/ediscoveryCases/{caseId}/operations/$count: %s", describe(err))
	} else {
		eq(t, "GET security/cases/ediscoveryCases/{caseId}/operations/$count", "the count", n, ptr(int32(len(created))))
	}

	const top = 2
	first, err := ops.Get(g.ctx, &sec.CasesEdiscoveryCasesItemOperationsRequestBuilderGetRequestConfiguration{
		QueryParameters: &sec.CasesEdiscoveryCasesItemOperationsRequestBuilderGetQueryParameters{Top: ptr(int32(top)), Count: ptr(true)},
		Headers:         preferUnknownMembers(),
	})
	where := fmt.Sprintf("GET security/cases/ediscoveryCases/{caseId}/operations?$top=%d&$count=true", top)
	if err != nil {
		t.Fatalf("%s: %s", where, describe(err))
	}
	eq(t, where, "@odata.count", first.GetOdataCount(), ptr(int64(len(created))))
	if len(first.GetValue()) != top || first.GetOdataNextLink() == nil {
		t.Fatalf("%s: the first page has %d operations and @odata.nextLink %v, want %d and a link", where, len(first.GetValue()), show(first.GetOdataNextLink()), top)
	}

	typeOf := map[string]string{}
	for name, op := range created {
		typeOf[op.id] = name
	}
	it, err := msgraphgocore.NewPageIterator[security.CaseOperationable](first, g.adapter, security.CreateCaseOperationCollectionResponseFromDiscriminatorValue)
	if err != nil {
		t.Fatal(err)
	}
	it.SetHeaders(preferUnknownMembers())
	seen := map[string]int{}
	pages := map[string]bool{}
	err = it.Iterate(g.ctx, func(op security.CaseOperationable) bool {
		pages[show(it.GetOdataNextLink())] = true
		id := show(op.GetId())
		seen[id]++
		if name, ok := typeOf[id]; ok {
			eq(t, "the page iterator's operation "+id, "@odata.type", op.GetOdataType(), ptr("#microsoft.graph.security."+name))
		}
		return true
	})
	if err != nil {
		t.Fatalf("paging security/cases/ediscoveryCases/{caseId}/operations with the page iterator: %s", describe(err))
	}
	if want := (len(created) + top - 1) / top; len(pages) != want {
		t.Errorf("the page iterator saw %d pages of $top=%d, want %d", len(pages), top, want)
	}
	for id, times := range seen {
		if _, ok := typeOf[id]; !ok {
			t.Errorf("the page iterator saw operation %s, which this test did not create in the case", id)
		} else if times != 1 {
			t.Errorf("the page iterator saw operation %s (%s) %d times, want once", id, typeOf[id], times)
		}
	}
	for id, name := range typeOf {
		if seen[id] == 0 {
			t.Errorf("the page iterator never saw operation %s (%s)", id, name)
		}
	}
}

// progress reports progress and completion as a worker does, with If-Match, and checks a stale ETag is refused.
func (g *graphClient) progress(caseID string, op *createdOperation) {
	t := g.t
	item := g.cases.ByEdiscoveryCaseId(caseID).Operations().ByCaseOperationId(op.id)
	ifMatch := func(etag string) *abstractions.RequestHeaders {
		h := preferUnknownMembers()
		h.Add("If-Match", etag)
		return h
	}

	// New model objects each time, not the one read back: the backing store would send only annotations.
	running := security.NewEdiscoveryEstimateOperation()
	running.SetStatus(ptr(security.RUNNING_CASEOPERATIONSTATUS))
	running.SetPercentProgress(ptr(int32(40)))
	running.SetIndexedItemCount(ptr(int64(2400)))
	got, err := item.Patch(g.ctx, running, &sec.CasesEdiscoveryCasesItemOperationsCaseOperationItemRequestBuilderPatchRequestConfiguration{Headers: ifMatch(op.etag)})
	where := "PATCH security/cases/ediscoveryCases/{caseId}/operations/{id} (running, 40%)"
	if err != nil {
		t.Fatalf("%s: %s", where, describe(err))
	}
	est, ok := as[*security.EdiscoveryEstimateOperation](t, where, got)
	if !ok {
		return
	}
	eq(t, where, "status", est.GetStatus(), running.GetStatus())
	eq(t, where, "percentProgress", est.GetPercentProgress(), running.GetPercentProgress())
	eq(t, where, "indexedItemCount", est.GetIndexedItemCount(), running.GetIndexedItemCount())
	eq(t, where, "mailboxCount (not sent, kept)", est.GetMailboxCount(), ptr(int32(3)))
	if est.GetCompletedDateTime() != nil {
		t.Errorf("%s: completedDateTime = %v, want null while running", where, est.GetCompletedDateTime())
	}
	etag := annotation(got, "@odata.etag")
	if etag == "" || etag == op.etag {
		t.Errorf("%s: @odata.etag %q, want a new one (was %q)", where, etag, op.etag)
	}

	stale := security.NewEdiscoveryEstimateOperation()
	stale.SetPercentProgress(ptr(int32(90)))
	_, err = item.Patch(g.ctx, stale, &sec.CasesEdiscoveryCasesItemOperationsCaseOperationItemRequestBuilderPatchRequestConfiguration{Headers: ifMatch(op.etag)})
	wantODataError(t, "PATCH .../operations/{id} with a stale If-Match", err, http.StatusPreconditionFailed, "preconditionFailed")

	// The SDK writes whole seconds, and a completion may not be before createdDateTime: wait for the next second.
	completed := time.Now().UTC().Truncate(time.Second)
	if c := est.GetCreatedDateTime(); c != nil && completed.Before(*c) {
		completed = c.UTC().Truncate(time.Second).Add(time.Second)
		time.Sleep(time.Until(completed))
	}
	done := security.NewEdiscoveryEstimateOperation()
	done.SetStatus(ptr(security.SUCCEEDED_CASEOPERATIONSTATUS))
	done.SetPercentProgress(ptr(int32(100)))
	done.SetCompletedDateTime(&completed)
	result := graphmodels.NewResultInfo()
	result.SetCode(ptr(int32(0)))
	result.SetMessage(ptr("Estimated 2400 items"))
	done.SetResultInfo(result)
	_, err = item.Patch(g.ctx, done, &sec.CasesEdiscoveryCasesItemOperationsCaseOperationItemRequestBuilderPatchRequestConfiguration{Headers: ifMatch(etag)})
	where = "PATCH security/cases/ediscoveryCases/{caseId}/operations/{id} (succeeded)"
	if err != nil {
		t.Fatalf("%s: %s", where, describe(err))
	}
	back, err := item.Get(g.ctx, nil)
	where = "GET security/cases/ediscoveryCases/{caseId}/operations/{id} after completion"
	if err != nil {
		t.Fatalf("%s: %s", where, describe(err))
	}
	eq(t, where, "status", back.GetStatus(), done.GetStatus())
	eq(t, where, "percentProgress", back.GetPercentProgress(), done.GetPercentProgress())
	eq(t, where, "completedDateTime", back.GetCompletedDateTime(), &completed)
	if ri := back.GetResultInfo(); ri == nil {
		t.Errorf("%s: resultInfo is null", where)
	} else {
		eq(t, where, "resultInfo.code", ri.GetCode(), result.GetCode())
		eq(t, where, "resultInfo.message", ri.GetMessage(), result.GetMessage())
		eq(t, where, "resultInfo.subcode", ri.GetSubcode(), nil)
	}
	if est, ok := as[*security.EdiscoveryEstimateOperation](t, where, back); ok {
		eq(t, where, "indexedItemCount", est.GetIndexedItemCount(), running.GetIndexedItemCount())
	}

	list, err := g.cases.ByEdiscoveryCaseId(caseID).Operations().Get(g.ctx, &sec.CasesEdiscoveryCasesItemOperationsRequestBuilderGetRequestConfiguration{
		QueryParameters: &sec.CasesEdiscoveryCasesItemOperationsRequestBuilderGetQueryParameters{Filter: ptr("status eq 'succeeded'")},
	})
	where = "GET security/cases/ediscoveryCases/{caseId}/operations?$filter=status eq 'succeeded'"
	if err != nil {
		t.Fatalf("%s: %s", where, describe(err))
	}
	if v := list.GetValue(); len(v) != 1 || show(v[0].GetId()) != op.id {
		t.Errorf("%s: %d operations, want exactly the estimate %s", where, len(v), op.id)
	}
}

// errors checks caseops's refusals arrive as the SDK's *odataerrors.ODataError.
func (g *graphClient) errors(caseID string) {
	t := g.t
	ops := g.cases.ByEdiscoveryCaseId(caseID).Operations()
	_, err := ops.ByCaseOperationId(newGUID()).Get(g.ctx, nil)
	wantODataError(t, "GET .../operations/{an id no operation has}", err, http.StatusNotFound, "notFound")

	_, err = g.cases.ByEdiscoveryCaseId(newGUID()).Get(g.ctx, nil)
	wantODataError(t, "GET security/cases/ediscoveryCases/{an id no case has}", err, http.StatusNotFound, "notFound")

	bad := security.NewEdiscoveryEstimateOperation()
	bad.SetPercentProgress(ptr(int32(101)))
	bad.SetIndexedItemCount(ptr(int64(-1)))
	_, err = ops.Post(g.ctx, bad, nil)
	if e := wantODataError(t, "POST .../operations with percentProgress 101 and indexedItemCount -1", err, http.StatusBadRequest, "badRequest"); e != nil {
		for _, prop := range []string{"percentProgress", "indexedItemCount"} {
			named := strings.Contains(show(e.GetMessage()), prop)
			for _, d := range e.GetDetails() {
				named = named || show(d.GetTarget()) == prop
			}
			if !named {
				t.Errorf("POST .../operations with a bad %s: the error names it neither in its message %q nor as a details target", prop, show(e.GetMessage()))
			}
		}
	}
}

// evolvableEnums checks members after unknownFutureValue are sent as unknownFutureValue unless asked for.
func (g *graphClient) evolvableEnums(caseID string, created map[string]*createdOperation) {
	t := g.t
	ops := g.cases.ByEdiscoveryCaseId(caseID).Operations()

	purge := created["ediscoveryPurgeDataOperation"]
	got, err := ops.ByCaseOperationId(purge.id).Get(g.ctx, nil)
	where := "GET .../operations/{id} (action purgeData) without Prefer: include-unknown-enum-members"
	if err != nil {
		t.Fatalf("%s: %s", where, describe(err))
	}
	eq(t, where, "action", got.GetAction(), ptr(security.UNKNOWNFUTUREVALUE_CASEACTION))
	got, err = ops.ByCaseOperationId(purge.id).Get(g.ctx, &sec.CasesEdiscoveryCasesItemOperationsCaseOperationItemRequestBuilderGetRequestConfiguration{Headers: preferUnknownMembers()})
	where = "GET .../operations/{id} (action purgeData) with Prefer: include-unknown-enum-members"
	if err != nil {
		t.Fatalf("%s: %s", where, describe(err))
	}
	eq(t, where, "action", got.GetAction(), ptr(security.PURGEDATA_CASEACTION))

	export := created["ediscoveryExportOperation"]
	got, err = ops.ByCaseOperationId(export.id).Get(g.ctx, nil)
	where = "GET .../operations/{id} (exportOptions originalFiles,tags,splitSource,friendlyName) without Prefer"
	if err != nil {
		t.Fatalf("%s: %s", where, describe(err))
	}
	if e, ok := as[*security.EdiscoveryExportOperation](t, where, got); ok {
		eq(t, where, "exportOptions", e.GetExportOptions(), ptr(security.ExportOptions(security.ORIGINALFILES_EXPORTOPTIONS|
			security.TAGS_EXPORTOPTIONS|security.UNKNOWNFUTUREVALUE_EXPORTOPTIONS)))
	}

	// $filter on such a member works either way.
	list, err := ops.Get(g.ctx, &sec.CasesEdiscoveryCasesItemOperationsRequestBuilderGetRequestConfiguration{
		QueryParameters: &sec.CasesEdiscoveryCasesItemOperationsRequestBuilderGetQueryParameters{Filter: ptr("action eq 'purgeData'")},
	})
	where = "GET .../operations?$filter=action eq 'purgeData' without Prefer"
	if err != nil {
		t.Fatalf("%s: %s", where, describe(err))
	}
	if v := list.GetValue(); len(v) != 1 || show(v[0].GetId()) != purge.id {
		t.Errorf("%s: %d operations, want exactly the purge %s", where, len(v), purge.id)
	} else {
		eq(t, where, "action", v[0].GetAction(), ptr(security.UNKNOWNFUTUREVALUE_CASEACTION))
	}
}

func (g *graphClient) deleteOperation(caseID string, op *createdOperation) {
	t := g.t
	item := g.cases.ByEdiscoveryCaseId(caseID).Operations().ByCaseOperationId(op.id)
	if err := item.Delete(g.ctx, nil); err != nil {
		t.Fatalf("DELETE security/cases/ediscoveryCases/{caseId}/operations/{id}: %s", describe(err))
	}
	_, err := item.Get(g.ctx, nil)
	wantODataError(t, "GET .../operations/{id} after DELETE", err, http.StatusNotFound, "notFound")
}

// closeAndReopen closes the case, sees a create refused, reopens it, and sees a case with open work refuse DELETE.
func (g *graphClient) closeAndReopen(caseID string) {
	t := g.t
	item := g.cases.ByEdiscoveryCaseId(caseID)
	if err := item.MicrosoftGraphSecurityClose().Post(g.ctx, nil); err != nil {
		t.Fatalf("POST security/cases/ediscoveryCases/{caseId}/microsoft.graph.security.close: %s", describe(err))
	}
	got, err := item.Get(g.ctx, nil)
	where := "GET security/cases/ediscoveryCases/{caseId} after close"
	if err != nil {
		t.Fatalf("%s: %s", where, describe(err))
	}
	eq(t, where, "status", got.GetStatus(), ptr(security.CLOSED_CASESTATUS))
	if got.GetClosedDateTime() == nil {
		t.Errorf("%s: closedDateTime is null", where)
	}
	if got.GetClosedBy() == nil || got.GetClosedBy().GetUser() == nil {
		t.Errorf("%s: closedBy.user is null, want the token's user", where)
	} else {
		eq(t, where, "closedBy.user.id", got.GetClosedBy().GetUser().GetId(), ptr("dev"))
	}

	_, err = item.Operations().Post(g.ctx, security.NewEdiscoveryTagOperation(), nil)
	wantODataError(t, "POST .../operations in a closed case", err, http.StatusConflict, "conflict")

	if err := item.MicrosoftGraphSecurityReopen().Post(g.ctx, nil); err != nil {
		t.Fatalf("POST security/cases/ediscoveryCases/{caseId}/microsoft.graph.security.reopen: %s", describe(err))
	}
	got, err = item.Get(g.ctx, nil)
	where = "GET security/cases/ediscoveryCases/{caseId} after reopen"
	if err != nil {
		t.Fatalf("%s: %s", where, describe(err))
	}
	eq(t, where, "status", got.GetStatus(), ptr(security.ACTIVE_CASESTATUS))
	if _, err := item.Operations().Post(g.ctx, security.NewEdiscoveryTagOperation(), nil); err != nil {
		t.Errorf("POST .../operations in a reopened case: %s", describe(err))
	}

	err = item.Delete(g.ctx, nil)
	wantODataError(t, "DELETE security/cases/ediscoveryCases/{caseId} holding operations not terminal", err, http.StatusConflict, "conflict")
}

// deleteCase creates a case with nothing in it, deletes it and sees it gone.
func (g *graphClient) deleteCase() {
	t := g.t
	body := security.NewEdiscoveryCase()
	body.SetDisplayName(ptr("Short-lived " + randomSuffix()))
	created, err := g.cases.Post(g.ctx, body, nil)
	if err != nil {
		t.Fatalf("POST security/cases/ediscoveryCases: %s", describe(err))
	}
	item := g.cases.ByEdiscoveryCaseId(show(created.GetId()))
	if err := item.Delete(g.ctx, nil); err != nil {
		t.Fatalf("DELETE security/cases/ediscoveryCases/{caseId} of an empty case: %s", describe(err))
	}
	_, err = item.Get(g.ctx, nil)
	wantODataError(t, "GET security/cases/ediscoveryCases/{caseId} after DELETE", err, http.StatusNotFound, "notFound")
}

func preferUnknownMembers() *abstractions.RequestHeaders {
	h := abstractions.NewRequestHeaders()
	h.Add("Prefer", "include-unknown-enum-members")
	return h
}

// wantODataError checks err is caseops's Graph error with the status and code, and a message for people.
func wantODataError(t *testing.T, what string, err error, status int, code string) odataerrors.MainErrorable {
	t.Helper()
	if err == nil {
		t.Errorf("%s: succeeded, want %d %s", what, status, code)
		return nil
	}
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) {
		t.Errorf("%s: error %T (%v), want an *odataerrors.ODataError %d %s", what, err, err, status, code)
		return nil
	}
	e := oe.GetErrorEscaped()
	if oe.ResponseStatusCode != status || e == nil || show(e.GetCode()) != code {
		t.Errorf("%s: %s, want %d %s", what, describe(err), status, code)
		return nil
	}
	if show(e.GetMessage()) == "" || show(e.GetMessage()) == "null" {
		t.Errorf("%s: the %s error has no message", what, code)
	}
	return e
}

// describe says what an SDK call's error was: the status, Graph code and message caseops sent.
func describe(err error) string {
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) {
		if e := oe.GetErrorEscaped(); e != nil {
			return fmt.Sprintf("%d %s: %s", oe.ResponseStatusCode, show(e.GetCode()), show(e.GetMessage()))
		}
		return fmt.Sprintf("%d with no Graph error body", oe.ResponseStatusCode)
	}
	return fmt.Sprintf("%T: %v", err, err)
}

// as is got as the concrete Go type the SDK parses for an @odata.type, or an error naming both.
func as[T any](t *testing.T, where string, got any) (T, bool) {
	t.Helper()
	v, ok := got.(T)
	if !ok {
		var want T
		t.Errorf("%s: the SDK parsed a %T (@odata.type %s), want a %T", where, got, odataTypeOf(got), want)
	}
	return v, ok
}

func odataTypeOf(v any) string {
	if p, ok := v.(interface{ GetOdataType() *string }); ok {
		return show(p.GetOdataType())
	}
	return "unknown"
}

// eq compares a property read through a typed getter with what was sent; enums and flags print their names.
func eq[T comparable](t *testing.T, where, property string, got, want *T) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil || !equal(*got, *want):
		t.Errorf("%s: %s = %s, want %s", where, property, show(got), show(want))
	}
}

func equal[T comparable](a, b T) bool {
	if ta, ok := any(a).(time.Time); ok {
		return ta.Equal(any(b).(time.Time))
	}
	return a == b
}

func show[T any](p *T) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

func reportFile(name string, size int64) security.ReportFileMetadataable {
	f := security.NewReportFileMetadata()
	f.SetFileName(ptr(name))
	f.SetDownloadUrl(ptr("https://download.example.com/" + name))
	f.SetSize(ptr(size))
	return f
}

func exportFile(name string, size int64) security.ExportFileMetadataable {
	f := security.NewExportFileMetadata()
	f.SetFileName(ptr(name))
	f.SetDownloadUrl(ptr("https://download.example.com/" + name))
	f.SetSize(ptr(size))
	return f
}

type fileMetadata interface {
	GetFileName() *string
	GetDownloadUrl() *string
	GetSize() *int64
	GetOdataType() *string
}

func reportFiles(t *testing.T, where string, got, want []security.ReportFileMetadataable) {
	t.Helper()
	files(t, where, "reportFileMetadata", "#microsoft.graph.security.reportFileMetadata", toFiles(got), toFiles(want))
}

func exportFiles(t *testing.T, where string, got, want []security.ExportFileMetadataable) {
	t.Helper()
	files(t, where, "exportFileMetadata", "#microsoft.graph.security.exportFileMetadata", toFiles(got), toFiles(want))
}

func toFiles[T fileMetadata](list []T) []fileMetadata {
	out := make([]fileMetadata, len(list))
	for i, f := range list {
		out[i] = f
	}
	return out
}

func files(t *testing.T, where, property, odataType string, got, want []fileMetadata) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %s has %d entries, want %d", where, property, len(got), len(want))
		return
	}
	for i := range want {
		p := fmt.Sprintf("%s[%d]", property, i)
		eq(t, where, p+".fileName", got[i].GetFileName(), want[i].GetFileName())
		eq(t, where, p+".downloadUrl", got[i].GetDownloadUrl(), want[i].GetDownloadUrl())
		eq(t, where, p+".size", got[i].GetSize(), want[i].GetSize())
		if ot := got[i].GetOdataType(); ot != nil {
			eq(t, where, p+".@odata.type", ot, &odataType)
		}
	}
}

// annotation is an @odata annotation of a parsed entity, such as @odata.etag, or "".
func annotation(p any, name string) string {
	h, ok := p.(interface{ GetAdditionalData() map[string]any })
	if !ok {
		return ""
	}
	switch v := h.GetAdditionalData()[name].(type) {
	case *string:
		if v != nil {
			return *v
		}
	case string:
		return v
	}
	return ""
}

// wireLog sees each request as it leaves the SDK's middleware, so the test can tell its bodies went gzip-compressed
// and caseops took them (the SDK's compression handler would quietly resend a body refused with 415 uncompressed).
type wireLog struct {
	next  http.RoundTripper
	mu    sync.Mutex
	calls []wireCall
}

type wireCall struct {
	method, path, contentEncoding string
	body                          bool
	status                        int
}

func (w *wireLog) RoundTrip(r *http.Request) (*http.Response, error) {
	c := wireCall{method: r.Method, path: r.URL.Path, contentEncoding: r.Header.Get("Content-Encoding"),
		body: r.Body != nil && r.Body != http.NoBody}
	resp, err := w.next.RoundTrip(r)
	if resp != nil {
		c.status = resp.StatusCode
	}
	w.mu.Lock()
	w.calls = append(w.calls, c)
	w.mu.Unlock()
	return resp, err
}

func (w *wireLog) check(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	gzipped := 0
	for _, c := range w.calls {
		if c.contentEncoding == "gzip" {
			gzipped++
			if c.status == http.StatusUnsupportedMediaType {
				t.Errorf("%s %s: caseops refused the SDK's gzip-compressed body with 415", c.method, c.path)
			}
		} else if c.body && (c.method == http.MethodPost || c.method == http.MethodPatch) {
			t.Errorf("%s %s went with Content-Encoding %q, want the SDK's gzip", c.method, c.path, c.contentEncoding)
		}
	}
	if gzipped == 0 && !t.Failed() {
		t.Error("no request went gzip-compressed: is the SDK's default middleware in place?")
	}
}

func ptr[T any](v T) *T { return &v }

func newGUID() string { return uuid.NewString() }

func randomSuffix() string { return newGUID()[:8] }
