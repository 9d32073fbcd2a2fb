package bench

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// batchSizeMetric is the service's histogram of PATCHes per coalesced transaction.
const batchSizeMetric = "caseops_db_write_batch_size"

// batchSizes is a reading of that histogram: cumulative counts by upper bound, and the sum and count.
type batchSizes struct {
	buckets    map[float64]float64
	sum, count float64
}

// since is what the histogram gained from earlier to b.
func (b batchSizes) since(earlier batchSizes) batchSizes {
	d := batchSizes{buckets: map[float64]float64{}, sum: b.sum - earlier.sum, count: b.count - earlier.count}
	for le, n := range b.buckets {
		d.buckets[le] = n - earlier.buckets[le]
	}
	return d
}

// mean is the mean batch size; 0 with no batch.
func (b batchSizes) mean() float64 {
	if b.count == 0 {
		return 0
	}
	return b.sum / b.count
}

// p99 is the upper bound of the bucket that holds the 99th percentile batch; 0 with no batch.
func (b batchSizes) p99() float64 {
	if b.count == 0 {
		return 0
	}
	bounds := make([]float64, 0, len(b.buckets))
	for le := range b.buckets {
		bounds = append(bounds, le)
	}
	sort.Float64s(bounds)
	for _, le := range bounds {
		if b.buckets[le] >= 0.99*b.count {
			return le
		}
	}
	return math.Inf(1)
}

// readBatchSizes reads the histogram from the service's /metrics; a service that coalesces nothing has none,
// and reads as empty.
func (a *api) readBatchSizes(ctx context.Context) (batchSizes, error) {
	b := batchSizes{buckets: map[float64]float64{}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.baseURL+"/metrics", nil)
	if err != nil {
		return b, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := a.client.Do(req)
	if err != nil {
		return b, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return b, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, batchSizeMetric) {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		switch {
		case name == batchSizeMetric+"_sum":
			b.sum = v
		case name == batchSizeMetric+"_count":
			b.count = v
		case strings.HasPrefix(name, batchSizeMetric+`_bucket{le="`):
			le, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(name, batchSizeMetric+`_bucket{le="`), `"}`), 64)
			if err == nil {
				b.buckets[le] = v
			}
		}
	}
	return b, sc.Err()
}
