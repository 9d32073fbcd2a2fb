package handlers_test

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caseops/caseops/handlers"
	"github.com/caseops/caseops/handlers/dashboard"
	"github.com/caseops/caseops/store"
	"github.com/caseops/caseops/store/storetest"
)

// noToken is the header pair that sends a request without Authorization.
var noToken = []string{"Authorization", ""}

// The page's files need no token, and each comes with its type, the headers that keep the page to itself and a
// strong ETag that a revalidation with If-None-Match answers 304.
func TestDashboardAssets(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	for _, c := range []struct{ path, file, contentType string }{
		{"/", "index.html", "text/html; charset=utf-8"},
		{"/dashboard/app.js", "app.js", "text/javascript; charset=utf-8"},
		{"/dashboard/app.css", "app.css", "text/css; charset=utf-8"},
	} {
		asset := dashboard.Assets[c.file]
		r := s.do("GET", c.path, "", noToken...)
		want := map[string]string{
			"Content-Type":            c.contentType,
			"Content-Security-Policy": dashboard.ContentSecurityPolicy,
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
			"Cache-Control":           "no-cache",
			"ETag":                    asset.ETag,
		}
		if r.status != 200 || !bytes.Equal(r.body, asset.Body) || len(asset.Body) == 0 {
			t.Errorf("GET %s: %d, %d bytes, want 200 and the %d bytes of %s", c.path, r.status, len(r.body), len(asset.Body), c.file)
		}
		for name, value := range want {
			if got := r.header.Get(name); got != value {
				t.Errorf("GET %s: %s %q, want %q", c.path, name, got, value)
			}
		}
		if !strings.HasPrefix(asset.ETag, `"`) || !strings.HasSuffix(asset.ETag, `"`) {
			t.Errorf("%s: ETag %s is not a strong tag", c.file, asset.ETag)
		}

		r = s.do("GET", c.path, "", "Authorization", "", "If-None-Match", asset.ETag)
		if r.status != http.StatusNotModified || len(r.body) != 0 || r.header.Get("ETag") != asset.ETag {
			t.Errorf("GET %s If-None-Match: %d %q, %d bytes", c.path, r.status, r.header.Get("ETag"), len(r.body))
		}
		r = s.do("GET", c.path, "", "Authorization", "", "If-None-Match", `"stale"`)
		if r.status != 200 || !bytes.Equal(r.body, asset.Body) {
			t.Errorf("GET %s with a stale If-None-Match: %d, %d bytes", c.path, r.status, len(r.body))
		}
		if r := s.do("HEAD", c.path, "", noToken...); r.status != 200 || len(r.body) != 0 || r.header.Get("ETag") != asset.ETag {
			t.Errorf("HEAD %s: %d, %d bytes", c.path, r.status, len(r.body))
		}
	}
	if dashboard.Assets["index.html"].ETag == dashboard.Assets["app.js"].ETag {
		t.Error("two files share an ETag")
	}

	// A file the page does not have is a 404 in the Graph shape; index.html is served at / only.
	for _, file := range []string{"nope.js", "index.html", "APP.JS", "..%2Fdashboard.go"} {
		assertWholeError(t, s.do("GET", "/dashboard/"+file, "", noToken...), 404, "notFound", "",
			"The dashboard has no file '"+file+"'.")
	}
}

// fakeClock is a clock a test moves by hand; the server reads it from its own goroutines.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newSignInServer serves the API in development mode: POST /dashboard/signin exchanges the returned code for
// token, on clock.
func newSignInServer(t *testing.T, token string, clock *fakeClock) (*testServer, string) {
	t.Helper()
	signIn, code, err := dashboard.NewSignIn(token, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	pool := storetest.NewPool(t)
	return newServerWith(t, store.New(pool), pool, handlers.Config{SignIn: signIn}), code
}

const (
	badSignInCode = "The sign-in code is not valid: a code works once and for 10 minutes. " +
		"Sign in with the development token serve printed, or restart serve for a new link."
	badSignInBody = `The body must be {"code": "..."} with the code of the sign-in link caseops serve printed.`
)

// The sign-in code exchanges for the development token once, within its ten minutes; a wrong guess does not use
// it up, and a body that is not {"code": "..."} is a 400.
func TestDashboardSignIn(t *testing.T) {
	t.Parallel()

	t.Run("once", func(t *testing.T) {
		t.Parallel()
		s, code := newSignInServer(t, "the-development-token", &fakeClock{now: time.Now()})
		for _, body := range []string{
			`not json`, `{}`, `{"code": ""}`, `{"code": 5}`, `["` + code + `"]`,
			`{"code": "` + code + `"` + strings.Repeat(" ", 1024) + `}`, // past the 1 KiB a code needs
		} {
			assertWholeError(t, s.do("POST", "/dashboard/signin", body, noToken...), 400, "badRequest", "code", badSignInBody)
		}
		assertWholeError(t, s.do("POST", "/dashboard/signin?code="+code, `{"code": "`+code+`"}`, noToken...), 400, "badRequest", "code",
			"The query option 'code' is not supported on this request, which takes no query options.")
		for _, wrong := range []string{"wrong", strings.ToUpper(code), code + "x", code[1:]} {
			assertWholeError(t, s.do("POST", "/dashboard/signin", `{"code": "`+wrong+`"}`, noToken...), 400, "badRequest", "code", badSignInCode)
		}

		r := s.do("POST", "/dashboard/signin", `{"code": "`+code+`"}`, noToken...)
		assertJSON(t, r, 200, `{"token": "the-development-token"}`)
		if cc := r.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", cc)
		}
		assertWholeError(t, s.do("POST", "/dashboard/signin", `{"code": "`+code+`"}`, noToken...), 400, "badRequest", "code", badSignInCode)
	})

	t.Run("expired", func(t *testing.T) {
		t.Parallel()
		clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
		s, code := newSignInServer(t, "the-development-token", clock)
		clock.advance(dashboard.SignInTTL)
		assertWholeError(t, s.do("POST", "/dashboard/signin", `{"code": "`+code+`"}`, noToken...), 400, "badRequest", "code", badSignInCode)

		s, code = newSignInServer(t, "the-development-token", clock)
		clock.advance(dashboard.SignInTTL - time.Second)
		assertJSON(t, s.do("POST", "/dashboard/signin", `{"code": "`+code+`"}`, noToken...), 200, `{"token": "the-development-token"}`)
	})

	t.Run("raced", func(t *testing.T) {
		t.Parallel()
		s, code := newSignInServer(t, "the-development-token", &fakeClock{now: time.Now()})
		statuses := make(chan int, 8)
		var wg sync.WaitGroup
		for range cap(statuses) {
			wg.Go(func() { statuses <- s.do("POST", "/dashboard/signin", `{"code": "`+code+`"}`, noToken...).status })
		}
		wg.Wait()
		close(statuses)
		counts := map[int]int{}
		for status := range statuses {
			counts[status]++
		}
		if counts[200] != 1 || counts[400] != cap(statuses)-1 {
			t.Errorf("%d concurrent exchanges of one code answered %v, want one 200", cap(statuses), counts)
		}
	})
}
