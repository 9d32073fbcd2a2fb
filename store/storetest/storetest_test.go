package storetest_test

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/caseops/caseops/store/storetest"
)

// logRecorder is a test that keeps what is logged to it.
type logRecorder struct {
	testing.TB
	mu    sync.Mutex
	lines []string
}

func (r *logRecorder) Logf(format string, args ...any) {
	r.mu.Lock()
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
	r.mu.Unlock()
	r.TB.Logf(format, args...)
}

// pgtestdb logs the URL of every database it makes, and a benchmark prints its log even when it passes
// (--- BENCH): the URL is logged without the password of the role it connects as.
func TestNewDatabaseLogsItsURLWithoutThePassword(t *testing.T) {
	t.Parallel()
	rec := &logRecorder{TB: t}
	dbURL := storetest.NewDatabase(rec)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	password, ok := u.User.Password()
	if !ok || password == "" {
		t.Fatalf("the test database's URL %q has no password to hide", dbURL)
	}
	want := []string{"testdbconf: " + strings.Replace(dbURL, ":"+password+"@", ":xxxxx@", 1)}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if !slices.Equal(rec.lines, want) {
		t.Errorf("logged %q, want %q", rec.lines, want)
	}
}
