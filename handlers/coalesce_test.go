package handlers_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/caseops/caseops/handlers"
	"github.com/caseops/caseops/store"
	"github.com/caseops/caseops/store/storetest"
)

// Under load (32 writers, some on the same operations, If-Match absent, * or the ETag each last saw, so some
// stale, and status changes that the operation's status may refuse) the coalesced PATCHes leave a history that replays exactly to every row, and every 2xx has its one
// event, at the version its ETag names; every 412 and 409 has none.
func TestCoalescedLoadReplaysToTheRows(t *testing.T) {
	t.Parallel()
	pool := storetest.NewPool(t)
	st := store.New(pool)
	s := newServerWith(t, st, pool, handlers.Config{})
	const writers, perWriter, operations = 32, 40, 12
	ids := make([]string, operations)
	for i := range ids {
		ids[i] = s.create(`{"status": "running"}`)["id"].(string)
	}

	type answer struct {
		op, requestID, etag string
		status              int
	}
	answers := make([][]answer, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 15))
			seen := map[string]string{} // the last ETag this writer saw of each operation
			for n := range perWriter {
				op := ids[rng.IntN(operations)]
				// Every PATCH changes the message, so each one applied has an event.
				body := fmt.Sprintf(`{"percentProgress": %d, "resultInfo": {"message": "w%d-%d"}}`, rng.IntN(101), w, n)
				switch rng.IntN(20) {
				case 0:
					body = fmt.Sprintf(`{"status": "succeeded", "resultInfo": {"message": "w%d-%d"}}`, w, n)
				case 1: // refused once the operation has succeeded
					body = fmt.Sprintf(`{"status": "running", "resultInfo": {"message": "w%d-%d"}}`, w, n)
				}
				var headers []string
				switch rng.IntN(3) {
				case 1:
					headers = []string{"If-Match", "*"}
				case 2:
					if tag, ok := seen[op]; ok {
						headers = []string{"If-Match", tag}
					}
				}
				r := s.do("PATCH", "/beta/tagOperations/"+op, body, headers...)
				switch r.status {
				case 200, 409, 412:
				default:
					t.Errorf("PATCH %s: %d %s", body, r.status, r.body)
				}
				if r.status == 200 {
					seen[op] = r.header.Get("ETag")
				}
				answers[w] = append(answers[w], answer{op, r.header.Get("request-id"), r.header.Get("ETag"), r.status})
			}
		}()
	}
	wg.Wait()
	if st := st.CoalescingStats(); st.Batches == 0 {
		t.Errorf("no PATCH shared a batch: %+v", st)
	} else {
		t.Logf("coalescing: %+v", st)
	}

	ctx := context.Background()
	if bad := storetest.UnreplayedOperations(t, pool); len(bad) != 0 {
		t.Errorf("%d operations whose history does not replay to their row, such as %s", len(bad), bad[0])
	}

	// Each answer against the events: a 2xx has exactly one, the operation's event number (its version) that
	// its ETag names; a refusal has none.
	type event struct {
		op      string
		version int
	}
	byRequest := map[string][]event{}
	rows, _ := pool.Query(ctx, `SELECT request_id, operation_id::text,
		row_number() OVER (PARTITION BY operation_id ORDER BY seq) FROM case_operation_events WHERE kind = 'updated'`)
	for rows.Next() {
		var id string
		var e event
		if err := rows.Scan(&id, &e.op, &e.version); err != nil {
			t.Fatal(err)
		}
		e.version++ // the create is version 1
		byRequest[id] = append(byRequest[id], e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	statuses := map[int]int{}
	for _, as := range answers {
		for _, a := range as {
			statuses[a.status]++
			got := byRequest[a.requestID]
			switch {
			case a.status != 200 && len(got) != 0:
				t.Errorf("%d for %s, with events %v", a.status, a.requestID, got)
			case a.status == 200 && (len(got) != 1 || got[0].op != a.op || a.etag[:len(fmt.Sprintf(`W/"%d.`, got[0].version))] != fmt.Sprintf(`W/"%d.`, got[0].version)):
				t.Errorf("200 for %s with ETag %s, events %v", a.requestID, a.etag, got)
			}
		}
	}
	t.Logf("answers: %v", statuses)
	if statuses[412] == 0 || statuses[409] == 0 || statuses[200] == 0 {
		t.Errorf("answers %v: want stale If-Matches and refused transitions among the writes", statuses)
	}
}
