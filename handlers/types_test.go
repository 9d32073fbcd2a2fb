package handlers

import (
	"net/http"
	"testing"

	"github.com/caseops/caseops/store"
)

func TestPrefersUnknownEnumMembers(t *testing.T) {
	t.Parallel()
	for prefer, want := range map[string]bool{
		"":                             false,
		"return=minimal":               false,
		"include-unknown-enum-members": true,
		"return=minimal, Include-Unknown-Enum-Members":                true,
		"odata.maxpagesize=5;x=1 , include-unknown-enum-members; a=b": true,
		"include-unknown-enum-members-not":                            false,
	} {
		h := http.Header{}
		if prefer != "" {
			h.Set("Prefer", prefer)
		}
		if got := prefersUnknownEnumMembers(h); got != want {
			t.Errorf("Prefer %q = %v; want %v", prefer, got, want)
		}
	}
}

func TestEvolvableMembersRender(t *testing.T) {
	t.Parallel()
	cases := []struct{ got, want string }{
		{renderAction(store.ActionPurgeData, false), "unknownFutureValue"},
		{renderAction(store.ActionPurgeData, true), "purgeData"},
		{renderAction(store.ActionHoldUpdate, false), "holdUpdate"},
		{exportOptionsEnum.render("originalFiles,tags,splitSource,condensePaths", false), "originalFiles,tags,unknownFutureValue"},
		{exportOptionsEnum.render("originalFiles,tags,splitSource,condensePaths", true), "originalFiles,tags,splitSource,condensePaths"},
		{additionalOptionsEnum.render("none,includeReport", false), "none,unknownFutureValue"},
		{itemsToIncludeEnum.render("searchHits,partiallyIndexed", false), "searchHits,partiallyIndexed"},
		{exportStructureEnum.render("msg", false), "unknownFutureValue"},
		{exportStructureEnum.render("pst", false), "pst"},
	}
	for i, c := range cases {
		if c.got != c.want {
			t.Errorf("case %d = %q; want %q", i, c.got, c.want)
		}
	}
}
