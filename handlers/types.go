package handlers

import (
	"net/http"
	"strings"

	"github.com/caseops/caseops/store"
)

// The evolvable-enum rule of the microsoft.graph.security routes: a member Graph lists after
// unknownFutureValue reaches only a client that sent Prefer: include-unknown-enum-members; others read
// unknownFutureValue, as Graph's own service answers them.

// preferIncludeUnknownEnumMembers is the Prefer preference that asks for evolvable members by name;
// a response that honours it echoes it in Preference-Applied.
const preferIncludeUnknownEnumMembers = "include-unknown-enum-members"

// prefersUnknownEnumMembers reports whether any Prefer header of h asks for include-unknown-enum-members
// (preferences are comma-separated, case-insensitive, and may carry parameters).
func prefersUnknownEnumMembers(h http.Header) bool {
	for _, v := range h.Values("Prefer") {
		for _, pref := range strings.Split(v, ",") {
			name, _, _ := strings.Cut(pref, ";")
			name, _, _ = strings.Cut(name, "=")
			if strings.EqualFold(strings.TrimSpace(name), preferIncludeUnknownEnumMembers) {
				return true
			}
		}
	}
	return false
}

// lastModifiedAnnotation is the instance annotation that carries when an operation last changed, which Graph's
// caseOperation has no property for; a client asks for it with Prefer: odata.include-annotations.
const lastModifiedAnnotation = "@caseops.lastModifiedDateTime"

// prefersLastModifiedAnnotation reports whether a Prefer header of h asks for odata.include-annotations with a
// pattern that takes lastModifiedAnnotation ("*", "caseops.*" or its name; OData 4.01 §8.2.8.4), and the
// preference to echo in Preference-Applied.
func prefersLastModifiedAnnotation(h http.Header) (string, bool) {
	for _, v := range h.Values("Prefer") {
		for _, pref := range splitUnquoted(v) {
			name, value, _ := strings.Cut(pref, "=")
			if !strings.EqualFold(strings.TrimSpace(name), "odata.include-annotations") {
				continue
			}
			value = strings.Trim(strings.TrimSpace(value), `"`)
			included := false
			for _, pattern := range strings.Split(value, ",") {
				switch strings.TrimSpace(pattern) {
				case "*", "caseops.*", lastModifiedAnnotation[1:]:
					included = true
				case "-*", "-caseops.*", "-" + lastModifiedAnnotation[1:]:
					return "", false // an exclusion wins
				}
			}
			if included {
				return `odata.include-annotations="` + value + `"`, true
			}
		}
	}
	return "", false
}

// splitUnquoted splits a Prefer header's preferences at the commas outside quoted values.
func splitUnquoted(s string) []string {
	var parts []string
	quoted, start := false, 0
	for i, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
		case r == ',' && !quoted:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// renderAction is the caseAction a security route answers with.
func renderAction(a store.Action, includeUnknown bool) string {
	if a.Evolvable() && !includeUnknown {
		return string(store.ActionUnknownFutureValue)
	}
	return string(a)
}

// evolvableEnum is one of Graph's enums, flags or not: its members in order, the first evolvable one at
// evolvableFrom (len(members) when it has none).
type evolvableEnum struct {
	members       []string
	evolvableFrom int
}

// render is a stored value (one member, or a flags list of them) as a security route answers it: the
// evolvable members become one unknownFutureValue, placed where Graph places the sentinel, unless includeUnknown.
func (e evolvableEnum) render(stored string, includeUnknown bool) string {
	if includeUnknown {
		return stored
	}
	var out []string
	sentinel := false
	for _, m := range strings.Split(stored, ",") {
		i := indexOf(e.members, m)
		if i >= e.evolvableFrom {
			if !sentinel {
				out = append(out, string(store.ActionUnknownFutureValue))
				sentinel = true
			}
			continue
		}
		out = append(out, m)
	}
	return strings.Join(out, ",")
}

func indexOf(members []string, m string) int {
	for i, s := range members {
		if s == m {
			return i
		}
	}
	return len(members)
}

// The flags enums of CONTRACT section 8, in Graph's member order.
var (
	statisticsOptionsEnum = evolvableEnum{[]string{"includeRefiners", "includeQueryStats", "includeUnindexedStats",
		"advancedIndexing", "locationsWithoutHits"}, 5}
	additionalDataOptionsEnum = evolvableEnum{[]string{"allVersions", "linkedFiles", "advancedIndexing", "listAttachments",
		"htmlTranscripts", "messageConversationExpansion", "locationsWithoutHits", "allItemsInFolder"}, 2}
	itemsToIncludeEnum = evolvableEnum{[]string{"searchHits", "partiallyIndexed"}, 2}
	exportOptionsEnum  = evolvableEnum{[]string{"originalFiles", "text", "pdfReplacement", "tags", "splitSource",
		"includeFolderAndPath", "friendlyName", "condensePaths"}, 4}
	additionalOptionsEnum = evolvableEnum{[]string{"none", "teamsAndYammerConversations", "cloudAttachments",
		"allDocumentVersions", "subfolderContents", "listAttachments", "htmlTranscripts", "advancedIndexing",
		"allItemsInFolder", "includeFolderAndPath", "condensePaths", "friendlyName", "splitSource", "includeReport"}, 6}
	exportCriteriaEnum = evolvableEnum{[]string{"searchHits", "partiallyIndexed"}, 2}
	exportLocationEnum = evolvableEnum{[]string{"responsiveLocations", "nonresponsiveLocations"}, 2}
)

// The other enums of the types' own properties.
var (
	versionEnum         = evolvableEnum{[]string{"latest", "recent10", "recent100", "all"}, 4} // cloudAttachmentVersion, documentVersion
	exportStructureEnum = evolvableEnum{[]string{"none", "directory", "pst", "msg"}, 3}        // exportFileStructure
	exportFormatEnum    = evolvableEnum{[]string{"pst", "msg", "eml"}, 3}
)
