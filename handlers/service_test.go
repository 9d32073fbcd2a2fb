package handlers

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caseops/caseops/store"
)

// schemaAt answers readiness like a database at a fixed schema version, or failing with err.
type schemaAt struct {
	version int64
	err     error
}

func (s schemaAt) SchemaVersion(context.Context) (int64, error) { return s.version, s.err }

// The service endpoints answer as openapi.json documents them, ready or not.
func TestServiceEndpointsMatchOpenAPI(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		schema Schema
		path   string
		status int
	}{
		{"alive", schemaAt{}, "/healthz", 200},
		{"alive while the database is away", schemaAt{err: store.ErrUnavailable}, "/healthz", 200},
		{"ready", schemaAt{version: 1}, "/readyz", 200},
		{"schema behind", schemaAt{version: 0}, "/readyz", 503},
		{"database away", schemaAt{err: fmt.Errorf("%w: dial", store.ErrUnavailable)}, "/readyz", 503},
		{"metrics", schemaAt{version: 1}, "/metrics", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := NewServer(slog.New(slog.DiscardHandler), Config{SchemaVersion: 1, ServeMetrics: true}, nil, nil, tc.schema, nil)
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != tc.status {
				t.Fatalf("GET %s = %d, want %d: %s", tc.path, rec.Code, tc.status, body)
			}
			validateResponse(t, req, rec.Code, rec.Header(), body)
		})
	}
}
