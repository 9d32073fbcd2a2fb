package graphsdk

import (
	"testing"

	"github.com/caseops/caseops/cmd/caseops/servetest"
)

// server is a caseops serve process in development mode on a database of its own.
type server struct {
	url   string // http://127.0.0.1:port
	token string // the development token it printed
}

// startServer starts `caseops serve` in development mode on a fresh database and a free loopback port, as
// servetest does for every acceptance module, and waits for /readyz.
func startServer(t *testing.T) *server {
	t.Helper()
	s := servetest.Start(t, servetest.NewDatabaseURL(t, "caseops_graphsdk_"), nil)
	if s.DevToken == "" {
		t.Fatal("caseops serve listened without printing a development token")
	}
	return &server{url: s.URL, token: s.DevToken}
}
