package main

import (
	"bytes"
	"context"
	"io"
	"maps"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The connection that creates a missing database gets every setting of DATABASE_URL but the pool's own,
// which Postgres would refuse as runtime parameters; a string without them is passed on as it is.
func TestWithoutPoolSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"postgres://postgres@127.0.0.1:5432/caseops?sslmode=disable", "postgres://postgres@127.0.0.1:5432/caseops?sslmode=disable"},
		{"postgres://postgres@127.0.0.1:5432/caseops?sslmode=disable&pool_max_conn_idle_time=5m",
			"postgres://postgres@127.0.0.1:5432/caseops?sslmode=disable"},
		{"postgresql://u:pw@db.internal/caseops?pool_max_conns=8&connect_timeout=5&pool_min_conns=1&application_name=caseops",
			"postgresql://u:pw@db.internal/caseops?connect_timeout=5&application_name=caseops"},
		{"postgres://db.internal/caseops?pool_max_conns=8", "postgres://db.internal/caseops"},
		{"postgres://db.internal?pool%5Fmax_conns=8&search_path=a%2Cb", "postgres://db.internal?search_path=a%2Cb"},
		{"postgres://h1:5432,h2:5433/caseops?pool_health_check_period=10s&target_session_attrs=any",
			"postgres://h1:5432,h2:5433/caseops?target_session_attrs=any"},
		// A password may hold what looks like a query: it ends at the '@'.
		{"postgres://u:p?x&pool_max_conns=1@db.internal/caseops?pool_max_conns=2",
			"postgres://u:p?x&pool_max_conns=1@db.internal/caseops"},
		{"host=db.internal dbname=caseops pool_max_conns=8 connect_timeout=5", "host=db.internal dbname=caseops connect_timeout=5"},
		{"  host = db.internal   pool_max_conn_lifetime = 1h dbname=caseops ", "host = db.internal dbname=caseops"},
		{`host=db.internal password='it\'s pool_max_conns=9' pool_min_conns=1 application_name=a\ b`,
			`host=db.internal password='it\'s pool_max_conns=9' application_name=a\ b`},
	} {
		got, err := withoutPoolSettings(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("withoutPoolSettings(%q)\n = %q, %v\nwant %q", tc.in, got, err, tc.want)
			continue
		}
		// What pgx reads from the result is the pool's connection settings, exactly.
		plain, err := pgx.ParseConfig(got)
		if err != nil {
			t.Errorf("%q: %v", got, err)
			continue
		}
		pooled, err := pgxpool.ParseConfig(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		want := pooled.ConnConfig
		if plain.Host != want.Host || plain.Port != want.Port || plain.Database != want.Database || plain.User != want.User ||
			plain.Password != want.Password || len(plain.Fallbacks) != len(want.Fallbacks) || !maps.Equal(plain.RuntimeParams, want.RuntimeParams) {
			t.Errorf("%q reads as %+v\nwant the pool's %+v", got, plain.Config, want.Config)
		}
	}
	if _, err := withoutPoolSettings("postgres://h/db?pool_max_conns=many"); err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Errorf("a bad pool setting: %v, want an error naming DATABASE_URL", err)
	}
}

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
		s := serve(t, map[string]string{"DATABASE_URL": withQuery(t, newDatabaseURL(t), "pool_max_conn_idle_time=5m&connect_timeout=5")})
		if log := s.stderr.String(); !strings.Contains(log, `"created database"`) || !strings.Contains(log, `"applied migration"`) {
			t.Errorf("startup log:\n%s", log)
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
