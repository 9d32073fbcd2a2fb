package store

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// poolMetric is one series read from pgxpool's statistics at scrape time.
type poolMetric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(*pgxpool.Stat) float64
}

func poolSeries(name, help string, kind prometheus.ValueType, value func(*pgxpool.Stat) float64) poolMetric {
	return poolMetric{prometheus.NewDesc("caseops_db_pool_"+name, help, nil, nil), kind, value}
}

var poolMetrics = []poolMetric{
	poolSeries("acquired_conns", "Connections a request holds now.", prometheus.GaugeValue,
		func(s *pgxpool.Stat) float64 { return float64(s.AcquiredConns()) }),
	poolSeries("idle_conns", "Open connections waiting for a request.", prometheus.GaugeValue,
		func(s *pgxpool.Stat) float64 { return float64(s.IdleConns()) }),
	poolSeries("constructing_conns", "Connections being opened now.", prometheus.GaugeValue,
		func(s *pgxpool.Stat) float64 { return float64(s.ConstructingConns()) }),
	poolSeries("total_conns", "Connections open or being opened.", prometheus.GaugeValue,
		func(s *pgxpool.Stat) float64 { return float64(s.TotalConns()) }),
	poolSeries("max_conns", "Most connections the pool may hold.", prometheus.GaugeValue,
		func(s *pgxpool.Stat) float64 { return float64(s.MaxConns()) }),
	poolSeries("acquires_total", "Connections handed to requests.", prometheus.CounterValue,
		func(s *pgxpool.Stat) float64 { return float64(s.AcquireCount()) }),
	poolSeries("acquire_duration_seconds_total", "Time requests spent acquiring a connection.", prometheus.CounterValue,
		func(s *pgxpool.Stat) float64 { return s.AcquireDuration().Seconds() }),
	poolSeries("empty_acquires_total", "Acquires that had to wait because no idle connection was ready.", prometheus.CounterValue,
		func(s *pgxpool.Stat) float64 { return float64(s.EmptyAcquireCount()) }),
	poolSeries("empty_acquire_wait_seconds_total", "Time acquires spent waiting for a connection when none was idle.", prometheus.CounterValue,
		func(s *pgxpool.Stat) float64 { return s.EmptyAcquireWaitTime().Seconds() }),
	poolSeries("canceled_acquires_total", "Acquires abandoned because the request's context ended first.", prometheus.CounterValue,
		func(s *pgxpool.Stat) float64 { return float64(s.CanceledAcquireCount()) }),
	poolSeries("new_conns_total", "Connections opened.", prometheus.CounterValue,
		func(s *pgxpool.Stat) float64 { return float64(s.NewConnsCount()) }),
	poolSeries("max_lifetime_destroys_total", "Connections closed for reaching their maximum lifetime.", prometheus.CounterValue,
		func(s *pgxpool.Stat) float64 { return float64(s.MaxLifetimeDestroyCount()) }),
	poolSeries("max_idle_destroys_total", "Connections closed for idling too long.", prometheus.CounterValue,
		func(s *pgxpool.Stat) float64 { return float64(s.MaxIdleDestroyCount()) }),
}

// PoolCollector reports a connection pool's statistics to Prometheus, read afresh at every scrape.
type PoolCollector struct {
	pool *pgxpool.Pool
}

// NewPoolCollector returns a collector of pool's caseops_db_pool_* series.
func NewPoolCollector(pool *pgxpool.Pool) *PoolCollector { return &PoolCollector{pool: pool} }

// Describe implements prometheus.Collector.
func (c *PoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range poolMetrics {
		ch <- m.desc
	}
}

// Collect implements prometheus.Collector.
func (c *PoolCollector) Collect(ch chan<- prometheus.Metric) {
	stat := c.pool.Stat()
	for _, m := range poolMetrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(stat))
	}
}
