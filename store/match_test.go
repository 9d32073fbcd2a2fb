package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/caseops/caseops/store"
)

// Matches, which change streams filter with, decides every filter as the list's SQL does, nulls and
// negations included, over operations of several types that set and leave unset each field.
func TestMatchesAgreesWithTheListSQL(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	later := time.Now().Add(time.Hour)
	news := []store.NewOperation{
		{Status: store.StatusRunning, PercentProgress: ptr(int32(10)), CreatedBy: &store.IdentitySet{User: &store.Identity{ID: ptr("ada")}}},
		{Status: store.StatusFailed, Action: store.Action("index"), ResultInfo: &store.ResultInfo{Code: ptr(int32(503))}},
		{Status: store.StatusSucceeded, PercentProgress: ptr(int32(100)),
			CreatedBy: &store.IdentitySet{Application: &store.Identity{ID: ptr("app")}}},
		{ODataType: "#microsoft.graph.security.ediscoveryEstimateOperation", Props: store.TypeProps{IndexedItemCount: ptr(int64(5_000_000_000)), MailboxCount: ptr(int32(3))}},
		{ODataType: "#microsoft.graph.security.ediscoveryEstimateOperation", Status: store.StatusRunning},
		{ODataType: "#microsoft.graph.security.ediscoverySearchExportOperation", Props: store.TypeProps{ExportSingleItems: ptr(true), ExportFormat: ptr("eml"), Description: ptr("b")}},
		{ODataType: "#microsoft.graph.security.ediscoveryExportOperation", Props: store.TypeProps{ExportStructure: ptr("pst"), Description: ptr("a")}},
	}
	var ops []store.Operation
	for _, n := range news {
		op, err := s.Create(ctx, "t", n, audit)
		if err != nil {
			t.Fatalf("create %+v: %v", n, err)
		}
		ops = append(ops, op)
	}
	filters := []store.Filter{
		store.Compare{Field: store.FieldStatus, Op: store.OpEq, Value: store.StatusRunning},
		store.Compare{Field: store.FieldStatus, Op: store.OpGt, Value: store.StatusRunning},
		store.Compare{Field: store.FieldAction, Op: store.OpNe, Value: store.Action("applyTags")},
		store.Compare{Field: store.FieldPercentProgress, Op: store.OpGe, Value: int32(10)},
		store.Compare{Field: store.FieldPercentProgress, Op: store.OpNe, Value: int32(10)},
		store.Compare{Field: store.FieldPercentProgress, Op: store.OpEq, Value: nil},
		store.Not{Filter: store.Compare{Field: store.FieldPercentProgress, Op: store.OpLt, Value: int32(50)}},
		store.Compare{Field: store.FieldCompletedDateTime, Op: store.OpLt, Value: later},
		store.Compare{Field: store.FieldCreatedByUserID, Op: store.OpEq, Value: "ada"},
		store.Compare{Field: store.FieldCreatedByApplicationID, Op: store.OpNe, Value: nil},
		store.Compare{Field: store.FieldResultCode, Op: store.OpEq, Value: int32(503)},
		store.In{Field: store.FieldStatus, Values: []any{store.StatusFailed, store.StatusSucceeded}},
		store.Not{Filter: store.In{Field: store.FieldPercentProgress, Values: []any{int32(10), nil}}},
		store.Or{store.IsType{Type: "ediscoveryExportOperation"}, store.Compare{Field: "mailboxCount", Op: store.OpGt, Value: int32(1)}},
		store.Compare{Field: "indexedItemCount", Op: store.OpGt, Value: int64(3_000_000_000)},
		store.Compare{Field: "indexedItemCount", Op: store.OpNe, Value: int64(5_000_000_000)},
		store.Not{Filter: store.Compare{Field: "exportSingleItems", Op: store.OpEq, Value: true}},
		store.Compare{Field: "description", Op: store.OpGt, Value: "a"},
		store.In{Field: "exportFormat", Values: []any{"pst", nil}},
		store.And{store.IsType{Type: "ediscoveryEstimateOperation"}, store.Not{Filter: store.Compare{Field: store.FieldStatus, Op: store.OpEq, Value: store.StatusRunning}}},
	}
	for i, f := range filters {
		page, err := s.List(ctx, "t", store.ListQuery{Filter: f, Top: 100})
		if err != nil {
			t.Fatalf("filter %d %#v: %v", i, f, err)
		}
		var fromSQL, fromGo []uuid.UUID
		for _, op := range page.Operations {
			fromSQL = append(fromSQL, op.ID)
		}
		for _, op := range ops {
			if store.Matches(f, op) {
				fromGo = append(fromGo, op.ID)
			}
		}
		slices.SortFunc(fromSQL, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
		slices.SortFunc(fromGo, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
		if !slices.Equal(fromSQL, fromGo) || len(fromSQL) == 0 || len(fromSQL) == len(ops) {
			t.Errorf("filter %d %s: SQL finds %d operations %v, Matches %d %v (each filter should split the set)",
				i, fmt.Sprintf("%#v", f), len(fromSQL), fromSQL, len(fromGo), fromGo)
		}
	}
}
