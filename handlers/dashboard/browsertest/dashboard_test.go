package browsertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/caseops/caseops/cmd/caseops/servetest"
)

const cases = "/v1.0/security/cases/ediscoveryCases"

// liveWithin is how soon a change made through the API must show on an open page.
const liveWithin = time.Second

// TestDashboard drives the dashboard in headless Chromium against a real caseops serve and Postgres: sign-in,
// the seeded lists and their filters and paging, live progress, the history page, the overview, a read-only
// token, bad tokens, a database outage and the development sign-in link.
func TestDashboard(t *testing.T) {
	db := servetest.NewDatabaseURL(t, "caseops_browser_")
	proxied, proxy := viaProxy(t, db)
	secret := randomHex(32)
	srv := servetest.Start(t, proxied, []string{"CASEOPS_JWT_SECRET=" + secret})
	rw := mint(t, secret, "--tenant", "contoso", "--user-id", "ada", "--user-name", "Ada Lovelace")
	ro := mint(t, secret, "--tenant", "contoso", "--scopes", "eDiscovery.Read.All", "--user-id", "grace", "--user-name", "Grace Hopper")
	api := client{t: t, base: srv.URL, token: rw}
	seed := seedOperations(t, api, db)
	shots := screenshotDir(t)
	b := newBrowser(t)

	t.Run("cases, operations, live changes and history", func(t *testing.T) {
		tab := b.open(t)
		tab.do(chromedp.Navigate(srv.URL + "/"))
		tab.waitJS(`location.hash === '#/signin' && !!document.querySelector('#signin')`, 10*time.Second)
		tab.signIn(rw)
		tab.waitJS(`!!document.querySelector('#cases') && !!document.querySelector('#chart-statuses svg')`, 10*time.Second)
		if got := evalJS[string](tab, `[...document.querySelectorAll('#cases a.case-link')].map(a => a.textContent).sort().join('|')`); got != "Contoso v. Fabrikam|Default case|Northwind inquiry" {
			t.Errorf("cases listed: %q", got)
		}
		// The token stays in this tab's sessionStorage: never in the URL or a cookie.
		if got := evalJS[string](tab, `sessionStorage.getItem('caseops.token')`); got != rw {
			t.Error("sessionStorage does not hold the token signed in with")
		}
		if got := evalJS[string](tab, `document.cookie + '|' + location.href`); strings.Contains(got, rw[:40]) || !strings.HasPrefix(got, "|") {
			t.Errorf("cookie|URL = %q", got)
		}
		if got := evalJS[string](tab, `document.querySelector('#who').textContent`); got != "Ada Lovelace · tenant contoso" {
			t.Errorf("header: %q", got)
		}
		var overview struct {
			Statuses map[string]int `json:"statuses"`
			Failures []struct {
				Code  *int `json:"code"`
				Count int  `json:"count"`
			} `json:"failures"`
		}
		api.do("GET", "/beta/tagOperations/overview", nil, 200, &overview)
		var want []string
		for _, s := range []string{"notStarted", "running", "succeeded", "partiallySucceeded", "failed", "submissionFailed"} {
			want = append(want, fmt.Sprintf("%s %d", s, overview.Statuses[s]))
		}
		tab.waitJS(fmt.Sprintf(`document.querySelector('#chart-statuses svg').getAttribute('aria-label') === %q`, strings.Join(want, ", ")), 5*time.Second)
		want = want[:0]
		for _, f := range overview.Failures {
			want = append(want, fmt.Sprintf("code %d %d", *f.Code, f.Count))
		}
		if got := evalJS[string](tab, `document.querySelector('#chart-failures svg').getAttribute('aria-label')`); got != strings.Join(want, ", ") {
			t.Errorf("failures chart %q, want %q", got, strings.Join(want, ", "))
		}
		tab.screenshot(shots, "cases.png")

		// The case: its operations newest first, 25 to a page, as the API lists them.
		tab.do(chromedp.Click(chromedp.CSS(`a[href="#/cases/` + seed.caseID + `"]`)))
		tab.waitJS(`document.querySelectorAll('#operations tr').length === 25`, 10*time.Second)
		base := cases + "/" + seed.caseID + "/operations"
		first := api.ids(base + "?$top=25")
		if got := tab.rowIDs(); !slices.Equal(got, first) {
			t.Errorf("first page rows %v, want %v", got, first)
		}
		tab.waitJS(`document.querySelector('#live.on') !== null`, 10*time.Second)
		tab.do(chromedp.Click(chromedp.CSS(`#next-page`)))
		second := api.ids(base + "?$top=25&$skiptoken=" + api.skiptoken(base+"?$top=25"))
		tab.waitJS(fmt.Sprintf(`document.querySelectorAll('#operations tr').length === %d`, len(second)), 5*time.Second)
		if got := tab.rowIDs(); !slices.Equal(got, second) {
			t.Errorf("second page rows %v, want %v", got, second)
		}

		// Filters, as the API's $filter.
		tab.openCase(seed.caseID)
		tab.choose("#filter-status", "failed")
		failed := api.ids(base + "?$top=25&$filter=status%20eq%20'failed'")
		tab.waitJS(fmt.Sprintf(`location.hash.endsWith('?status=failed') && document.querySelectorAll('#operations tr').length === %d`, len(failed)), 5*time.Second)
		if got := tab.rowIDs(); !slices.Equal(got, failed) {
			t.Errorf("status=failed rows %v, want %v", got, failed)
		}
		tab.choose("#filter-type", "ediscoveryExportOperation")
		exports := api.ids(base + "?$top=25&$filter=" + strings.ReplaceAll("status eq 'failed' and isof('microsoft.graph.security.ediscoveryExportOperation')", " ", "%20"))
		tab.waitJS(fmt.Sprintf(`location.hash.endsWith('?status=failed&type=ediscoveryExportOperation') && document.querySelectorAll('#operations tr').length === %d`, len(exports)), 5*time.Second)
		if got := tab.rowIDs(); !slices.Equal(got, exports) || len(exports) == 0 {
			t.Errorf("failed exports %v, want %v", got, exports)
		}
		tab.choose("#filter-action", "holdUpdate")
		tab.waitJS(`document.querySelector('#no-operations') !== null && document.querySelector('#no-operations').textContent === 'No operation matches these filters.'`, 5*time.Second)

		// Live: a worker's PATCH moves the progress bar, then the status, within a second, without a reload.
		tab.openCase(seed.caseID)
		tab.waitJS(`document.querySelector('#live.on') !== null`, 10*time.Second)
		op := seed.running
		bar := fmt.Sprintf(`document.querySelector('tr[data-id="%s"] [role=progressbar]').getAttribute('aria-valuenow')`, op)
		status := fmt.Sprintf(`document.querySelector('tr[data-id="%s"] td.status').textContent`, op)
		if got := evalJS[string](tab, bar); got != "10" {
			t.Fatalf("progress before the PATCH: %q", got)
		}
		if !evalJS[bool](tab, fmt.Sprintf(`document.querySelector('tr[data-id="%s"] .mark-failed') !== null`, op)) {
			t.Error("a read-write token sees no Mark failed on a running operation")
		}
		api.do("PATCH", base+"/"+op, map[string]any{"percentProgress": 73}, 200, nil)
		tab.waitJS(bar+` === '73'`, liveWithin)
		api.do("PATCH", base+"/"+op, map[string]any{"percentProgress": 100, "status": "succeeded"}, 200, nil)
		tab.waitJS(status+` === 'succeeded' && `+bar+` === '100'`, liveWithin)
		var created struct{ ID string }
		api.do("POST", base, map[string]any{"@odata.type": "#microsoft.graph.security.ediscoveryHoldOperation", "status": "running",
			"action": "holdUpdate", "percentProgress": 5}, 201, &created)
		tab.waitJS(fmt.Sprintf(`document.querySelector('#operations tr').dataset.id === %q`, created.ID), liveWithin)

		tab.screenshot(shots, "case.png")

		// A running operation that has not reported for over five minutes is marked stalled, and no other is.
		tab.choose("#filter-status", "running")
		running := api.ids(base + "?$top=25&$filter=status%20eq%20'running'")
		tab.waitJS(fmt.Sprintf(`location.hash.endsWith('?status=running') && document.querySelectorAll('#operations tr').length === %d`, len(running)), 5*time.Second)
		if got := evalJS[[]string](tab, `[...document.querySelectorAll('#operations tr.stalled')].map(r => r.dataset.id)`); !slices.Equal(got, []string{seed.stalled}) {
			t.Errorf("rows marked stalled %v, want only %s", got, seed.stalled)
		}
		if got := evalJS[string](tab, fmt.Sprintf(`document.querySelector('tr[data-id="%s"] td.status').textContent`, seed.stalled)); got != "running stalled 1h 5m" {
			t.Errorf("the stalled operation's status cell: %q", got)
		}

		// One operation's page: its whole history, as the API has it.
		tab.openCase(seed.caseID)
		tab.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-id="%s"] a.op-link`, op))))
		var history struct {
			Value []struct {
				Kind      string                     `json:"kind"`
				RequestID string                     `json:"requestId"`
				Changes   map[string]json.RawMessage `json:"changes"`
			} `json:"value"`
		}
		api.do("GET", base+"/"+op+"/history", nil, 200, &history)
		if len(history.Value) != 3 {
			t.Fatalf("the API's history has %d events, want 3", len(history.Value))
		}
		tab.waitJS(`document.querySelectorAll('#history tbody tr').length === 3`, 5*time.Second)
		rows := evalJS[[][]string](tab, `[...document.querySelectorAll('#history tbody tr')].map(r => [r.cells[1].textContent, r.cells[2].textContent, r.cells[4].textContent, ...[...r.cells[3].querySelectorAll('li')].map(li => li.textContent).sort()])`)
		var wantRows [][]string
		for _, e := range history.Value {
			var changes []string
			for prop, ch := range e.Changes {
				var oldNew struct{ Old, New json.RawMessage }
				if err := json.Unmarshal(ch, &oldNew); err != nil {
					t.Fatal(err)
				}
				changes = append(changes, prop+" "+shown(oldNew.Old)+" → "+shown(oldNew.New))
			}
			slices.Sort(changes)
			wantRows = append(wantRows, append([]string{e.Kind, "Ada Lovelace", e.RequestID}, changes...))
		}
		if fmt.Sprintf("%q", rows) != fmt.Sprintf("%q", wantRows) {
			t.Errorf("history rows\n%q\nwant\n%q", rows, wantRows)
		}
		if got := [][]string{wantRows[0][:1], wantRows[1][3:], wantRows[2][4:]}; fmt.Sprint(got) != "[[created] [percentProgress 10 → 73] [percentProgress 73 → 100 status running → succeeded]]" {
			t.Errorf("the API's history: %q", wantRows)
		}
		if got := evalJS[string](tab, `document.querySelector('#op-status').textContent`); got != "succeeded" {
			t.Errorf("operation page status %q", got)
		}
		// It follows the operation live too.
		api.do("PATCH", base+"/"+op, map[string]any{"resultInfo": map[string]any{"code": 0, "message": "tagged 1200 items"}}, 200, nil)
		tab.waitJS(`document.querySelectorAll('#history tbody tr').length === 4`, liveWithin*2)
		tab.screenshot(shots, "operation.png")
		tab.noConsoleErrors()
	})

	t.Run("read-only token sees no write controls", func(t *testing.T) {
		tab := b.open(t)
		tab.do(chromedp.Navigate(srv.URL + "/"))
		tab.signIn(ro)
		tab.waitJS(`!!document.querySelector('#cases')`, 10*time.Second)
		if got := evalJS[string](tab, `document.querySelector('#who').textContent`); got != "Grace Hopper · tenant contosoread-only" {
			t.Errorf("header: %q", got)
		}
		tab.do(chromedp.Navigate(srv.URL + "/#/cases/" + seed.caseID))
		tab.waitJS(`document.querySelectorAll('#operations tr').length === 25`, 10*time.Second)
		if n := evalJS[int](tab, `document.querySelectorAll('.mark-failed, button.small').length`); n != 0 {
			t.Errorf("a read-only token sees %d write controls", n)
		}
		tab.do(chromedp.Navigate(srv.URL + "/#/cases/" + seed.caseID + "/operations/" + seed.stalled))
		tab.waitJS(`document.querySelectorAll('#history tbody tr').length === 1`, 10*time.Second)
		if n := evalJS[int](tab, `document.querySelectorAll('button').length - document.querySelectorAll('#signout').length`); n != 0 {
			t.Errorf("a read-only token sees %d buttons on an operation", n)
		}
		tab.noConsoleErrors()
	})

	t.Run("bad tokens are refused with the reason", func(t *testing.T) {
		tab := b.open(t)
		tab.do(chromedp.Navigate(srv.URL + "/"))
		for _, bad := range []string{"not-a-token", rw[:len(rw)-4] + "AAAA"} {
			want := api.withToken(bad).errorMessage(cases)
			tab.signIn(bad)
			tab.waitJS(fmt.Sprintf(`document.querySelector('#signin-message').textContent === %q`, want), 5*time.Second)
			if evalJS[bool](tab, `sessionStorage.getItem('caseops.token') !== null || location.hash !== '#/signin'`) {
				t.Errorf("a refused token %q was kept", bad)
			}
		}
		// A token refused later (here, replaced by a bad one) sends the user back to sign-in with the reason.
		tab.signIn(rw)
		tab.waitJS(`!!document.querySelector('#cases')`, 10*time.Second)
		tab.do(chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem('caseops.token', 'expired'); location.hash = '#/cases/` + seed.caseID + `'; undefined`))
		want := api.withToken("expired").errorMessage(cases)
		tab.waitJS(fmt.Sprintf(`location.hash === '#/signin' && document.querySelector('#signin-message').textContent === %q`, want), 5*time.Second)
		tab.screenshot(shots, "signin.png")
		tab.noConsoleErrors()
	})

	t.Run("database outage shows a message and recovers by itself", func(t *testing.T) {
		tab := b.open(t)
		tab.do(chromedp.Navigate(srv.URL + "/"))
		tab.signIn(rw)
		tab.waitJS(`!!document.querySelector('#cases')`, 10*time.Second)
		proxy.Cut()
		tab.do(chromedp.Navigate(srv.URL + "/#/cases/" + seed.caseID))
		tab.waitJS(`!document.querySelector('#outage').hidden && document.querySelector('#outage').textContent.startsWith('caseops is unavailable. ')`, 30*time.Second)
		msg := evalJS[string](tab, `document.querySelector('#outage').textContent`)
		if !strings.Contains(msg, "database") || !strings.HasSuffix(msg, "This page keeps trying and recovers by itself.") {
			t.Errorf("outage message: %q", msg)
		}
		tab.screenshot(shots, "outage.png")
		proxy.Restore()
		tab.waitJS(`document.querySelector('#outage').hidden && document.querySelectorAll('#operations tr').length === 25`, 30*time.Second)
		tab.noConsoleErrors()
	})

	t.Run("development sign-in link works once", func(t *testing.T) {
		dev := servetest.Start(t, servetest.NewDatabaseURL(t, "caseops_browser_"), nil)
		if dev.SignInLink == "" {
			t.Fatal("serve in development mode printed no sign-in link")
		}
		tab := b.open(t)
		tab.do(chromedp.Navigate(dev.SignInLink))
		tab.waitJS(`location.hash === '#/' && !!document.querySelector('#cases, #view p.muted') && !!sessionStorage.getItem('caseops.token')`, 10*time.Second)
		if got := evalJS[string](tab, `location.href`); strings.Contains(got, "code=") {
			t.Errorf("the sign-in code stays in the address bar: %s", got)
		}
		// The tab's blank page and the dashboard: the sign-in replaced the link's entry instead of adding one.
		if got := evalJS[int](tab, `history.length`); got != 2 {
			t.Errorf("history holds %d entries; the link's should have been replaced", got)
		}
		if got := evalJS[string](tab, `document.querySelector('#who').textContent`); got != "Development user · tenant dev" {
			t.Errorf("header: %q", got)
		}
		again := b.open(t)
		again.do(chromedp.Navigate(dev.SignInLink))
		again.waitJS(`document.querySelector('#signin-message') !== null && document.querySelector('#signin-message').textContent.startsWith('The sign-in link did not work: The sign-in code is not valid')`, 10*time.Second)
		if evalJS[bool](again, `sessionStorage.getItem('caseops.token') !== null`) {
			t.Error("a used sign-in code signed a second tab in")
		}
		tab.noConsoleErrors()
		again.noConsoleErrors()
	})
}

// shown is a history value as the page shows it: ∅ for null, a string as it is, anything else as JSON.
func shown(raw json.RawMessage) string {
	var s string
	if string(raw) == "null" || raw == nil {
		return "∅"
	}
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var b bytes.Buffer
	json.Compact(&b, raw)
	return b.String()
}

// seeded is what seedOperations made.
type seeded struct {
	caseID  string
	running string // a running operation at 10% on the first page
	stalled string // a running operation that last reported an hour ago
}

// seedOperations fills a case with 40 operations of every status and several types, one of them stalled
// (written in SQL, since only SQL can backdate it), and two more cases.
func seedOperations(t *testing.T, api client, databaseURL string) seeded {
	var c struct{ ID string }
	api.do("POST", cases, map[string]any{"displayName": "Contoso v. Fabrikam"}, 201, &c)
	api.do("POST", cases, map[string]any{"displayName": "Northwind inquiry"}, 201, nil)
	api.do("POST", "/beta/tagOperations", map[string]any{"status": "running", "action": "applyTags"}, 201, nil) // the default case
	s := seeded{caseID: c.ID}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	err = conn.QueryRow(ctx, `INSERT INTO case_operations (tenant_id, id, status, action, percent_progress, odata_type, case_id,
		created_date_time, last_modified_date_time, created_by)
		VALUES ('contoso', gen_random_uuid(), 'running', 'index', 40, '#microsoft.graph.security.ediscoveryIndexOperation', $1,
		now() - interval '2 hours', now() - interval '1 hour' - interval '5 minutes', '{"application": {"id": "indexer", "displayName": "Indexer"}}')
		RETURNING id::text`, c.ID).Scan(&s.stalled)
	if err != nil {
		t.Fatal(err)
	}

	types := []struct{ odataType, action string }{
		{"ediscoveryTagOperation", "applyTags"}, {"ediscoveryExportOperation", "exportResult"},
		{"ediscoveryEstimateOperation", "estimateStatistics"}, {"ediscoveryIndexOperation", "index"},
		{"ediscoveryHoldOperation", "holdUpdate"},
	}
	statuses := []string{"running", "succeeded", "failed", "notStarted", "partiallySucceeded", "submissionFailed"}
	for i := range 39 {
		ty, st := types[i%len(types)], statuses[i%len(statuses)]
		body := map[string]any{"@odata.type": "#microsoft.graph.security." + ty.odataType, "status": st, "action": ty.action,
			"percentProgress": 10}
		if st == "failed" || st == "submissionFailed" {
			body["resultInfo"] = map[string]any{"code": 500 + i%2, "message": "the source is unreachable"}
		}
		var op struct{ ID string }
		api.do("POST", cases+"/"+c.ID+"/operations", body, 201, &op)
		if st == "running" {
			s.running = op.ID // the last one made: the newest running operation
		}
	}
	return s
}

// ids lists the operation ids of one page of the API.
func (c client) ids(path string) []string {
	c.t.Helper()
	var page struct{ Value []struct{ ID string } }
	c.do("GET", path, nil, 200, &page)
	ids := make([]string, len(page.Value))
	for i, op := range page.Value {
		ids[i] = op.ID
	}
	return ids
}

// skiptoken is the $skiptoken of the next page of path.
func (c client) skiptoken(path string) string {
	c.t.Helper()
	var page struct {
		NextLink string `json:"@odata.nextLink"`
	}
	c.do("GET", path, nil, 200, &page)
	_, tok, ok := strings.Cut(page.NextLink, "$skiptoken=")
	if !ok {
		c.t.Fatalf("%s has no next page", path)
	}
	return tok
}

func (c client) withToken(token string) client { c.token = token; return c }

// errorMessage is the message of the 401 path answers.
func (c client) errorMessage(path string) string {
	c.t.Helper()
	var e struct{ Error struct{ Message string } }
	c.do("GET", path, nil, 401, &e)
	return e.Error.Message
}

// mint makes a bearer token with caseops token.
func mint(t *testing.T, secret string, args ...string) string {
	t.Helper()
	out, err := servetest.Command(t, []string{"CASEOPS_JWT_SECRET=" + secret}, append([]string{"token"}, args...)...).Output()
	if err != nil {
		t.Fatalf("caseops token: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// screenshotDir is where the views' screenshots go: $CASEOPS_SCREENSHOTS, or a new temporary folder.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("CASEOPS_SCREENSHOTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "caseops-dashboard-"); err != nil {
			t.Fatal(err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// browser is one headless Chromium; each tab has its own sessionStorage.
type browser struct {
	ctx context.Context
}

// chromiumPaths are where Debian and others install the browser; $CASEOPS_CHROMIUM comes first.
var chromiumPaths = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := os.Getenv("CASEOPS_CHROMIUM")
	for _, name := range chromiumPaths {
		if path != "" {
			break
		}
		path, _ = exec.LookPath(name)
	}
	if path == "" {
		t.Fatal("the dashboard tests need Chromium: apt-get install -y chromium, or set CASEOPS_CHROMIUM to its path")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(1360, 900), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	return &browser{ctx: ctx}
}

// tab is one browser tab, which records every uncaught exception and console error of its pages.
type tab struct {
	t      *testing.T
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

func (b *browser) open(t *testing.T) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	t.Cleanup(cancel)
	tb := &tab{t: t, ctx: ctx}
	if err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg = "exception: " + ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeWarning {
				return
			}
			msg = "console." + string(ev.Type) + ":"
			for _, a := range ev.Args {
				msg += " " + string(a.Value) + a.Description
			}
		default:
			return
		}
		tb.mu.Lock()
		tb.errors = append(tb.errors, msg)
		tb.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	return tb
}

// do runs steps, failing the test on an error or after 20 s.
func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.t.Fatalf("browser: %v (page errors: %v)", err, tb.pageErrors())
	}
}

// waitJS waits until the expression is true on the page.
func (tb *tab) waitJS(expression string, timeout time.Duration) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, timeout+5*time.Second)
	defer cancel()
	guarded := `(() => { try { return ` + expression + ` } catch { return false } })()`
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](guarded, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		view, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + '\n' + document.querySelector('#view').innerText + '\n' + document.querySelectorAll('#operations tr').length`))
		tb.t.Fatalf("waited %s for %s: %v\npage: %s\npage errors: %v", timeout, expression, err, view, tb.pageErrors())
	}
}

func evalJS[T any](tb *tab, expression string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expression))
	if err != nil {
		tb.t.Fatalf("evaluate %s: %v", expression, err)
	}
	return v
}

// signIn pastes token into the sign-in form and submits it.
func (tb *tab) signIn(token string) {
	tb.t.Helper()
	tb.waitJS(`document.querySelector('#signin') !== null`, 10*time.Second)
	tb.do(chromedp.SetValue(chromedp.CSS(`#token`), token), chromedp.Click(chromedp.CSS(`#signin button[type=submit]`)))
}

// openCase goes to the list of cases and opens one, which shows its first page of operations.
func (tb *tab) openCase(id string) {
	tb.t.Helper()
	tb.do(chromedp.Click(chromedp.CSS(`a.brand`)))
	tb.waitJS(`!!document.querySelector('#cases')`, 10*time.Second)
	tb.do(chromedp.Click(chromedp.CSS(`a[href="#/cases/` + id + `"]`)))
	tb.waitJS(`document.querySelectorAll('#operations tr').length === 25`, 10*time.Second)
}

// choose picks value in a select, as a user does.
func (tb *tab) choose(selector, value string) {
	tb.t.Helper()
	tb.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const s = document.querySelector(%q); s.value = %q; s.dispatchEvent(new Event('change')); })()`, selector, value)))
}

func (tb *tab) rowIDs() []string {
	tb.t.Helper()
	return evalJS[[]string](tb, `[...document.querySelectorAll('#operations tr')].map(r => r.dataset.id)`)
}

func (tb *tab) screenshot(dir, name string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}

func (tb *tab) pageErrors() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return slices.Clone(tb.errors)
}

func (tb *tab) noConsoleErrors() {
	tb.t.Helper()
	if errs := tb.pageErrors(); len(errs) > 0 {
		tb.t.Errorf("the page logged %d errors: %q", len(errs), errs)
	}
}
