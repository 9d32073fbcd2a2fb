package spelling

import (
	"strings"
	"testing"
)

func TestNearest(t *testing.T) {
	t.Parallel()
	options := []string{"$filter", "$orderby", "$select", "$top", "$count", "$skiptoken"}
	properties := []string{"id", "createdDateTime", "completedDateTime", "percentProgress", "status", "action",
		"createdBy", "resultInfo"}
	for _, c := range []struct {
		word       string
		candidates []string
		want       string
	}{
		{"$fitler", options, "$filter"},   // two letters swapped
		{"$Filter", options, "$filter"},   // case
		{"$filtre", options, "$filter"},   // two letters swapped
		{"$orderBy", options, "$orderby"}, // case
		{"$selec", options, "$select"},    // a letter missing
		{"$topp", options, "$top"},        // a letter added
		{"$skipToken", options, "$skiptoken"},
		{"$expand", options, ""}, // no option is that close
		{"$filter", options, ""}, // known: nothing to suggest
		{"pretty", options, ""},
		{"PercentProgress", properties, "percentProgress"},
		{"percentprogres", properties, "percentProgress"},
		{"precentProgress", properties, "percentProgress"},
		{"completedDatetime", properties, "completedDateTime"},
		{"stauts", properties, "status"},
		{"state", properties, ""}, // two edits in five letters is another word
		{"ID", properties, "id"},
		{"idx", properties, "id"}, // a letter added
		{"xy", properties, ""},
		{"tenantId", properties, ""},
		{"Running", []string{"notStarted", "running", "succeeded"}, "running"},
		{strings.Repeat("status", 100), properties, ""},
		{"", properties, ""},
	} {
		if got := Nearest(c.word, c.candidates); got != c.want {
			t.Errorf("Nearest(%q) = %q, want %q", c.word, got, c.want)
		}
	}
}

func TestDistance(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "ab", 2}, {"filter", "filter", 0}, {"fitler", "filter", 1},
		{"kitten", "sitting", 3}, {"ca", "abc", 3}, {"status", "stauts", 1}, {"ab", "ba", 1},
	} {
		if got := distance([]rune(c.a), []rune(c.b)); got != c.want {
			t.Errorf("distance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
