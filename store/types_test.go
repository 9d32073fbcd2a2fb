package store_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/caseops/caseops/store"
)

// Every caseOperation type stores its own properties in typed columns and reads them back as it wrote them.
func TestEveryTypeKeepsItsOwnProperties(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	metadata := &[]store.FileMetadata{{DownloadURL: ptr("https://example.com/r.csv"), FileName: ptr("r.csv"), Size: ptr[int64](1 << 40)}, {}}
	const ns = "#microsoft.graph.security."
	cases := []struct {
		odataType, wantType string
		props               store.TypeProps
	}{
		{"", "ediscoveryTagOperation", store.TypeProps{}},
		{"#microsoft.graph.caseExportOperation", "ediscoveryExportOperation", store.TypeProps{Description: ptr("legacy")}},
		{ns + "ediscoveryTagOperation", "ediscoveryTagOperation", store.TypeProps{}},
		{ns + "ediscoveryIndexOperation", "ediscoveryIndexOperation", store.TypeProps{}},
		{ns + "ediscoveryHoldOperation", "ediscoveryHoldOperation", store.TypeProps{}},
		{ns + "ediscoveryPurgeDataOperation", "ediscoveryPurgeDataOperation", store.TypeProps{}},
		{ns + "ediscoveryHoldPolicySyncOperation", "ediscoveryHoldPolicySyncOperation", store.TypeProps{ReportFileMetadata: metadata}},
		{ns + "ediscoveryEstimateOperation", "ediscoveryEstimateOperation", store.TypeProps{
			IndexedItemCount: ptr[int64](1 << 33), IndexedItemsSize: ptr[int64](0), UnindexedItemCount: ptr[int64](3),
			UnindexedItemsSize: ptr[int64](4), MailboxCount: ptr[int32](5), SiteCount: ptr[int32](6),
			StatisticsOptions: ptr("includeRefiners,locationsWithoutHits"), ReportFileMetadata: metadata}},
		{ns + "ediscoveryAddToReviewSetOperation", "ediscoveryAddToReviewSetOperation", store.TypeProps{
			AdditionalDataOptions: ptr("allVersions,allItemsInFolder"), ItemsToInclude: ptr("searchHits,partiallyIndexed"),
			CloudAttachmentVersion: ptr("latest"), DocumentVersion: ptr("recent100"), ReportFileMetadata: &[]store.FileMetadata{}}},
		{ns + "ediscoveryExportOperation", "ediscoveryExportOperation", store.TypeProps{
			Description: ptr("all of it"), OutputName: ptr("export-1"), ExportOptions: ptr("originalFiles,tags,condensePaths"),
			ExportStructure: ptr("msg"), ExportFileMetadata: metadata}},
		{ns + "ediscoverySearchExportOperation", "ediscoverySearchExportOperation", store.TypeProps{
			DisplayName: ptr("search export"), Description: ptr("d"), AdditionalOptions: ptr("none,includeReport"),
			ExportCriteria: ptr("partiallyIndexed"), ExportLocation: ptr("responsiveLocations,nonresponsiveLocations"),
			ExportFormat: ptr("eml"), ExportSingleItems: ptr(false), CloudAttachmentVersion: ptr("all"),
			DocumentVersion: ptr("recent10"), ExportFileMetadata: metadata}},
	}
	for _, c := range cases {
		created, err := s.Create(ctx, "t1", store.NewOperation{ODataType: c.odataType, Props: c.props}, audit)
		if err != nil {
			t.Fatalf("create %q: %v", c.odataType, err)
		}
		wantODataType := c.odataType
		if wantODataType == "" {
			wantODataType = store.TagOperationODataType
		}
		if created.ODataType != wantODataType || created.Type != c.wantType || !reflect.DeepEqual(created.Props, c.props) {
			t.Errorf("create %q = %q %q %+v; want %q %q %+v", c.odataType, created.ODataType, created.Type, created.Props,
				wantODataType, c.wantType, c.props)
		}
		got, err := s.Get(ctx, "t1", created.ID)
		if err != nil || !reflect.DeepEqual(got, created) {
			t.Errorf("get %q = %+v, %v; want %+v", c.odataType, got, err, created)
		}
	}

	// isof: the operations of one type, a legacy name counted as the type it maps to, and not isof the rest.
	counts := map[string]int64{}
	for _, c := range cases {
		counts[c.wantType]++
	}
	for typ, want := range counts {
		for _, negate := range []bool{false, true} {
			var f store.Filter = store.IsType{Type: typ}
			if negate {
				f, want = store.Not{Filter: f}, int64(len(cases))-want
			}
			page, err := s.List(ctx, "t1", store.ListQuery{Filter: f, Top: 100, Count: true})
			if err != nil || *page.Count != want || int64(len(page.Operations)) != want {
				t.Errorf("isof %s (negated %v): %v; want %d", typ, negate, err, want)
				continue
			}
			for _, op := range page.Operations {
				if (op.Type == typ) == negate {
					t.Errorf("isof %s (negated %v) listed a %s", typ, negate, op.Type)
				}
			}
		}
	}
}

// A type's own properties are patched and cleared like the caseOperation ones, and history records them.
func TestOwnPropertiesPatchAndClear(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()
	op, err := s.Create(ctx, "t1", store.NewOperation{ODataType: "#microsoft.graph.security.ediscoveryEstimateOperation",
		Props: store.TypeProps{IndexedItemCount: ptr[int64](1), StatisticsOptions: ptr("includeRefiners")}}, audit)
	if err != nil {
		t.Fatal(err)
	}
	patched, result, err := s.Patch(ctx, "t1", op.ID, store.Patch{Props: store.PropsPatch{
		IndexedItemCount:  store.Some(ptr[int64](2)),
		StatisticsOptions: store.Some[*string](nil),
		SiteCount:         store.Some(ptr[int32](7)),
	}}, audit)
	if err != nil {
		t.Fatal(err)
	}
	want := store.TypeProps{IndexedItemCount: ptr[int64](2), SiteCount: ptr[int32](7)}
	if !reflect.DeepEqual(patched.Props, want) || patched.Version != 2 {
		t.Errorf("patch = %+v version %d (%v); want %+v version 2", patched.Props, patched.Version, result, want)
	}
	again, _, err := s.Patch(ctx, "t1", op.ID, store.Patch{Props: store.PropsPatch{SiteCount: store.Some(ptr[int32](7))}}, audit)
	if err != nil || again.Version != 2 {
		t.Errorf("an unchanged patch = version %d, %v; want version 2", again.Version, err)
	}
	var changes []string
	err = pool.QueryRow(ctx, `SELECT array_agg((changes - 'createdDateTime')::text ORDER BY seq) FROM case_operation_events
		WHERE tenant_id = 't1' AND operation_id = $1`, op.ID).Scan(&changes)
	if err != nil {
		t.Fatal(err)
	}
	wantChanges := []string{
		`{"action": {"new": "applyTags", "old": null}, "status": {"new": "notStarted", "old": null}, "indexedItemCount": {"new": 1, "old": null}, "statisticsOptions": {"new": "includeRefiners", "old": null}}`,
		`{"siteCount": {"new": 7, "old": null}, "indexedItemCount": {"new": 2, "old": 1}, "statisticsOptions": {"new": null, "old": "includeRefiners"}}`,
	}
	if !reflect.DeepEqual(changes, wantChanges) {
		t.Errorf("history = %q\nwant %q", changes, wantChanges)
	}
}
