package handlers

import "testing"

func TestSecurityType(t *testing.T) {
	t.Parallel()
	for stored, want := range map[string]string{
		"#microsoft.graph.tagOperation":                             "ediscoveryTagOperation",
		"#microsoft.graph.caseExportOperation":                      "ediscoveryExportOperation",
		"#microsoft.graph.caseHoldOperation":                        "ediscoveryHoldOperation",
		"#microsoft.graph.caseIndexOperation":                       "ediscoveryIndexOperation",
		"#microsoft.graph.addToReviewSetOperation":                  "ediscoveryAddToReviewSetOperation",
		"#microsoft.graph.estimateStatisticsOperation":              "ediscoveryEstimateOperation",
		"#microsoft.graph.purgeDataOperation":                       "ediscoveryPurgeDataOperation",
		"#microsoft.graph.security.ediscoveryHoldOperation":         "ediscoveryHoldOperation",
		"#microsoft.graph.security.ediscoverySearchExportOperation": "ediscoverySearchExportOperation",
	} {
		if got := securityType(stored); got != want {
			t.Errorf("securityType(%q) = %q, want %q", stored, got, want)
		}
	}
}
