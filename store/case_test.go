package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/google/uuid"

	"github.com/caseops/caseops/store"
)

func TestDefaultCaseIDMatchesTheSchema(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()
	op, err := s.Create(ctx, "contoso", store.NewOperation{}, audit)
	if err != nil {
		t.Fatal(err)
	}
	var sqlID uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT case_operation_default_case_id('contoso')`).Scan(&sqlID); err != nil {
		t.Fatal(err)
	}
	if op.CaseID != store.DefaultCaseID("contoso") || sqlID != op.CaseID {
		t.Fatalf("an operation created without a case is in %s; DefaultCaseID = %s, SQL says %s", op.CaseID, store.DefaultCaseID("contoso"), sqlID)
	}
	c, err := s.GetCase(ctx, "contoso", op.CaseID)
	if err != nil || c.DisplayName != "Default case" || c.Status != store.CaseStatusActive {
		t.Fatalf("default case = %+v, %v", c, err)
	}
}

func TestCaseLifecycle(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()

	c, err := s.CreateCase(ctx, "contoso", store.NewCase{DisplayName: "Case 1", Description: ptr("first")}, audit)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != store.CaseStatusActive || c.Version != 1 || c.DisplayName != "Case 1" || *c.Description != "first" ||
		c.ExternalID != nil || !reflect.DeepEqual(c.LastModifiedBy, audit.Actor) || c.ClosedBy != nil || c.ClosedDateTime != nil {
		t.Fatalf("created %+v", c)
	}
	if _, err := s.CreateCase(ctx, "contoso", store.NewCase{ID: c.ID, DisplayName: "again"}, audit); !errors.Is(err, store.ErrCaseAlreadyExists) {
		t.Fatalf("create with a taken id: %v, want ErrCaseAlreadyExists", err)
	}
	if _, err := s.GetCase(ctx, "fabrikam", c.ID); !errors.Is(err, store.ErrCaseNotFound) {
		t.Fatalf("another tenant's case: %v, want ErrCaseNotFound", err)
	}

	// Patch: unchanged writes nothing; a change moves the version; a stale If-Match is refused.
	same, err := s.PatchCase(ctx, "contoso", c.ID, store.CasePatch{DisplayName: store.Some("Case 1")}, audit)
	if err != nil || !reflect.DeepEqual(same, c) {
		t.Fatalf("unchanged patch = %+v, %v; want %+v", same, err, c)
	}
	patched, err := s.PatchCase(ctx, "contoso", c.ID, store.CasePatch{ExternalID: store.Some(ptr("X-1")),
		Description: store.Some[*string](nil), IfMatch: ptr[int64](1)}, audit)
	if err != nil || patched.Version != 2 || *patched.ExternalID != "X-1" || patched.Description != nil || patched.DisplayName != "Case 1" {
		t.Fatalf("patch = %+v, %v", patched, err)
	}
	if _, err := s.PatchCase(ctx, "contoso", c.ID, store.CasePatch{DisplayName: store.Some("x"), IfMatch: ptr[int64](1)}, audit); !errors.Is(err, store.ErrPreconditionFailed) {
		t.Fatalf("stale patch: %v", err)
	}
	if _, err := s.PatchCase(ctx, "contoso", c.ID, store.CasePatch{DisplayName: store.Some("")}, audit); err == nil {
		t.Fatal("empty displayName accepted")
	}

	// Operations in the case; a closed case takes none.
	op, err := s.Create(ctx, "contoso", store.NewOperation{CaseID: c.ID, Status: store.StatusRunning}, audit)
	if err != nil || op.CaseID != c.ID {
		t.Fatalf("create in case = %+v, %v", op, err)
	}
	if _, err := s.Create(ctx, "contoso", store.NewOperation{CaseID: uuid.New()}, audit); !errors.Is(err, store.ErrCaseNotFound) {
		t.Fatalf("create in a missing case: %v, want ErrCaseNotFound", err)
	}
	closed, err := s.CloseCase(ctx, "contoso", c.ID, audit)
	if err != nil || closed.Status != store.CaseStatusClosed || closed.ClosedDateTime == nil || !reflect.DeepEqual(closed.ClosedBy, audit.Actor) {
		t.Fatalf("close = %+v, %v", closed, err)
	}
	if _, err := s.Create(ctx, "contoso", store.NewOperation{CaseID: c.ID}, audit); !errors.Is(err, store.ErrCaseClosed) {
		t.Fatalf("create in a closed case: %v, want ErrCaseClosed", err)
	}
	reopened, err := s.ReopenCase(ctx, "contoso", c.ID, audit)
	if err != nil || reopened.Status != store.CaseStatusActive || reopened.ClosedDateTime != nil || reopened.ClosedBy != nil {
		t.Fatalf("reopen = %+v, %v", reopened, err)
	}

	// Delete: refused while an operation runs, then takes the case and its operations, with their history.
	if err := s.DeleteCase(ctx, "contoso", c.ID, audit); !errors.Is(err, store.ErrCaseBusy) {
		t.Fatalf("delete with a running operation: %v, want ErrCaseBusy", err)
	}
	if _, _, err := s.Patch(ctx, "contoso", op.ID, store.Patch{Status: store.Some(store.StatusSucceeded)}, audit); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteCase(ctx, "contoso", c.ID, audit); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := s.GetCase(ctx, "contoso", c.ID); !errors.Is(err, store.ErrCaseNotFound) {
		t.Fatalf("deleted case: %v", err)
	}
	if _, err := s.Get(ctx, "contoso", op.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted case's operation: %v", err)
	}
	ev := events(t, pool, op.ID)
	if len(ev) != 3 || ev[2][:8] != "deleted " {
		t.Fatalf("history of the deleted case's operation: %q", ev)
	}
	var actor, requestID string
	if err := pool.QueryRow(ctx, `SELECT actor_user_id, request_id FROM case_operation_events WHERE operation_id = $1 AND kind = 'deleted'`,
		op.ID).Scan(&actor, &requestID); err != nil || actor != "u1" || requestID != "req-1" {
		t.Fatalf("deleted event actor %q request %q: %v", actor, requestID, err)
	}
	if err := s.DeleteCase(ctx, "contoso", c.ID, audit); !errors.Is(err, store.ErrCaseNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestListCasesPages(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	var made []store.Case
	for _, name := range []string{"a", "b", "c"} {
		c, err := s.CreateCase(ctx, "contoso", store.NewCase{DisplayName: name}, audit)
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, c)
	}
	if _, err := s.CreateCase(ctx, "fabrikam", store.NewCase{DisplayName: "other"}, audit); err != nil {
		t.Fatal(err)
	}
	first, count, err := s.ListCases(ctx, "contoso", store.CaseQuery{Top: 2, Count: true})
	if err != nil || len(first) != 2 || count == nil || *count != 3 {
		t.Fatalf("first page = %+v, count %v, %v", first, count, err)
	}
	rest, count, err := s.ListCases(ctx, "contoso", store.CaseQuery{Top: 2, After: &store.CaseCursor{Created: first[1].CreatedDateTime, ID: first[1].ID}})
	if err != nil || len(rest) != 1 || count != nil {
		t.Fatalf("second page = %+v, count %v, %v", rest, count, err)
	}
	// A filter, and a count of a page that holds no case.
	named, count, err := s.ListCases(ctx, "contoso", store.CaseQuery{Top: 5, Count: true,
		Filter: store.Or{store.Compare{Field: store.CaseFieldDisplayName, Op: store.OpEq, Value: "b"},
			store.Compare{Field: store.CaseFieldExternalID, Op: store.OpNe, Value: nil}}})
	if err != nil || len(named) != 1 || named[0].ID != made[1].ID || *count != 1 {
		t.Fatalf("displayName eq 'b' = %+v, count %v, %v", named, count, err)
	}
	none, count, err := s.ListCases(ctx, "contoso", store.CaseQuery{Top: 5, Count: true, After: &store.CaseCursor{Created: made[0].CreatedDateTime, ID: made[0].ID},
		Filter: store.Compare{Field: store.CaseFieldStatus, Op: store.OpEq, Value: "active"}})
	if err != nil || len(none) != 0 || *count != 3 {
		t.Fatalf("a page past the last active case = %+v, count %v, %v", none, count, err)
	}
	got := map[uuid.UUID]bool{}
	for _, c := range append(first, rest...) {
		got[c.ID] = true
	}
	for _, c := range made {
		if !got[c.ID] {
			t.Fatalf("case %s missing from the pages", c.DisplayName)
		}
	}
}

// TestOperationsInACase: an operation addressed through another case is not found, and changes nothing.
func TestOperationsInACase(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	c1, err := s.CreateCase(ctx, "contoso", store.NewCase{DisplayName: "one"}, audit)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := s.CreateCase(ctx, "contoso", store.NewCase{DisplayName: "two"}, audit)
	if err != nil {
		t.Fatal(err)
	}
	op, err := s.Create(ctx, "contoso", store.NewOperation{CaseID: c1.ID}, audit)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetInCase(ctx, "contoso", c2.ID, op.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get through another case: %v", err)
	}
	if _, _, err := s.PatchInCase(ctx, "contoso", c2.ID, op.ID, store.Patch{PercentProgress: store.Some(ptr[int32](5))}, audit); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("patch through another case: %v", err)
	}
	if err := s.DeleteInCase(ctx, "contoso", c2.ID, op.ID, nil, audit); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete through another case: %v", err)
	}
	got, err := s.GetInCase(ctx, "contoso", c1.ID, op.ID)
	if err != nil || !reflect.DeepEqual(got, op) {
		t.Fatalf("get in its case = %+v, %v; want %+v unchanged", got, err, op)
	}
	if _, _, err := s.PatchInCase(ctx, "contoso", c1.ID, op.ID, store.Patch{PercentProgress: store.Some(ptr[int32](5))}, audit); err != nil {
		t.Fatalf("patch in its case: %v", err)
	}
	for _, c := range []struct {
		id   uuid.UUID
		want int
	}{{c1.ID, 1}, {c2.ID, 0}} {
		page, err := s.List(ctx, "contoso", store.ListQuery{Top: 10, Case: &c.id, Count: true})
		if err != nil || len(page.Operations) != c.want || *page.Count != int64(c.want) {
			t.Fatalf("list of case %s = %+v, %v; want %d", c.id, page, err, c.want)
		}
	}
	for _, c := range []struct {
		q    store.ListQuery
		want int64
	}{
		{store.ListQuery{Case: &c1.ID}, 1},
		{store.ListQuery{Case: &c2.ID}, 0},
		{store.ListQuery{Case: &c1.ID, Filter: store.Compare{Field: store.FieldPercentProgress, Op: store.OpEq, Value: int32(5)}}, 1},
		{store.ListQuery{Case: &c1.ID, Filter: store.Compare{Field: store.FieldPercentProgress, Op: store.OpEq, Value: int32(6)}}, 0},
		{store.ListQuery{}, 1},
	} {
		if n, err := s.Count(ctx, "contoso", c.q); err != nil || n != c.want {
			t.Fatalf("count %+v = %d, %v; want %d", c.q, n, err, c.want)
		}
	}
	if err := s.DeleteInCase(ctx, "contoso", c1.ID, op.ID, nil, audit); err != nil {
		t.Fatalf("delete in its case: %v", err)
	}
}
