package handlers

import (
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/caseops/caseops/store"
)

// unmatchedRoute labels requests no route matched, so that scanners probing random URLs add no series.
const unmatchedRoute = "unmatched"

// metrics are the series the HTTP layer records.
type metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	transitions *prometheus.CounterVec
	streams     prometheus.Gauge
}

// newMetrics registers the HTTP layer's series on reg; registering twice on one registry panics.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "caseops_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "caseops_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern and method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "caseops_status_transitions_total",
			Help: "Operation status changes written by PATCH, by action and the statuses before and after.",
		}, []string{"action", "from", "to"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "caseops_streams_open",
			Help: "Change streams (.../operations/stream) open now.",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.transitions, m.streams)
	return m
}

// countTransition records a PATCH that moved an operation from one status to another.
func (m *metrics) countTransition(op store.Operation, res store.PatchResult) {
	if res.Changed && res.OldStatus != op.Status {
		m.transitions.WithLabelValues(string(op.Action), string(res.OldStatus), string(op.Status)).Inc()
	}
}

// MetricsHandler serves what reg gathers in the Prometheus exposition format, for /metrics on this
// server or on a listener of its own.
func MetricsHandler(logger *slog.Logger, reg prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError, // a broken collector must not hide the others
	})
}
