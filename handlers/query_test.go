package handlers_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
)

// fixtureOp is one operation a test writes straight into the table, so that it controls every value,
// createdDateTime included. Empty strings and negative numbers mean null.
type fixtureOp struct {
	n          int // the id is opID(n)
	status     string
	action     string
	progress   int
	created    string
	completed  string
	userID     string
	appID      string
	resultCode int
}

func opID(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

// fixtureETag is the ETag of fixture operation n, never changed since its insert.
func fixtureETag(t *testing.T, n int) string {
	for _, o := range fixture {
		if o.n == n {
			return etagOf(t, o.created, 1)
		}
	}
	t.Fatalf("no fixture operation %d", n)
	return ""
}

// insert writes ops for tenant as an analyst's INSERT would; the database records their creation events.
func (s *testServer) insert(tenant string, ops ...fixtureOp) {
	s.t.Helper()
	batch := &pgx.Batch{}
	for _, o := range ops {
		nullInt := func(n int) any {
			if n < 0 {
				return nil
			}
			return n
		}
		nullStr := func(s string) any {
			if s == "" {
				return nil
			}
			return s
		}
		batch.Queue(`INSERT INTO case_operations (tenant_id, id, status, action, percent_progress, created_date_time,
				completed_date_time, last_modified_date_time, created_by, result_code)
			VALUES ($1, $2, $3, $4, $5, $6::timestamptz, $7::timestamptz, coalesce($7::timestamptz, $6::timestamptz), CASE WHEN $8::text IS NULL AND $9::text IS NULL THEN NULL
				ELSE jsonb_strip_nulls(jsonb_build_object('user', CASE WHEN $8 IS NOT NULL THEN jsonb_build_object('id', $8) END,
					'application', CASE WHEN $9 IS NOT NULL THEN jsonb_build_object('id', $9) END)) END, $10)`,
			tenant, opID(o.n), o.status, o.action, nullInt(o.progress), o.created, nullStr(o.completed),
			nullStr(o.userID), nullStr(o.appID), nullInt(o.resultCode))
	}
	if err := s.pool.SendBatch(context.Background(), batch).Close(); err != nil {
		s.t.Fatalf("insert fixture: %v", err)
	}
}

// fixture is ten operations of tenant dev with every kind of value, and one of another tenant.
var fixture = []fixtureOp{
	{1, "notStarted", "applyTags", -1, "2026-01-01T00:00:00Z", "", "u-ada", "", -1},
	{2, "running", "applyTags", 10, "2026-01-02T00:00:00Z", "", "u-ada", "", -1},
	{3, "running", "index", 50, "2026-01-03T00:00:00Z", "", "", "app-1", -1},
	{4, "succeeded", "applyTags", 100, "2026-01-04T00:00:00Z", "2026-01-05T00:00:00Z", "u-bob", "", 0},
	{5, "failed", "contentExport", 30, "2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z", "u-bob", "", 500},
	{6, "partiallySucceeded", "addToReviewSet", 90, "2026-01-06T00:00:00Z", "2026-01-07T00:00:00Z", "", "app-1", 207},
	{7, "submissionFailed", "estimateStatistics", -1, "2026-01-07T00:00:00Z", "2026-01-07T00:00:01Z", "u-o'neil", "", 400},
	{8, "succeeded", "convertToPdf", 100, "2026-01-08T00:00:00Z", "2026-01-09T00:00:00Z", "", "", 0},
	{9, "failed", "applyTags", -1, "2026-01-09T00:00:00Z", "2026-01-09T12:00:00Z", "u-ada", "app-1", 503},
	{10, "running", "applyTags", 0, "2026-01-10T00:00:00Z", "", "u-ada", "", -1},
}

func newFixtureServer(t *testing.T) *testServer {
	s := newTestServer(t)
	s.insert("dev", fixture...)
	s.insert("other", fixtureOp{11, "running", "applyTags", 10, "2026-01-05T00:00:00Z", "", "u-ada", "", -1})
	return s
}

// list GETs the collection with the query (unencoded option values are encoded here) and checks the whole
// answer: exactly @odata.context, value and, when there is more, @odata.nextLink; every entity equal to
// what GET returns for it. It returns the ids in order and the body.
func (s *testServer) list(t *testing.T, query string) ([]int, map[string]any) {
	t.Helper()
	r := s.do("GET", "/beta/tagOperations?"+encodeQuery(query), "")
	if r.status != 200 {
		t.Fatalf("%s: %d %s", query, r.status, r.body)
	}
	body := r.json(t)
	for k := range body {
		if k != "@odata.context" && k != "value" && k != "@odata.nextLink" && k != "@odata.count" {
			t.Errorf("%s: unexpected member %q", query, k)
		}
	}
	var ids []int
	for _, v := range body["value"].([]any) {
		e := v.(map[string]any)
		var n int
		fmt.Sscanf(e["id"].(string)[24:], "%d", &n)
		ids = append(ids, n)
		if strings.Contains(query, "select=") {
			continue
		}
		one := s.do("GET", "/beta/tagOperations/"+e["id"].(string), "").json(t)
		delete(one, "@odata.context")
		if !reflect.DeepEqual(normalize(one), normalize(e)) {
			t.Errorf("%s: listed entity differs from GET:\n got %s\nwant %s", query, mustJSON(e), mustJSON(one))
		}
	}
	return ids, body
}

// encodeQuery percent-encodes the values of a readable query such as $filter=status eq 'running'&$top=2.
func encodeQuery(q string) string {
	if q == "" {
		return ""
	}
	var parts []string
	for _, p := range strings.Split(q, "&") {
		k, v, _ := strings.Cut(p, "=")
		parts = append(parts, k+"="+strings.ReplaceAll(url.QueryEscape(v), "+", "%20"))
	}
	return strings.Join(parts, "&")
}

func TestFilterOperators(t *testing.T) {
	t.Parallel()
	s := newFixtureServer(t)
	all := []int{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}
	for _, c := range []struct {
		filter string
		want   []int
	}{
		{"status eq 'running'", []int{10, 3, 2}},
		{"status ne 'running'", []int{9, 8, 7, 6, 5, 4, 1}},
		{"status gt 'running'", []int{9, 8, 6, 5, 4}}, // enum members compare in Graph's order
		{"status le 'submissionFailed'", []int{7, 1}},
		{"action eq 'applyTags'", []int{10, 9, 4, 2, 1}},
		{"percentProgress eq 100", []int{8, 4}},
		{"percentProgress ne 10", []int{10, 9, 8, 7, 6, 5, 4, 3, 1}}, // null ne 10 is true in OData
		{"percentProgress gt 50", []int{8, 6, 4}},
		{"percentProgress ge 50", []int{8, 6, 4, 3}},
		{"percentProgress lt 30", []int{10, 2}},
		{"percentProgress le 30", []int{10, 5, 2}},
		{"percentProgress eq null", []int{9, 7, 1}},
		{"percentProgress ne null", []int{10, 8, 6, 5, 4, 3, 2}},
		{"not (percentProgress gt 50)", []int{10, 9, 7, 5, 3, 2, 1}}, // not (null gt 50) is true
		{"not (percentProgress ne 10)", []int{2}},
		{"not (percentProgress eq null)", []int{10, 8, 6, 5, 4, 3, 2}},
		{"createdDateTime ge 2026-01-05T00:00:00Z and createdDateTime lt 2026-01-08T00:00:00Z", []int{7, 6, 5}},
		{"createdDateTime gt 2026-01-09T01:00:00+01:00", []int{10}},
		{"createdDateTime eq 2026-01-04T00:00:00.000Z", []int{4}},
		{"createdDateTime eq null", nil},
		{"createdDateTime ne null", all},
		{"completedDateTime eq null", []int{10, 3, 2, 1}},
		{"completedDateTime le 2026-01-07T00:00:00Z", []int{6, 5, 4}},
		{"not (completedDateTime le 2026-01-07T00:00:00Z)", []int{10, 9, 8, 7, 3, 2, 1}},
		{"createdBy/user/id eq 'u-ada'", []int{10, 9, 2, 1}},
		{"createdBy/user/id eq 'u-o''neil'", []int{7}},
		{"createdBy/user/id eq null", []int{8, 6, 3}},
		{"createdBy/user/id gt 'u-b'", []int{7, 5, 4}},
		{"createdBy/application/id eq 'app-1'", []int{9, 6, 3}},
		{"createdBy/application/id ne 'app-1'", []int{10, 8, 7, 5, 4, 2, 1}},
		{"resultInfo/code eq 0", []int{8, 4}},
		{"resultInfo/code ge 400", []int{9, 7, 5}},
		{"resultInfo/code in (500, 503)", []int{9, 5}},
		{"resultInfo/code in (0, null)", []int{10, 8, 4, 3, 2, 1}},
		{"not (resultInfo/code in (0, null))", []int{9, 7, 6, 5}},
		{"not (resultInfo/code in (0))", []int{10, 9, 7, 6, 5, 3, 2, 1}},
		{"resultInfo/code in (null)", []int{10, 3, 2, 1}},
		{"not (resultInfo/code in (null))", []int{9, 8, 7, 6, 5, 4}},
		{"status in ('succeeded', 'failed')", []int{9, 8, 5, 4}},
		{"not (status in ('running', 'notStarted'))", []int{9, 8, 7, 6, 5, 4}},
		{"action in ('index')", []int{3}},
		{"status eq 'running' or status eq 'failed' and action eq 'applyTags'", []int{10, 9, 3, 2}},
		{"(status eq 'running' or status eq 'failed') and action eq 'applyTags'", []int{10, 9, 2}},
		{"not status eq 'running' and not (action eq 'applyTags')", []int{8, 7, 6, 5}},
		{"not (status eq 'running' or percentProgress eq null)", []int{8, 6, 5, 4}},
		{"not (status eq 'running' and percentProgress ge 10)", []int{10, 9, 8, 7, 6, 5, 4, 1}},
		{"not (not (status eq 'running'))", []int{10, 3, 2}},
		{"'running' eq status and 10 lt percentProgress", []int{3}},
		{"  status\teq  'running'  ", []int{10, 3, 2}},
		{"status eq null", nil},
		{"createdBy/user/id eq 'x'';drop table case_operations;--'", nil},
	} {
		ids, body := s.list(t, "$filter="+c.filter)
		if !slices.Equal(ids, c.want) {
			t.Errorf("%s: got %v, want %v", c.filter, ids, c.want)
		}
		if body["@odata.context"] != s.url+"/beta/$metadata#tagOperations" {
			t.Errorf("%s: @odata.context %v", c.filter, body["@odata.context"])
		}
	}
	// The $ is optional, as on Graph beta.
	if ids, _ := s.list(t, "filter=status eq 'running'&top=2"); !slices.Equal(ids, []int{10, 3}) {
		t.Errorf("options without $: %v", ids)
	}
	if n := s.count("SELECT count(*) FROM case_operations"); n != 11 {
		t.Errorf("%d rows after the injection attempt", n)
	}
}

func (s *testServer) count(sql string) int {
	s.t.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		s.t.Fatal(err)
	}
	return n
}

func TestOrderBy(t *testing.T) {
	t.Parallel()
	s := newFixtureServer(t)
	for _, c := range []struct {
		orderby string
		want    []int
	}{
		{"createdDateTime", []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"createdDateTime desc", []int{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
		// Enums sort in Graph's member order; ties newest first.
		{"status", []int{1, 7, 10, 3, 2, 8, 4, 6, 9, 5}},
		{"status desc", []int{9, 5, 6, 8, 4, 10, 3, 2, 7, 1}},
		{"action asc, status desc", []int{5, 9, 4, 10, 2, 1, 8, 3, 7, 6}},
		// null sorts before every value ascending and after every value descending.
		{"percentProgress", []int{9, 7, 1, 10, 2, 5, 3, 6, 8, 4}},
		{"percentProgress desc", []int{8, 4, 6, 3, 5, 2, 10, 9, 7, 1}},
		{"percentProgress desc, createdDateTime asc", []int{4, 8, 6, 3, 5, 2, 10, 1, 7, 9}},
		{"completedDateTime desc", []int{9, 8, 7, 6, 5, 4, 10, 3, 2, 1}},
		{"createdBy/user/id, resultInfo/code desc", []int{6, 8, 3, 9, 10, 2, 1, 5, 4, 7}},
		{"createdBy/application/id desc", []int{9, 6, 3, 10, 8, 7, 5, 4, 2, 1}},
		{"resultInfo/code", []int{10, 3, 2, 1, 8, 4, 6, 7, 5, 9}},
	} {
		ids, _ := s.list(t, "$orderby="+c.orderby)
		if !slices.Equal(ids, c.want) {
			t.Errorf("$orderby=%s: got %v, want %v", c.orderby, ids, c.want)
		}
		// Paged one operation at a time, the order is the same.
		if got := s.pageThrough(t, "$orderby="+c.orderby+"&$top=1"); !slices.Equal(got, c.want) {
			t.Errorf("$orderby=%s paged by one: got %v, want %v", c.orderby, got, c.want)
		}
	}
	ids, _ := s.list(t, "$filter=status ne 'running'&$orderby=percentProgress desc&$top=3")
	if !slices.Equal(ids, []int{8, 4, 6}) {
		t.Errorf("filter with orderby: %v", ids)
	}
}

// pageThrough follows @odata.nextLink from the first page of query to the last and returns every id seen.
func (s *testServer) pageThrough(t *testing.T, query string) []int {
	t.Helper()
	ids, body := s.list(t, query)
	for pages := 1; ; pages++ {
		next, _ := body["@odata.nextLink"].(string)
		if next == "" {
			return ids
		}
		if pages > 1000 {
			t.Fatalf("%s: more than 1000 pages", query)
		}
		if !strings.HasPrefix(next, s.url+"/beta/tagOperations?") {
			t.Fatalf("nextLink %q", next)
		}
		r := s.do("GET", strings.TrimPrefix(next, s.url), "")
		if r.status != 200 {
			t.Fatalf("%s: %d %s", next, r.status, r.body)
		}
		body = r.json(t)
		for _, v := range body["value"].([]any) {
			var n int
			fmt.Sscanf(v.(map[string]any)["id"].(string)[24:], "%d", &n)
			ids = append(ids, n)
		}
	}
}

// Many operations share a status and a createdDateTime, and many have no percentProgress: paging must still
// visit each exactly once, in the order one big page gives, for every way of sorting.
func TestPagingAcrossTies(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	var ops []fixtureOp
	statuses := []string{"running", "succeeded", "failed"}
	for n := 1; n <= 60; n++ {
		st := statuses[n%3]
		completed := ""
		if st != "running" {
			completed = "2026-02-02T00:00:00Z"
		}
		progress := -1
		if n%4 != 0 {
			progress = n % 5 * 25
		}
		user := ""
		if n%2 == 0 {
			user = fmt.Sprintf("u-%d", n%3)
		}
		created := "2026-02-01T00:00:00Z"
		if n > 50 {
			created = "2026-01-15T00:00:00Z"
		}
		ops = append(ops, fixtureOp{n, st, "applyTags", progress, created, completed, user, "", -1})
	}
	s.insert("dev", ops...)
	for _, q := range []string{
		"", "$orderby=status", "$orderby=status desc", "$orderby=percentProgress", "$orderby=percentProgress desc",
		"$orderby=createdBy/user/id desc,percentProgress", "$orderby=createdDateTime asc",
		"$orderby=completedDateTime,status desc,percentProgress desc", "$filter=status ne 'failed'&$orderby=percentProgress",
		"$filter=percentProgress eq null or percentProgress gt 50&$orderby=createdBy/user/id",
	} {
		sep := "&"
		if q == "" {
			sep = ""
		}
		whole, _ := s.list(t, q+sep+"$top=1000")
		if q == "" && len(whole) != 60 {
			t.Fatalf("%d operations", len(whole))
		}
		for _, top := range []int{1, 4, 7} {
			paged := s.pageThrough(t, q+sep+fmt.Sprintf("$top=%d", top))
			if !slices.Equal(paged, whole) {
				t.Errorf("%q by %d:\n got %v\nwant %v", q, top, paged, whole)
			}
		}
	}
}

// Operations created while a client pages never make it skip or repeat one that existed at its first page.
func TestPagingUnderConcurrentInserts(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	var ops []fixtureOp
	for n := 1; n <= 40; n++ { // ids 100, 200, ..., 4000
		ops = append(ops, fixtureOp{n * 100, "running", "applyTags", n % 3 * 50, "2026-03-01T00:00:00Z", "", "", "", -1})
	}
	s.insert("dev", ops...)
	k := 0
	for _, q := range []string{"$top=3", "$orderby=percentProgress desc&$top=3", "$orderby=createdDateTime&$top=3",
		"$orderby=status,percentProgress&$top=3"} {
		var mu sync.Mutex
		insert := func() {
			mu.Lock()
			k++
			n := k%41*100 + 1 + k/41 // between two of the first operations' ids
			mu.Unlock()
			// Same createdDateTime and status as the first operations, and ids on both sides of every cursor.
			s.insert("dev", fixtureOp{n, "running", "applyTags", n % 3 * 50, "2026-03-01T00:00:00Z", "", "", "", -1})
			s.create(`{"status": "running", "percentProgress": 50}`)
		}
		var ids []string
		_, body := s.list(t, q)
		for page := 1; ; page++ {
			for _, v := range body["value"].([]any) {
				ids = append(ids, v.(map[string]any)["id"].(string))
			}
			if page <= 10 {
				var wg sync.WaitGroup
				for range 3 {
					wg.Go(insert)
				}
				wg.Wait()
			}
			link, _ := body["@odata.nextLink"].(string)
			if link == "" {
				break
			}
			body = s.do("GET", strings.TrimPrefix(link, s.url), "").json(t)
		}
		seen := map[string]int{}
		for _, id := range ids {
			seen[id]++
		}
		for n := 1; n <= 40; n++ {
			if seen[opID(n*100)] != 1 {
				t.Errorf("%s: operation %d seen %d times", q, n*100, seen[opID(n*100)])
			}
		}
		for id, times := range seen {
			if times > 1 {
				t.Errorf("%s: operation %s seen %d times", q, id, times)
			}
		}
	}
}

func TestCountSelectAndNextLink(t *testing.T) {
	t.Parallel()
	s := newFixtureServer(t)

	r := s.do("GET", "/beta/tagOperations?"+encodeQuery("$filter=status eq 'running'&$count=true&$top=2&$select=status,percentProgress"), "")
	body := r.json(t)
	next, _ := body["@odata.nextLink"].(string)
	token := next[strings.LastIndex(next, "=")+1:]
	want := map[string]any{
		"@odata.context": s.url + "/beta/$metadata#tagOperations(status,percentProgress)",
		"@odata.count":   3,
		"value": []any{
			map[string]any{"@odata.type": "#microsoft.graph.tagOperation", "@odata.etag": fixtureETag(t, 10), "id": opID(10), "percentProgress": 0, "status": "running"},
			map[string]any{"@odata.type": "#microsoft.graph.tagOperation", "@odata.etag": fixtureETag(t, 3), "id": opID(3), "percentProgress": 50, "status": "running"},
		},
		"@odata.nextLink": s.url + "/beta/tagOperations?$filter=status%20eq%20%27running%27&$select=status%2CpercentProgress&$top=2&$count=true&$skiptoken=" + token,
	}
	if r.status != 200 || !reflect.DeepEqual(normalize(body), normalize(want)) {
		t.Fatalf("%d\n got %s\nwant %s", r.status, mustJSON(body), mustJSON(want))
	}
	// Member order on the wire: @odata.context, @odata.count, value, @odata.nextLink; entity members in entity order.
	if !strings.HasPrefix(string(r.body), `{"@odata.context":"`+s.url+`/beta/$metadata#tagOperations(status,percentProgress)","@odata.count":3,"value":[{"@odata.type":"#microsoft.graph.tagOperation","@odata.etag":`+strconv.Quote(fixtureETag(t, 10))+`,"id":"`+opID(10)+`","percentProgress":0,"status":"running"}`) {
		t.Errorf("member order: %s", r.body)
	}
	r = s.do("GET", strings.TrimPrefix(next, s.url), "")
	want = map[string]any{
		"@odata.context": s.url + "/beta/$metadata#tagOperations(status,percentProgress)",
		"@odata.count":   3,
		"value": []any{
			map[string]any{"@odata.type": "#microsoft.graph.tagOperation", "@odata.etag": fixtureETag(t, 2), "id": opID(2), "percentProgress": 10, "status": "running"},
		},
	}
	if body := r.json(t); r.status != 200 || !reflect.DeepEqual(normalize(body), normalize(want)) {
		t.Fatalf("second page: %d\n got %s\nwant %s", r.status, mustJSON(body), mustJSON(want))
	}

	// $count counts every match, not the page; $count=false is no count.
	if _, body := s.list(t, "$count=true&$top=1"); body["@odata.count"] != json.Number("10") {
		t.Errorf("count of all: %v", body["@odata.count"])
	}
	if _, body := s.list(t, "$count=false"); body["@odata.count"] != nil {
		t.Errorf("count=false: %v", body["@odata.count"])
	}

	// $select=* and a select of id alone.
	_, body = s.list(t, "$select=*&$top=1")
	full := s.do("GET", "/beta/tagOperations/"+opID(10), "").json(t)
	delete(full, "@odata.context")
	if !reflect.DeepEqual(normalize(body["value"].([]any)[0]), normalize(full)) {
		t.Errorf("$select=*: %s", mustJSON(body))
	}
	_, body = s.list(t, "$select=id&$top=1")
	if got := mustJSON(body["value"]); got != mustJSON([]any{map[string]any{"@odata.type": "#microsoft.graph.tagOperation", "@odata.etag": fixtureETag(t, 10), "id": opID(10)}}) {
		t.Errorf("$select=id: %s", got)
	}
}

func TestSkiptokenBelongsToItsQuery(t *testing.T) {
	t.Parallel()
	s := newFixtureServer(t)
	_, body := s.list(t, "$filter=status ne 'running'&$orderby=percentProgress desc&$top=2")
	next := body["@odata.nextLink"].(string)
	token := next[strings.LastIndex(next, "=")+1:]

	// The same filter and order spelled differently is the same query; $top and $select may change.
	ids, _ := s.list(t, "$filter=status  ne  'running'&$orderby=percentProgress desc&$top=3&$select=id&$skiptoken="+token)
	if !slices.Equal(ids, []int{6, 5, 9}) {
		t.Errorf("respelled query: %v", ids)
	}
	for _, q := range []string{
		"$filter=status ne 'running'&$orderby=percentProgress asc&$skiptoken=" + token,
		"$filter=status ne 'running'&$skiptoken=" + token,
		"$orderby=percentProgress desc&$skiptoken=" + token,
		"$filter=status ne 'failed'&$orderby=percentProgress desc&$skiptoken=" + token,
	} {
		e := assertError(t, s.do("GET", "/beta/tagOperations?"+encodeQuery(q), ""), 400, "badRequest", "$skiptoken")
		if e["message"] != "$skiptoken was issued for another $filter or $orderby; follow @odata.nextLink as it is, or start again without $skiptoken." {
			t.Errorf("%s: %v", q, e["message"])
		}
	}
	for _, bad := range []string{"abc", "", "eyJ2IjoxfQ", token + "x", strings.ToUpper(token),
		// Well-formed tokens with the right digest but values that do not fit the sort keys.
		forgeToken(t, token, `"k":[{"s":"running"},{"t":1}]`), forgeToken(t, token, `"k":[{"n":5}]`),
		forgeToken(t, token, `"k":[{"n":5},{"s":"x"}]`), forgeToken(t, token, `"k":[{"n":99999999999},{"t":1}]`),
		forgeToken(t, token, `"k":[{"n":5,"s":"x"},{"t":1}]`), forgeToken(t, token, `"k":[{"n":5},null]`),
		forgeToken(t, token, `"k":[{"n":5},{"t":-300000000000000000}]`), // before any timestamptz
	} {
		r := s.do("GET", "/beta/tagOperations?"+encodeQuery("$filter=status ne 'running'&$orderby=percentProgress desc&$skiptoken="+bad), "")
		assertError(t, r, 400, "badRequest", "$skiptoken")
	}

	// A string key Postgres cannot hold, and a token without the last operation's id.
	_, body = s.list(t, "$orderby=createdBy/user/id&$top=2")
	next = body["@odata.nextLink"].(string)
	token = next[strings.LastIndex(next, "=")+1:]
	var tok map[string]any
	b, _ := base64Decode(token)
	if err := json.Unmarshal(b, &tok); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{forgeToken(t, token, `"k":[{"s":"u-ada\u0000"},{"t":1767225600000000}]`),
		base64Encode([]byte(fmt.Sprintf(`{"v":1,"h":%q,"k":[{"s":"u-ada"},{"t":1767225600000000}]}`, tok["h"])))} {
		r := s.do("GET", "/beta/tagOperations?"+encodeQuery("$orderby=createdBy/user/id&$skiptoken="+bad), "")
		e := assertError(t, r, 400, "badRequest", "$skiptoken")
		if e["message"] != "$skiptoken is not one this service issued; follow @odata.nextLink as it is." {
			t.Errorf("%s: %v", bad, e["message"])
		}
	}
}

// forgeToken rewrites the key values of a real list token, keeping its digest.
func forgeToken(t *testing.T, token, keys string) string {
	t.Helper()
	var tok map[string]any
	b, _ := base64Decode(token)
	if err := json.Unmarshal(b, &tok); err != nil {
		t.Fatal(err)
	}
	forged := fmt.Sprintf(`{"v":1,"h":%q,%s,"i":%q}`, tok["h"], keys, tok["i"])
	return base64Encode([]byte(forged))
}

func TestHostileAndUnsupportedQueries(t *testing.T) {
	t.Parallel()
	s := newFixtureServer(t)
	for _, c := range []struct{ query, target, message string }{
		{"$filter=status eq 'x'';drop table case_operations;--'", "$filter", "$filter is not valid: 'x'';drop table case_operations;--' is not a value of status; it is one of notStarted, submissionFailed, running, succeeded, partiallySucceeded, failed (at position 11)."},
		{"$filter=tenant_id eq 'other'", "$filter", "$filter is not valid: unknown property 'tenant_id'; a filter may use status, action, percentProgress, createdDateTime, completedDateTime, createdBy/user/id, createdBy/application/id, resultInfo/code (at position 1)."},
		{"$filter=createdBy eq null", "$filter", ""},
		{"$filter=resultInfo/message eq 'x'", "$filter", ""},
		{"$filter=action eq 'unknownFutureValue'", "$filter", ""},
		{"$filter=" + strings.Repeat("(", 33) + "status eq 'running'" + strings.Repeat(")", 33), "$filter", "$filter is not valid: the filter is nested more than 32 levels deep (at position 33)."},
		{"$filter=" + strings.Repeat("not ", 40) + "status eq 'running'", "$filter", ""},
		{"$filter=status eq 'running'" + strings.Repeat(" or status eq 'running'", 200), "$filter", fmt.Sprintf("$filter is not valid: it is %d bytes long; the limit is 4096 bytes.", 19+200*23)},
		{"$filter=resultInfo/code in (" + strings.Repeat("1,", 100) + "1)", "$filter", ""},
		{"$filter=", "$filter", "$filter is not valid: it is empty."},
		{"$filter=status eq 'running'&$filter=status eq 'failed'", "$filter", ""},
		{"$filter=status eq 'running'&filter=status eq 'failed'", "$filter", ""},
		{"$filter=percentProgress eq 50.5", "$filter", ""},
		{"$filter=createdDateTime ge 2026-01-01T00:00:00+24:00", "$filter", ""},
		{"$filter=createdDateTime ge 2026-01-01T00:00+00:60", "$filter", ""},
		{"$filter=contains(createdBy/user/id, 'ada')", "$filter", ""},
		{"$filter=status eq 'running'; drop table case_operations", "$filter", ""},
		{"$orderby=tenant_id", "$orderby", ""},
		{"$orderby=status;drop table case_operations", "$orderby", ""},
		{"$orderby=createdBy", "$orderby", ""},
		{"$orderby=status desc, status", "$orderby", ""},
		{"$orderby=id", "$orderby", ""},
		{"$select=tenant_id", "$select", ""},
		{"$select=createdBy/user", "$select", ""},
		{"$select=@odata.etag", "$select", ""},
		{"$top=0", "$top", ""},
		{"$top=1001", "$top", "$top must be an integer from 1 to 1000."},
		{"$top=99999999999999999999", "$top", ""},
		{"$top=-1", "$top", ""},
		{"$top=1e3", "$top", ""},
		{"$count=yes", "$count", "$count must be true or false."},
		{"$count=TRUE", "$count", ""},
		{"$expand=createdBy", "$expand", "The query option '$expand' is not supported on this request: tagOperation has no navigation properties to expand."},
		{"$search=ada", "$search", ""},
		{"$skip=10", "$skip", ""},
		{"skip=10", "skip", ""},
		{"$format=xml", "$format", ""},
		{"$deltatoken=abc", "$deltatoken", ""},
		{"$Filter=status eq 'running'", "$Filter", "The query option '$Filter' is not supported on this request; did you mean $filter? " +
			"A list of operations takes $filter, $orderby, $select, $top, $count and $skiptoken."},
		{"$frobnicate=1", "$frobnicate", ""},
		{"pretty", "pretty", ""},
	} {
		e := assertBadQuery(t, s, "/beta/tagOperations?"+encodeQuery(c.query), c.target, c.message)
		if e != nil && !strings.Contains(e["message"].(string), strings.TrimPrefix(c.target, "$")) {
			t.Errorf("%.80s: the message does not name %s: %s", c.query, c.target, e["message"])
		}
	}
	if n := s.count("SELECT count(*) FROM case_operations"); n != 11 {
		t.Errorf("%d rows after hostile queries", n)
	}
	// At the limits, a query is answered.
	for _, q := range []string{
		"$filter=" + strings.Repeat("(", 32) + "status eq 'running'" + strings.Repeat(")", 32),
		"$filter=resultInfo/code in (" + strings.Repeat("1,", 99) + "0)",
		"$top=1000",
	} {
		if r := s.do("GET", "/beta/tagOperations?"+encodeQuery(q), ""); r.status != 200 {
			t.Errorf("%.60s: %d %s", q, r.status, r.body)
		}
	}
}

// A query string is read strictly: a pair that cannot be decoded is refused, never dropped (a dropped
// $filter would answer every operation), and so is text Postgres cannot hold.
func TestMalformedQueryStrings(t *testing.T) {
	t.Parallel()
	s := newFixtureServer(t)
	const malformed = "The query string is malformed: each option is name=value, options are separated by &, " +
		"and a % must start an escape such as %20 or %25."
	for _, c := range []struct{ path, target, message string }{
		{"/beta/tagOperations?$filter=createdBy/user/id%20eq%20'a%00b'", "$filter", "The query option '$filter' must be UTF-8 text without U+0000."},
		{"/beta/tagOperations?$filter=createdBy/application/id%20in%20('a','%00')", "$filter", ""},
		{"/beta/tagOperations?$filter=createdBy/user/id%20eq%20'%C3%28'", "$filter", "The query option '$filter' must be UTF-8 text without U+0000."},
		{"/beta/tagOperations?$filter=createdBy/user/id%20eq%20'%ED%A0%80'", "$filter", ""},
		{"/beta/tagOperations?$filter=status%20eq%20'running';&$top=1000", "", malformed},
		{"/beta/tagOperations?$filter=%zz", "", malformed},
		{"/beta/tagOperations?$top=%zz5", "", malformed},
		{"/beta/tagOperations?$top=5;$count=true", "", malformed},
		{"/beta/tagOperations/delta?$deltatoken=%zz", "", malformed},
		{"/beta/tagOperations/" + opID(1) + "?x=%zz", "", malformed},
		{"/beta/tagOperations/" + opID(1) + "?%00=1", "$\x00", ""},
	} {
		assertBadQuery(t, s, c.path, c.target, c.message)
	}
}

// assertBadQuery checks that GET path is a 400 naming target, with message when one is given; it returns
// the error member, or nil when the status was not 400.
func assertBadQuery(t *testing.T, s *testServer, path, target, message string) map[string]any {
	t.Helper()
	r := s.do("GET", path, "")
	if r.status != 400 {
		t.Errorf("%.100s: %d %s", path, r.status, r.body)
		return nil
	}
	e := assertError(t, r, 400, "badRequest", target)
	if message != "" && e["message"] != message {
		t.Errorf("%.100s:\n got %s\nwant %s", path, e["message"], message)
	}
	return e
}

func base64Decode(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
func base64Encode(b []byte) string          { return base64.RawURLEncoding.EncodeToString(b) }
