package bench

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// latencies summarises every sample of a run. Keeping them all (a run is bounded by its duration and
// --max-requests) makes the percentiles exact, so two runs compare without bucket error.
type latencies struct {
	count         int
	p50, p95, p99 time.Duration
	max           time.Duration
}

// summarize sorts samples in place and reads the percentiles off them.
func summarize(samples []time.Duration) latencies {
	slices.Sort(samples)
	l := latencies{count: len(samples),
		p50: percentile(samples, 50), p95: percentile(samples, 95), p99: percentile(samples, 99)}
	if len(samples) > 0 {
		l.max = samples[len(samples)-1]
	}
	return l
}

// percentile returns the nearest-rank p-th percentile of sorted samples: the smallest sample that at least
// p percent of the samples do not exceed. It is 0 for no samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p * float64(len(sorted)) / 100)) // p*n is exact for whole p and n; p/100 is not
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// median returns the median of values (the mean of the middle two for an even count), leaving values unchanged.
func median(values []float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	v := slices.Clone(values)
	slices.Sort(v)
	mid := len(v) / 2
	if len(v)%2 == 1 {
		return v[mid]
	}
	return (v[mid-1] + v[mid]) / 2
}

// ms formats a latency in milliseconds with microsecond resolution.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond))
}
