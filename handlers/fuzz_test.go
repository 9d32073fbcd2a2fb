package handlers_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// FuzzOperationBody sends arbitrary bodies to every endpoint that decodes one. Whatever the body, the answer
// is never a 5xx, it is always a JSON object, and a refused request leaves the operation as it was.
// The committed corpus is in testdata/fuzz/FuzzOperationBody; CI runs the fuzzer for a bounded time.
func FuzzOperationBody(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"percentProgress": 50}`, `{"percentProgress": null}`, `{"status": "running"}`,
		`{"status": "succeeded", "completedDateTime": "2030-01-01T00:00:00Z"}`, seedBody,
		`{"createdBy": {"user": {"id": "u", "displayName": "n"}, "application": null}}`,
		`{"resultInfo": {"code": 1, "message": "m", "subcode": null, "@odata.type": "microsoft.graph.resultInfo"}}`,
		`{"percentProgress": "50"}`, `{"percentProgress": 1e400}`, `{"percentProgress": -0}`, `{"percentProgress": 9223372036854775808}`,
		`{"completedDateTime": "9999-12-31T23:59:59.999999999+14:00"}`, `{"completedDateTime": "0001-01-01T00:00:00-14:00"}`,
		`{"status": "x';drop table case_operations;--"}`, `{"resultInfo": {"message": "\u0000"}}`, "{\"a\": \"\xff\"}",
		`{"a": 1, "a": 2}`, `{"createdBy": {"user": {"user": {"user": {}}}}}`, `[` + `[` + `]` + `]`, `{"id": null}`,
		`{"id": "05de44a5-44a5-05de-a544-de05a544de05"}`, `{"@odata.type": 5}`, `{"status@odata.type": "#x"}`,
		`{"resultInfo": {"message": "` + string(bytes.Repeat([]byte("x"), 5000)) + `"}}`, `{} {}`, ``, `null`, `"\ud800"`,
		`{"createdBy": {"user": {"displayName": "\ud800"}}}`, `{"createdDateTime": "2026-01-01T00:00:00Z"}`,
	} {
		f.Add([]byte(seed))
	}
	s := newTestServer(f)
	id := s.create(`{"percentProgress": 1}`)["id"].(string)
	client := &http.Client{}

	f.Fuzz(func(t *testing.T, body []byte) {
		s := &testServer{t: t, url: s.url, pool: s.pool, token: s.token}
		for _, target := range [][2]string{{"POST", "/beta/tagOperations"}, {"PATCH", "/beta/tagOperations/" + id}, {"PATCH", "/beta/tagOperation"}} {
			before := s.row(id)
			req, err := http.NewRequest(target[0], s.url+target[1], bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+s.token)
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			answer, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode >= 500 {
				t.Fatalf("%s %s %q: %d %s", target[0], target[1], body, res.StatusCode, answer)
			}
			var obj map[string]any
			if err := json.Unmarshal(answer, &obj); err != nil {
				t.Fatalf("%s %s %q: the answer is not a JSON object: %s", target[0], target[1], body, answer)
			}
			if res.StatusCode >= 400 && s.row(id) != before {
				t.Fatalf("%s %s %q: refused with %d but the operation changed", target[0], target[1], body, res.StatusCode)
			}
		}
	})
}
