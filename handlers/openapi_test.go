package handlers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/labstack/echo/v4"

	"github.com/caseops/caseops/store"
)

// validateResponse fails t unless openapi.json allows this answer to req: the status is one the operation
// documents, and the headers and body match it. A path the document lacks must be answered with its 404 error,
// a method a path does not take with its 405. Requests are not checked, so tests may send invalid ones on purpose.
func validateResponse(t *testing.T, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	if err := checkOpenAPIResponse(req, status, header, body); err != nil {
		t.Errorf("%s %s answered %d, which openapi.json does not allow:\n%v\nbody: %.2048s",
			req.Method, req.URL.RequestURI(), status, err, body)
	}
}

type openAPISpec struct {
	doc    *openapi3.T
	router routers.Router
}

// loadOpenAPI parses and validates the document once for the whole test binary.
var loadOpenAPI = sync.OnceValues(func() (*openAPISpec, error) {
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPIDocument)
	if err != nil {
		return nil, fmt.Errorf("load openapi.json: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi.json is not a valid OpenAPI 3.0 document: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route openapi.json: %w", err)
	}
	return &openAPISpec{doc: doc, router: router}, nil
})

// openAPIGUIDFormat is what the service calls a GUID: any 8-4-4-4-12 hex string, of any UUID version,
// since clients may supply their own ids.
var openAPIGUIDFormat = openapi3.NewRegexpFormatValidator(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func checkOpenAPIResponse(req *http.Request, status int, header http.Header, body []byte) error {
	spec, err := loadOpenAPI()
	if err != nil {
		return err
	}
	// The document lists neither HEAD nor OPTIONS: HEAD answers as GET without a body, and OPTIONS, like every 405,
	// lists in Allow exactly the methods the document gives the path, and HEAD and OPTIONS.
	item := spec.pathItem(req)
	if allow := header.Get("Allow"); item != nil && (req.Method == http.MethodOptions || status == http.StatusMethodNotAllowed) &&
		allow != allowOf(item) {
		return fmt.Errorf("Allow %q, but the document has %q", allow, allowOf(item))
	}
	excludeBody := false
	switch req.Method {
	case http.MethodHead:
		if len(body) > 0 {
			return fmt.Errorf("HEAD answered with a %d-byte body", len(body))
		}
		req = req.Clone(req.Context())
		req.Method, excludeBody = http.MethodGet, true
	case http.MethodOptions:
		if item != nil {
			if status != http.StatusNoContent || len(body) > 0 {
				return fmt.Errorf("OPTIONS answered %d with a %d-byte body, want 204 and none", status, len(body))
			}
			return nil
		}
	}
	route, pathParams, err := spec.router.FindRoute(req)
	switch {
	case errors.Is(err, routers.ErrMethodNotAllowed):
		route, err = spec.errorRoute(req, http.StatusMethodNotAllowed, "MethodNotAllowed"), nil
	case errors.Is(err, routers.ErrPathNotFound):
		route, err = spec.errorRoute(req, http.StatusNotFound, "NotFound"), nil
	}
	if err != nil {
		return err
	}
	opts := &openapi3filter.Options{
		AuthenticationFunc:      openapi3filter.NoopAuthenticationFunc,
		ExcludeResponseBody:     excludeBody,
		IncludeResponseStatus:   true, // an undocumented status is an error, not a pass
		MultiError:              true,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.WithStringFormatValidator("uuid", openAPIGUIDFormat)},
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: pathParams, Route: route, Options: opts},
		Status:                 status,
		Header:                 header,
		Options:                opts,
	}
	input.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(req.Context(), input); err != nil {
		return err
	}
	// kin-openapi skips the body of a response documented without content; such a response must have none.
	if r := route.Operation.Responses.Status(status); r != nil && r.Value != nil && len(r.Value.Content) == 0 && len(body) > 0 {
		return fmt.Errorf("status %d is documented without a body, but the response has %d bytes", status, len(body))
	}
	return nil
}

// pathItem is the document's path the request's URL names, or nil; a path that takes GET is preferred, so that
// /beta/tagOperations/delta is not taken for an {id}.
func (s *openAPISpec) pathItem(req *http.Request) *openapi3.PathItem {
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete} {
		r := req.Clone(req.Context())
		r.Method = method
		if route, _, err := s.router.FindRoute(r); err == nil {
			return route.PathItem
		}
	}
	return nil
}

// allowOf is the Allow header of a path of the document: its methods, HEAD with GET, and OPTIONS.
func allowOf(item *openapi3.PathItem) string {
	methods := []string{http.MethodOptions}
	for method := range item.Operations() {
		methods = append(methods, strings.ToUpper(method))
		if strings.EqualFold(method, http.MethodGet) {
			methods = append(methods, http.MethodHead)
		}
	}
	slices.Sort(methods)
	return strings.Join(methods, ", ")
}

// errorRoute stands for a request the document has no operation for: the only answer it allows is
// the component response name (Echo's own 404 or 405, in the Graph error shape).
func (s *openAPISpec) errorRoute(req *http.Request, status int, name string) *routers.Route {
	op := openapi3.NewOperation()
	op.Responses = openapi3.NewResponses(openapi3.WithStatus(status, &openapi3.ResponseRef{Value: s.doc.Components.Responses[name].Value}))
	return &routers.Route{Spec: s.doc, Path: req.URL.Path, PathItem: &openapi3.PathItem{}, Method: req.Method, Operation: op}
}

func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	spec, err := loadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	doc := spec.doc

	t.Run("every route is documented and every /beta and /v1.0 operation is served", func(t *testing.T) {
		t.Parallel()
		served := map[string]bool{}
		routes := NewServer(slog.New(slog.DiscardHandler), Config{ServeMetrics: true}, nil, nil, nil, nil).Routes()
		for _, r := range routes {
			path := strings.NewReplacer(":caseId", "{caseId}", ":id", "{id}", ":file", "{file}").Replace(r.Path)
			switch {
			case strings.Contains(r.Name, ".methodNotAllowed."), r.Method == echo.RouteNotFound:
				continue // answers 405 on purpose, as the document's absence of the method says
			case r.Method == http.MethodOptions, r.Method == http.MethodHead:
				continue // not in the document, which says how they answer; checkOpenAPIResponse holds them to it
			}
			served[r.Method+" "+path] = true
			if item := doc.Paths.Value(path); item == nil || item.GetOperation(r.Method) == nil {
				t.Errorf("%s %s is served but not in openapi.json", r.Method, r.Path)
			}
		}
		for path, item := range doc.Paths.Map() {
			for method := range item.Operations() {
				if (strings.HasPrefix(path, "/beta/") || strings.HasPrefix(path, "/v1.0/")) && !served[method+" "+path] {
					t.Errorf("openapi.json documents %s %s, which the server does not route", method, path)
				}
			}
		}
	})

	t.Run("schemas match the Go types", func(t *testing.T) {
		t.Parallel()
		var jsonNames []string
		ty := reflect.TypeFor[operationJSON]()
		for i := range ty.NumField() {
			name, _, _ := strings.Cut(ty.Field(i).Tag.Get("json"), ",")
			jsonNames = append(jsonNames, name)
		}
		slices.Sort(jsonNames)
		if got := openAPIProperties(doc, "tagOperation"); !slices.Equal(got, jsonNames) {
			t.Errorf("tagOperation properties = %v, operationJSON has %v", got, jsonNames)
		}
		if got := openAPIEnum(doc, "caseOperationStatus"); !slices.Equal(got, enumStrings(store.Statuses)) {
			t.Errorf("caseOperationStatus enum = %v, store.Statuses = %v", got, store.Statuses)
		}
		if got := openAPIEnum(doc, "caseAction"); !slices.Equal(got, enumStrings(store.TagOperationActions)) {
			t.Errorf("caseAction enum = %v, store.TagOperationActions = %v", got, store.TagOperationActions)
		}
		if got := openAPIProperties(doc, "tagOperationPatch"); !slices.Contains(got, "createdDateTime") {
			t.Error("tagOperationPatch lacks createdDateTime, which a client PATCHing back what it read sends")
		}
		if got := openAPIProperties(doc, "tagOperationCreate"); slices.Contains(got, "createdDateTime") {
			t.Error("tagOperationCreate allows createdDateTime, which a POST may not give")
		}
	})

	t.Run("error responses carry their status's code", func(t *testing.T) {
		t.Parallel()
		statusOf := map[string]int{} // "NotFound" -> 404
		for s := 400; s < 600; s++ {
			statusOf[strings.ReplaceAll(http.StatusText(s), " ", "")] = s
		}
		for name, r := range doc.Components.Responses {
			status := statusOf[name]
			if status == 0 {
				t.Errorf("response %s names no HTTP status", name)
				continue
			}
			want := errorCode(status)
			codeSchema := r.Value.Content.Get("application/json").Schema.Value.AllOf[1].Value.Properties["error"].Value.Properties["code"].Value
			if len(codeSchema.Enum) != 1 || codeSchema.Enum[0] != want {
				t.Errorf("response %s: error.code enum = %v, the service sends %q", name, codeSchema.Enum, want)
			}
		}
	})

	t.Run("/beta and /v1.0 operations need a bearer token", func(t *testing.T) {
		t.Parallel()
		for path, item := range doc.Paths.Map() {
			for method, op := range item.Operations() {
				secured := op.Security != nil && len(*op.Security) > 0
				// $metadata, like Graph's, is served without a token.
				if secured != ((strings.HasPrefix(path, "/beta/") || strings.HasPrefix(path, "/v1.0/")) && !strings.HasSuffix(path, "/$metadata")) {
					t.Errorf("%s %s: security = %v", method, path, op.Security)
				}
				if secured {
					for _, status := range []string{"401", "403", "500", "503"} {
						if op.Responses.Value(status) == nil {
							t.Errorf("%s %s does not document %s", method, path, status)
						}
					}
				}
			}
		}
	})
}

func openAPIProperties(doc *openapi3.T, name string) []string {
	var names []string
	for p := range doc.Components.Schemas[name].Value.Properties {
		names = append(names, p)
	}
	slices.Sort(names)
	return names
}

func openAPIEnum(doc *openapi3.T, name string) []string {
	var values []string
	for _, v := range doc.Components.Schemas[name].Value.Enum {
		values = append(values, v.(string))
	}
	return values
}

// The self-test: hand-made answers as CONTRACT.md describes them pass, and answers that break it fail.
func TestValidateResponse(t *testing.T) {
	t.Parallel()
	const (
		id        = "05de44a5-44a5-05de-a544-de05a544de05" // a client-supplied GUID: not an RFC 4122 version
		requestID = "3f1c5a52-8d5c-4f6e-9a57-2a0f5b0e3c11"
		entity    = `{"@odata.context":"http://caseops.test/beta/$metadata#tagOperations/$entity",` +
			`"@odata.type":"#microsoft.graph.tagOperation","@odata.etag":"W/\"2.hol4d7qf5q\"",` +
			`"id":"` + id + `","createdDateTime":"2026-01-02T03:04:05.123456Z","completedDateTime":null,` +
			`"percentProgress":40,"status":"running","action":"applyTags",` +
			`"createdBy":{"application":null,"device":null,"user":{"id":"dev","displayName":"Development user"}},` +
			`"resultInfo":null}`
		badRequest = `{"error":{"code":"badRequest","message":"The request body has 2 invalid properties: percentProgress, status.",` +
			`"details":[{"code":"invalidValue","message":"percentProgress must be an integer from 0 to 100, or null.","target":"percentProgress"},` +
			`{"code":"invalidValue","message":"status must be one of notStarted, …; did you mean running?","target":"status"}],` +
			`"innerError":{"date":"2026-01-02T03:04:05Z","request-id":"` + requestID + `","client-request-id":"my-client-42"}}}`
	)
	graphError := func(code string) string {
		return `{"error":{"code":"` + code + `","message":"Something a person can read.",` +
			`"innerError":{"date":"2026-01-02T03:04:05Z","request-id":"` + requestID + `","client-request-id":"` + requestID + `"}}}`
	}
	headers := func(kv ...string) http.Header {
		h := http.Header{}
		h.Set("request-id", requestID)
		h.Set("client-request-id", "my-client-42")
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	jsonHeaders := func(kv ...string) http.Header {
		return headers(append([]string{"Content-Type", "application/json"}, kv...)...)
	}
	entityPath := "/beta/tagOperations/" + id

	tests := []struct {
		name         string
		method, path string
		status       int
		header       http.Header
		body         string
		wantErr      string // empty: valid
	}{
		{name: "entity", method: http.MethodGet, path: entityPath, status: 200,
			header: jsonHeaders("ETag", `W/"2.hol4d7qf5q"`), body: entity},
		{name: "created", method: http.MethodPost, path: "/beta/tagOperations", status: 201,
			header: jsonHeaders("ETag", `W/"2.hol4d7qf5q"`, "Location", "http://caseops.test"+entityPath), body: entity},
		{name: "collection", method: http.MethodGet, path: "/beta/tagOperations?$top=1", status: 200, header: jsonHeaders(),
			body: `{"@odata.context":"http://caseops.test/beta/$metadata#tagOperations","value":[` +
				strings.Replace(entity, `"@odata.context":"http://caseops.test/beta/$metadata#tagOperations/$entity",`, "", 1) +
				`],"@odata.nextLink":"http://caseops.test/beta/tagOperations?$top=1&$skiptoken=AAYHxd8ZkwBd5s7Jxl8zR5b5P1ZxzCfW"}`},
		{name: "minimal patch", method: http.MethodPatch, path: entityPath, status: 204,
			header: headers("ETag", `W/"3.hol4d7qf5q"`, "Preference-Applied", "return=minimal")},
		{name: "error with details", method: http.MethodPatch, path: "/beta/tagOperation", status: 400,
			header: jsonHeaders(), body: badRequest},
		{name: "unauthorized", method: http.MethodDelete, path: entityPath, status: 401,
			header: jsonHeaders("WWW-Authenticate", `Bearer error="invalid_token"`), body: graphError("unauthorized")},
		{name: "database away", method: http.MethodGet, path: entityPath, status: 503,
			header: jsonHeaders("Retry-After", "5"), body: graphError("serviceUnavailable")},
		{name: "unknown path", method: http.MethodGet, path: "/beta/caseOperations", status: 404,
			header: jsonHeaders(), body: graphError("notFound")},
		{name: "method not allowed", method: http.MethodPut, path: entityPath, status: 405,
			header: jsonHeaders("Allow", "DELETE, GET, HEAD, OPTIONS, PATCH"), body: graphError("methodNotAllowed")},
		{name: "method not allowed, with an Allow the path does not have", method: http.MethodPut, path: entityPath, status: 405,
			header: jsonHeaders("Allow", "OPTIONS, DELETE, GET, PATCH, POST"), body: graphError("methodNotAllowed"), wantErr: "Allow"},
		{name: "options", method: http.MethodOptions, path: "/beta/tagOperations/delta", status: 204,
			header: headers("Allow", "GET, HEAD, OPTIONS")},
		{name: "options listing methods that answer 405", method: http.MethodOptions, path: "/beta/tagOperations/delta", status: 204,
			header: headers("Allow", "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"), wantErr: "Allow"},
		{name: "head", method: http.MethodHead, path: entityPath, status: 200, header: jsonHeaders("ETag", `W/"2.hol4d7qf5q"`)},
		{name: "head with a body", method: http.MethodHead, path: entityPath, status: 200,
			header: jsonHeaders("ETag", `W/"2.hol4d7qf5q"`), body: entity, wantErr: "body"},

		{name: "a property the contract does not have", method: http.MethodGet, path: entityPath, status: 200,
			header: jsonHeaders("ETag", `W/"2.hol4d7qf5q"`), body: strings.Replace(entity, `"resultInfo":null`, `"resultInfo":null,"tenantId":"dev"`, 1),
			wantErr: "tenantId"},
		{name: "percentProgress out of range", method: http.MethodGet, path: entityPath, status: 200,
			header: jsonHeaders("ETag", `W/"2.hol4d7qf5q"`), body: strings.Replace(entity, `"percentProgress":40`, `"percentProgress":101`, 1),
			wantErr: "percentProgress"},
		{name: "status outside the enum", method: http.MethodGet, path: entityPath, status: 200,
			header: jsonHeaders("ETag", `W/"2.hol4d7qf5q"`), body: strings.Replace(entity, `"status":"running"`, `"status":"Running"`, 1),
			wantErr: "status"},
		{name: "a property left out", method: http.MethodGet, path: entityPath, status: 200,
			header: jsonHeaders("ETag", `W/"2.hol4d7qf5q"`), body: strings.Replace(entity, `"completedDateTime":null,`, "", 1),
			wantErr: "completedDateTime"},
		{name: "an ETag without its creation time", method: http.MethodGet, path: entityPath, status: 200,
			header: jsonHeaders("ETag", `W/"2"`), body: strings.Replace(entity, `W/\"2.hol4d7qf5q\"`, `W/\"2\"`, 1),
			wantErr: "ETag"},
		{name: "error code of another status", method: http.MethodGet, path: entityPath, status: 404,
			header: jsonHeaders(), body: graphError("badRequest"), wantErr: "notFound"},
		{name: "error without innerError", method: http.MethodGet, path: entityPath, status: 404,
			header: jsonHeaders(), body: `{"error":{"code":"notFound","message":"gone"}}`, wantErr: "innerError"},
		{name: "undocumented status", method: http.MethodGet, path: entityPath, status: 409,
			header: jsonHeaders(), body: graphError("conflict"), wantErr: "status is not supported"},
		{name: "created without Location", method: http.MethodPost, path: "/beta/tagOperations", status: 201,
			header: jsonHeaders("ETag", `W/"2.hol4d7qf5q"`), body: entity, wantErr: `"Location" missing`},
		{name: "503 without Retry-After", method: http.MethodGet, path: entityPath, status: 503,
			header: jsonHeaders(), body: graphError("serviceUnavailable"), wantErr: `"Retry-After" missing`},
		{name: "no request-id", method: http.MethodGet, path: entityPath, status: 200,
			header: http.Header{"Content-Type": {"application/json"}, "Etag": {`W/"2.hol4d7qf5q"`}, "Client-Request-Id": {"x"}}, body: entity,
			wantErr: `"request-id" missing`},
		{name: "204 with a body", method: http.MethodDelete, path: entityPath, status: 204,
			header: jsonHeaders(), body: "{}", wantErr: "documented without a body"},
		{name: "not JSON", method: http.MethodGet, path: entityPath, status: 200,
			header: headers("Content-Type", "text/html", "ETag", `W/"2.hol4d7qf5q"`), body: "<html>", wantErr: "text/html"},
		{name: "a 200 for an unknown path", method: http.MethodGet, path: "/beta/caseOperations", status: 200,
			header: jsonHeaders(), body: "{}", wantErr: "status is not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(tc.method, tc.path, nil)
			err := checkOpenAPIResponse(req, tc.status, tc.header, []byte(tc.body))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("a valid response was refused: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("an invalid response passed; want an error about %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("error = %v\nwant it to mention %q", err, tc.wantErr)
			}
		})
	}
}

func TestHandleOpenAPI(t *testing.T) {
	t.Parallel()
	e := echo.New()
	e.Pre(withRequestIDs)
	e.GET("/openapi.json", handleOpenAPI())
	req := httptest.NewRequest(http.MethodGet, "/openapi.json", nil)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi.json = %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	body, _ := io.ReadAll(rec.Body)
	if string(body) != string(OpenAPIDocument) {
		t.Error("GET /openapi.json does not serve OpenAPIDocument")
	}
	validateResponse(t, req, rec.Code, rec.Header(), body)
}
