package main

import (
	"bytes"
	"context"
	"io"
	"net/url"
	"strings"
	"testing"
)

// README: DATABASE_URL takes pgx's parameters, the pool's too; serve and migrate up still create a missing database.
func TestPoolSettingsInDatabaseURL(t *testing.T) {
	t.Parallel()
	t.Run("migrate up", func(t *testing.T) {
		t.Parallel()
		env := envOf(map[string]string{"DATABASE_URL": withQuery(t, newDatabaseURL(t), "pool_max_conn_idle_time=5m&pool_max_conns=2")})
		var out bytes.Buffer
		if err := run(context.Background(), []string{"migrate", "up"}, env, &out, io.Discard); err != nil {
			t.Fatalf("migrate up: %v", err)
		}
		if !strings.HasPrefix(out.String(), "applied 00001_") {
			t.Errorf("migrate up: %q", out.String())
		}
	})
	t.Run("serve", func(t *testing.T) {
		t.Parallel()
		s := serve(t, map[string]string{"DATABASE_URL": withQuery(t, newDatabaseURL(t), "pool_max_conn_idle_time=5m&connect_timeout=5&pool_max_conns=3")})
		if log := s.stderr.String(); !strings.Contains(log, `"created database"`) || !strings.Contains(log, `"applied migration"`) {
			t.Errorf("startup log:\n%s", log)
		}
		// The URL's pool size stands, since --db-max-conns was not given.
		if st, body := request(t, "GET", s.base+"/metrics", "", ""); st != 200 || !strings.Contains(body, "\ncaseops_db_pool_max_conns 3\n") {
			t.Errorf("GET /metrics: %d, want caseops_db_pool_max_conns 3 in:\n%s", st, body)
		}
		if err := s.stop(); err != nil {
			t.Error(err)
		}
	})
}

// withQuery adds the parameters in query to the URL u.
func withQuery(t *testing.T, u, query string) string {
	t.Helper()
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.RawQuery != "" {
		query = parsed.RawQuery + "&" + query
	}
	parsed.RawQuery = query
	return parsed.String()
}

// The pool size: --db-max-conns or its variable when given, else the URL's pool_max_conns, else 16.
func TestPoolSizeSetting(t *testing.T) {
	t.Parallel()
	withSize, plain := "postgres://h/db?pool_max_conns=3", "postgres://h/db"
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want int
	}{
		{map[string]string{"DATABASE_URL": plain}, nil, 16},
		{map[string]string{"DATABASE_URL": withSize}, nil, 0}, // 0: the pool keeps the URL's
		{map[string]string{"DATABASE_URL": withSize}, []string{"--db-max-conns", "5"}, 5},
		{map[string]string{"DATABASE_URL": withSize, "CASEOPS_DB_MAX_CONNS": "7"}, nil, 7},
		{map[string]string{"DATABASE_URL": plain, "CASEOPS_DB_MAX_CONNS": "7"}, []string{"--db-max-conns", "9"}, 9},
	} {
		cfg, _, err := parseServe(tc.args, envOf(tc.env), io.Discard, io.Discard)
		if err != nil || cfg.maxConns != tc.want {
			t.Errorf("%v %v: max conns %d (%v), want %d", tc.env, tc.args, cfg.maxConns, err, tc.want)
		}
	}
}
