package main

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A request's log line gives its duration the same way in both formats: duration_ms, a number of
// milliseconds that log tools compare and sum as it is.
func TestRequestLogDurationInBothFormats(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			s := serve(t, map[string]string{"DATABASE_URL": newDatabaseURL(t), "CASEOPS_LOG_FORMAT": format})
			if st, body := request(t, "GET", s.base+"/beta/tagOperations/nosuch", "", ""); st != 401 {
				t.Fatalf("without a token: %d %s", st, body)
			}
			// The request log is written in batches: wait for the line.
			var line string
			for deadline := time.Now().Add(10 * time.Second); line == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				for _, l := range strings.Split(s.stderr.String(), "\n") {
					if strings.Contains(l, "/beta/tagOperations/:id") {
						line = l
					}
				}
			}
			var ms string
			if format == "json" {
				var got map[string]any
				if err := json.Unmarshal([]byte(line), &got); err != nil {
					t.Fatalf("not a JSON line: %q", line)
				}
				d, ok := got["duration_ms"].(float64)
				delete(got, "duration_ms")
				delete(got, "time")
				delete(got, "request-id")
				delete(got, "client-request-id")
				want := map[string]any{"level": "INFO", "msg": "request", "tenant": "", "method": "GET", "route": "/beta/tagOperations/:id", "status": 401.0}
				if !ok || !equalJSON(got, want) {
					t.Fatalf("line %q: duration_ms %v, the rest %v; want a number and %v", line, d, got, want)
				}
				ms = strconv.FormatFloat(d, 'f', -1, 64)
			} else {
				m := regexp.MustCompile(`^time=\S+ level=INFO msg=request request-id=\S+ client-request-id=\S+ tenant="" method=GET route=/beta/tagOperations/:id status=401 duration_ms=(\d+(?:\.\d+)?)$`).FindStringSubmatch(line)
				if m == nil {
					t.Fatalf("line %q", line)
				}
				ms = m[1]
			}
			// A real request through HTTP takes more than a microsecond, and far less than a minute.
			if d, err := strconv.ParseFloat(ms, 64); err != nil || d < 0.001 || d > 60000 {
				t.Errorf("duration_ms %s", ms)
			}
		})
	}
}

func equalJSON(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
