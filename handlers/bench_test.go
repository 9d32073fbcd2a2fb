package handlers_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"testing"
)

// BenchmarkPatchHTTP is the hot path end to end: a worker's progress PATCH through HTTP, the token check,
// the body decoding, the one statement in Postgres and the JSON answer.
func BenchmarkPatchHTTP(b *testing.B) {
	s := newTestServer(b)
	const n = 200
	ids := make([]string, n)
	for i := range ids {
		ids[i] = s.create(`{"status": "running"}`)["id"].(string)
	}
	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	client := &http.Client{Transport: transport}
	b.Cleanup(transport.CloseIdleConnections)
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
		for pb.Next() {
			body := fmt.Sprintf(`{"percentProgress": %d}`, rng.IntN(101))
			req, _ := http.NewRequest("PATCH", s.url+"/beta/tagOperations/"+ids[rng.IntN(n)], bytes.NewReader([]byte(body)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+s.token)
			res, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				b.Fatalf("status %d", res.StatusCode)
			}
		}
	})
}
