package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Change streams under load: `bench patch --streams N` opens N streams before the load, one that receives
// every change of the bench tenant (GET /beta/tagOperations/stream) and N-1 on a case of its own that the load
// never touches, as dashboards watching other cases would be, and reports the delay from each PATCH's answer
// to the event that carries its ETag. A PATCH answered before its event is read counts as no delay; one whose
// change was overtaken in the same round by a later PATCH of the operation has no event of its own.

// streamWatch is the open streams of a run.
type streamWatch struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	seen   map[string]time.Time // @odata.etag -> when the measuring stream received it
	errs   []error
}

// etagAt is a PATCH's ETag and when its answer arrived.
type etagAt struct {
	etag     string    // revisionKey of the answer
	sent, at time.Time // the PATCH was sent, and answered: it committed in between
}

func (a *api) openStreams(ctx context.Context, n int) (*streamWatch, error) {
	ctx, cancel := context.WithCancel(ctx)
	sw := &streamWatch{cancel: cancel, seen: map[string]time.Time{}}
	caseID, err := a.createCase(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableCompression: true,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}}
	connected := make(chan error, n)
	for i := range n {
		url := a.baseURL + "/v1.0/security/cases/ediscoveryCases/" + caseID + "/operations/stream"
		if i == 0 {
			url = a.baseURL + "/beta/tagOperations/stream"
		}
		sw.wg.Go(func() { sw.read(ctx, client, url, a.token, i == 0, connected) })
	}
	for range n {
		if err := <-connected; err != nil {
			sw.stop()
			return nil, err
		}
	}
	return sw, nil
}

// read holds one stream open until ctx ends; the measuring one records when each ETag arrives.
func (sw *streamWatch) read(ctx context.Context, client *http.Client, url, token string, measure bool, connected chan<- error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		connected <- err
		return
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := client.Do(req)
	if err != nil {
		connected <- fmt.Errorf("open a stream: %w", err)
		return
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 300))
		connected <- fmt.Errorf("open a stream: %d %s", res.StatusCode, b)
		return
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	first := true
	for sc.Scan() {
		line := sc.Bytes()
		if first {
			connected <- nil // the stream's first comment: it is subscribed
			first = false
		}
		if !measure || !bytes.HasPrefix(line, []byte("data: ")) {
			continue
		}
		at := time.Now()
		var ev struct {
			ID   string `json:"id"`
			ETag string `json:"@odata.etag"`
		}
		if json.Unmarshal(line[len("data: "):], &ev) == nil && ev.ETag != "" {
			sw.mu.Lock()
			sw.seen[revisionKey(ev.ID, ev.ETag)] = at
			sw.mu.Unlock()
		}
	}
	if first {
		connected <- fmt.Errorf("a stream ended before it said anything: %v", sc.Err())
	} else if ctx.Err() == nil {
		sw.mu.Lock()
		sw.errs = append(sw.errs, fmt.Errorf("a stream ended during the load: %v", sc.Err()))
		sw.mu.Unlock()
	}
}

func (sw *streamWatch) stop() {
	sw.cancel()
	sw.wg.Wait()
}

func (a *api) createCase(ctx context.Context) (string, error) {
	req, err := a.newRequest(ctx, http.MethodPost, a.baseURL+"/v1.0/security/cases/ediscoveryCases",
		[]byte(`{"displayName": "bench: watched by idle streams"}`))
	if err != nil {
		return "", err
	}
	_, body, err := a.do(req)
	if err != nil {
		return "", err
	}
	var c struct{ ID string }
	if err := json.Unmarshal(body, &c); err != nil || c.ID == "" {
		return "", fmt.Errorf("create a case: the answer has no id: %.300s", body)
	}
	return c.ID, nil
}

// delays joins the PATCH answers with the events that carried their ETags.
func (sw *streamWatch) delays(patches []etagAt) (d streamDelays) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	var start time.Time
	for _, p := range patches {
		if start.IsZero() || p.sent.Before(start) {
			start = p.sent
		}
	}
	var slowest time.Duration
	for _, p := range patches {
		at, ok := sw.seen[p.etag]
		if !ok {
			d.missing++
			continue
		}
		fromAnswer := max(at.Sub(p.at), 0)
		d.fromAnswer = append(d.fromAnswer, fromAnswer)
		d.fromRequest = append(d.fromRequest, max(at.Sub(p.sent), 0))
		if fromAnswer > time.Second {
			d.overASecond++
		}
		if fromAnswer > slowest {
			slowest, d.slowestAt = fromAnswer, p.sent.Sub(start)
		}
	}
	return d
}

// streamDelays are the delays of the events that carried the PATCHes' ETags, and when the slowest was sent
// (from the load's start).
type streamDelays struct {
	fromAnswer, fromRequest []time.Duration
	missing, overASecond    int
	slowestAt               time.Duration
}

// revisionKey names one revision of one operation. An ETag alone does not: it is a version and a creation time,
// which two operations created in the same microsecond share, and their events would then be taken for each
// other's (seconds apart).
func revisionKey(id, etag string) string { return id + " " + etag }

// etagOf is the @odata.etag of a PATCH answer, found without decoding the whole entity.
func etagOf(answer []byte) string {
	const key = `"@odata.etag":"`
	i := bytes.Index(answer, []byte(key))
	if i < 0 {
		return ""
	}
	rest := answer[i+len(key):]
	// The ETag is W/\"...\": its quotes are escaped, so the value ends at the first unescaped quote.
	for j := 0; j < len(rest); j++ {
		switch rest[j] {
		case '\\':
			j++
		case '"':
			var s string
			if json.Unmarshal(answer[i+len(key)-1:i+len(key)+j+1], &s) != nil {
				return ""
			}
			return s
		}
	}
	return ""
}
