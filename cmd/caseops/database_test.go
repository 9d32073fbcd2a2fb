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
