package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caseops/caseops/handlers"
	"github.com/caseops/caseops/handlers/auth"
	"github.com/caseops/caseops/migrations"
	"github.com/caseops/caseops/store"
)

// benchQueries are the list requests bench-query times through HTTP; the first is the one the README's
// target is for.
var benchQueries = []string{
	"$filter=status eq 'running'&$orderby=createdDateTime desc",
	"$filter=status eq 'failed' and resultInfo/code eq 503&$orderby=createdDateTime desc&$top=50",
	"$filter=status eq 'running'&$count=true",
	"$filter=status eq 'running'&$orderby=percentProgress desc,createdDateTime",
}

// reportingViews are timed with SELECT * as an analyst would run them.
var reportingViews = []string{"case_operations_per_day", "case_operation_durations", "case_operations_running",
	"case_operation_failures", "case_operation_status_changes_per_hour"}

// runBenchQuery measures a seeded database: list and delta requests through the real HTTP API (started
// in-process on loopback, with a bearer token like any client's) and the reporting views through SQL.
func runBenchQuery(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	s := newSettings("bench-query", "bench-query [--tenant T] [--requests N] [flags]", getenv, stdout, stderr).NoArguments()
	dbURL := databaseURLFlag(s)
	tenant := s.String("tenant", "CASEOPS_BENCH_TENANT", "", "tenant whose operations are listed (default: the one with the most)")
	requests := s.Int("requests", "CASEOPS_BENCH_REQUESTS", 300, "timed requests of each query")
	runs := s.Int("view-runs", "CASEOPS_BENCH_VIEW_RUNS", 5, "timed runs of each reporting view")
	if err := s.Parse(args); err != nil {
		return err
	}
	// Each timed request keeps its latency until the row is printed: bound what that may hold.
	if *requests < 1 || *requests > 1_000_000 {
		return s.Errorf("%s must be from 1 to 1000000, not %d", s.Source("requests"), *requests)
	}
	if *runs < 1 || *runs > 1000 {
		return s.Errorf("%s must be from 1 to 1000, not %d", s.Source("view-runs"), *runs)
	}
	pool, err := store.Connect(ctx, *dbURL, store.PoolConfig{})
	if err != nil {
		return err
	}
	defer pool.Close()
	if *tenant == "" {
		err := pool.QueryRow(ctx, `SELECT tenant_id FROM case_operations_per_day GROUP BY tenant_id ORDER BY sum(operations) DESC LIMIT 1`).Scan(tenant)
		if err != nil {
			return fmt.Errorf("find the largest tenant (is the database seeded?): %w", err)
		}
	}
	var operations, tenantOperations int64
	if err := pool.QueryRow(ctx, `SELECT (SELECT coalesce(sum(operations), 0) FROM case_operations_per_day),
		(SELECT coalesce(sum(operations), 0) FROM case_operations_per_day WHERE tenant_id = $1)`, *tenant).Scan(&operations, &tenantOperations); err != nil {
		return err
	}
	if tenantOperations == 0 {
		return fmt.Errorf("tenant %q has no operations to list; name one that has (tenant-01 to tenant-NN after a seed), or leave --tenant out", *tenant)
	}
	fmt.Fprintf(stdout, "database: %d operations; tenant %s has %d of them\n\n", operations, *tenant, tenantOperations)

	secret, err := auth.NewDevSecret()
	if err != nil {
		return err
	}
	verifier, err := auth.NewVerifier(ctx, auth.Config{Secret: secret})
	if err != nil {
		return err
	}
	token, err := auth.Mint(secret, auth.MintOptions{Tenant: *tenant, Scopes: auth.PermissionRead, UserID: "bench"})
	if err != nil {
		return err
	}
	st := store.New(pool)
	api := handlers.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)),
		handlers.Config{RequestTimeout: 30 * time.Second, SchemaVersion: migrations.LatestVersion()}, verifier, st, st, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := "http://" + ln.Addr().String() + "/beta/tagOperations"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}

	get := func(u, token string) (time.Duration, []byte, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		d := time.Since(start)
		if err == nil && res.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s: %s", u, res.Status)
		}
		return d, body, err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	timeRequests := func(label, u, token string) error {
		for range 20 { // warm the connection, the pool and the caches
			if _, _, err := get(u, token); err != nil {
				return err
			}
		}
		times := make([]time.Duration, 0, *requests)
		for range *requests {
			d, _, err := get(u, token)
			if err != nil {
				return err
			}
			times = append(times, d)
		}
		slices.Sort(times)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", label, ms(percentile(times, 0.5)), ms(percentile(times, 0.95)),
			ms(percentile(times, 0.99)), ms(times[len(times)-1]))
		return nil
	}
	fmt.Fprintf(tw, "GET /beta/tagOperations?…\tp50\tp95\tp99\tmax\t\n")
	for _, q := range benchQueries {
		if err := timeRequests(q, base+"?"+encodeOptions(q), token); err != nil {
			return err
		}
	}
	// Delta: the first page of a first round, and a delta link followed when nothing changed since. A round
	// over millions of operations has tens of thousands of pages, so the link comes from a tenant of its own.
	if err := timeRequests("/delta (first page of the first round)", base+"/delta", token); err != nil {
		return err
	}
	quiet, err := auth.Mint(secret, auth.MintOptions{Tenant: "bench-query-quiet-tenant", Scopes: auth.PermissionRead, UserID: "bench"})
	if err != nil {
		return err
	}
	_, body, err := get(base+"/delta", quiet)
	if err != nil {
		return err
	}
	var round struct {
		DeltaLink string `json:"@odata.deltaLink"`
	}
	if err := json.Unmarshal(body, &round); err != nil || round.DeltaLink == "" {
		return fmt.Errorf("no @odata.deltaLink in %s", body)
	}
	if err := timeRequests("@odata.deltaLink (nothing changed since)", round.DeltaLink, quiet); err != nil {
		return err
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "(%d sequential requests each through HTTP on loopback, after 20 warm-up requests)\n\n", *requests)

	fmt.Fprintf(tw, "SELECT * FROM\trows\tmedian\tmax\t\n")
	for _, view := range reportingViews {
		var times []time.Duration
		var n int
		for range *runs {
			start := time.Now()
			rows, err := pool.Query(ctx, "SELECT * FROM "+view)
			if err != nil {
				return err
			}
			for n = 0; rows.Next(); n++ {
				if _, err := rows.Values(); err != nil {
					return err
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			times = append(times, time.Since(start))
		}
		slices.Sort(times)
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t\n", view, n, ms(percentile(times, 0.5)), ms(times[len(times)-1]))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "(%d runs of each, every row fetched)\n", *runs)
	return nil
}

// encodeOptions percent-encodes the values of a readable query such as $filter=status eq 'running'.
func encodeOptions(q string) string {
	parts := strings.Split(q, "&")
	for i, p := range parts {
		k, v, _ := strings.Cut(p, "=")
		parts[i] = k + "=" + strings.ReplaceAll(url.QueryEscape(v), "+", "%20")
	}
	return strings.Join(parts, "&")
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted))*p+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
