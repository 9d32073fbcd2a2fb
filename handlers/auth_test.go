package handlers_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/caseops/caseops/handlers"
	"github.com/caseops/caseops/handlers/auth"
	"github.com/caseops/caseops/store"
	"github.com/caseops/caseops/store/storetest"
)

// signHS256 signs arbitrary claims with the test secret, for tokens Mint would never make.
func signHS256(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	id := s.create(`{"percentProgress": 1}`)["id"].(string)
	before := s.row(id)
	now := time.Now()
	claims := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"tid": "dev", "scp": auth.PermissionReadWrite, "oid": "dev", "name": "Development user",
			"exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
		if edit != nil {
			edit(c)
		}
		return c
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	wrongKey, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil)).SignedString([]byte("another-secret-of-at-least-32-bytes!!"))
	valid := signHS256(t, claims(nil))
	withCrit := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil))
	withCrit.Header["crit"], withCrit.Header["exp-x"] = []string{"exp-x"}, 1
	critical, err := withCrit.SignedString(testSecret)
	if err != nil {
		t.Fatal(err)
	}

	refused := []struct {
		name, header string
	}{
		{"no token", ""},
		{"basic scheme", "Basic ZGV2OmRldg=="},
		{"bearer without token", "Bearer "},
		{"garbage", "Bearer not.a.jwt"},
		{"alg none", "Bearer " + none},
		{"wrong signature", "Bearer " + wrongKey},
		{"tampered payload", "Bearer " + strings.Replace(valid, ".", ".e30", 1)},
		{"expired beyond leeway", "Bearer " + signHS256(t, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-2 * time.Minute).Unix() }))},
		{"not valid yet beyond leeway", "Bearer " + signHS256(t, claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(2 * time.Minute).Unix() }))},
		{"no exp", "Bearer " + signHS256(t, claims(func(c jwt.MapClaims) { delete(c, "exp") }))},
		{"exp as a string", "Bearer " + signHS256(t, claims(func(c jwt.MapClaims) { c["exp"] = strconv.FormatInt(now.Add(time.Hour).Unix(), 10) }))},
		{"no tid", "Bearer " + signHS256(t, claims(func(c jwt.MapClaims) { delete(c, "tid") }))},
		{"huge token", "Bearer " + strings.Repeat("a", 20000)},
		{"critical header extension", "Bearer " + critical},
		// Claims the database cannot store: they were a 500 once the request reached it.
		{"tid longer than 256 characters", "Bearer " + signHS256(t, claims(func(c jwt.MapClaims) { c["tid"] = strings.Repeat("t", 257) }))},
		{"tid with U+0000", "Bearer " + signHS256(t, claims(func(c jwt.MapClaims) { c["tid"] = "dev\x00" }))},
		{"oid with U+0000", "Bearer " + signHS256(t, claims(func(c jwt.MapClaims) { c["oid"] = "dev\x00" }))},
		{"name with U+0000", "Bearer " + signHS256(t, claims(func(c jwt.MapClaims) { c["name"] = "Development\x00user" }))},
		{"azp with U+0000", "Bearer " + signHS256(t, claims(func(c jwt.MapClaims) { c["azp"] = "\x00" }))},
		{"app_displayname with U+0000", "Bearer " + signHS256(t, claims(func(c jwt.MapClaims) { c["appid"], c["app_displayname"] = "a", "\x00" }))},
		{"name longer than 1024 characters", "Bearer " + signHS256(t, claims(func(c jwt.MapClaims) { c["name"] = strings.Repeat("n", 1025) }))},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			for _, req := range [][3]string{{"GET", "/beta/tagOperations", ""}, {"GET", "/beta/tagOperations/" + id, ""},
				{"POST", "/beta/tagOperations", `{}`}, {"PATCH", "/beta/tagOperations/" + id, `{"percentProgress": 50}`},
				{"PATCH", "/beta/tagOperation", `{"id": "` + id + `", "percentProgress": 50}`}, {"DELETE", "/beta/tagOperations/" + id, ""}} {
				r := s.do(req[0], req[1], req[2], "Authorization", c.header)
				e := assertError(t, r, 401, "unauthorized", "")
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), `Bearer realm="caseops"`) {
					t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
				}
				if tok := strings.TrimPrefix(c.header, "Bearer "); len(tok) > 10 && strings.Contains(e["message"].(string), tok) {
					t.Errorf("the error repeats the token")
				}
			}
		})
	}
	// Two Authorization headers, even two good ones: which one a proxy honoured is unknown, so neither is.
	r := s.do("PATCH", "/beta/tagOperations/"+id, `{"percentProgress": 50}`, "Authorization", "Bearer "+valid, "Authorization", "Bearer "+valid)
	if e := assertError(t, r, 401, "unauthorized", ""); e["message"] != "The request has more than one Authorization header; send one." {
		t.Errorf("two Authorization headers: %v", e["message"])
	}
	if s.row(id) != before || len(s.events(id)) != 1 {
		t.Fatalf("a refused request changed the operation")
	}
	var operations, events int
	if err := s.pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM case_operations), (SELECT count(*) FROM case_operation_events)`).Scan(&operations, &events); err != nil || operations != 1 || events != 1 {
		t.Fatalf("after the refused requests: %d operations, %d events (%v); want the one created first", operations, events, err)
	}

	accepted := []struct{ name, token string }{
		{"expired within leeway", signHS256(t, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-30 * time.Second).Unix() }))},
		{"not valid yet within leeway", signHS256(t, claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(30 * time.Second).Unix() }))},
		{"lowercase scheme", valid},
	}
	for _, c := range accepted {
		scheme := "Bearer "
		if c.name == "lowercase scheme" {
			scheme = "bearer "
		}
		r := s.do("GET", "/beta/tagOperations/"+id, "", "Authorization", scheme+c.token)
		assertEntity(t, r, 200, map[string]any{"id": id, "percentProgress": 1, "@odata.etag": etagVersion(1)})
	}
}

func TestPermissions(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	id := s.create(`{"percentProgress": 1}`)["id"].(string)
	before := s.row(id)
	readOnly := mint(t, auth.MintOptions{Tenant: "dev", Scopes: auth.PermissionRead, UserID: "r", UserName: "Reader"})
	noPermission := mint(t, auth.MintOptions{Tenant: "dev", Scopes: "User.Read Mail.Read", UserID: "x"})
	readRole := mint(t, auth.MintOptions{Tenant: "dev", Roles: auth.PermissionRead, AppID: "dash", AppName: "Dashboard"})

	for _, tok := range []string{readOnly, readRole} {
		r := s.do("GET", "/beta/tagOperations/"+id, "", "Authorization", "Bearer "+tok)
		assertEntity(t, r, 200, map[string]any{"id": id, "percentProgress": 1, "@odata.etag": etagVersion(1)})
		if r := s.do("GET", "/beta/tagOperations", "", "Authorization", "Bearer "+tok); r.status != 200 {
			t.Errorf("list with a read permission: %d", r.status)
		}
		for _, req := range [][3]string{{"POST", "/beta/tagOperations", `{}`}, {"PATCH", "/beta/tagOperations/" + id, `{"percentProgress": 9}`},
			{"PATCH", "/beta/tagOperation", `{"id": "` + id + `", "percentProgress": 9}`}, {"DELETE", "/beta/tagOperations/" + id, ""}} {
			assertError(t, s.do(req[0], req[1], req[2], "Authorization", "Bearer "+tok), 403, "forbidden", "")
		}
	}
	for _, req := range [][3]string{{"GET", "/beta/tagOperations", ""}, {"GET", "/beta/tagOperations/" + id, ""},
		{"POST", "/beta/tagOperations", `{}`}, {"PATCH", "/beta/tagOperations/" + id, `{"percentProgress": 9}`}, {"DELETE", "/beta/tagOperations/" + id, ""}} {
		assertError(t, s.do(req[0], req[1], req[2], "Authorization", "Bearer "+noPermission), 403, "forbidden", "")
	}
	if s.row(id) != before {
		t.Fatalf("a forbidden request changed the operation")
	}

	// An application token with roles writes, and createdBy and the history name the application.
	app := mint(t, auth.MintOptions{Tenant: "dev", Roles: auth.PermissionReadWrite, AppID: "worker-7", AppName: "Tag worker"})
	r := s.do("POST", "/beta/tagOperations", `{}`, "Authorization", "Bearer "+app)
	op := assertEntity(t, r, 201, map[string]any{"@odata.etag": etagVersion(1), "createdBy": map[string]any{
		"application": map[string]any{"id": "worker-7", "displayName": "Tag worker"}, "device": nil, "user": nil}})
	var actor string
	if err := s.pool.QueryRow(context.Background(), `SELECT actor_application_id FROM case_operation_events WHERE operation_id = $1`, op["id"]).Scan(&actor); err != nil || actor != "worker-7" {
		t.Errorf("history actor %q (%v)", actor, err)
	}
	// An explicit createdBy in the body wins over the token's identity.
	r = s.do("POST", "/beta/tagOperations", `{"createdBy": {"user": {"id": "u-9"}}}`, "Authorization", "Bearer "+app)
	assertEntity(t, r, 201, map[string]any{"@odata.etag": etagVersion(1), "createdBy": map[string]any{
		"application": nil, "device": nil, "user": map[string]any{"id": "u-9", "displayName": nil}}})
}

// Every endpoint across two tenants: another tenant's operation is never seen, listed or touched.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	id := s.create(`{"percentProgress": 1}`)["id"].(string)
	before := s.row(id)
	other := "Bearer " + mint(t, auth.MintOptions{Tenant: "contoso", Scopes: auth.PermissionReadWrite, UserID: "eve"})

	assertError(t, s.do("GET", "/beta/tagOperations/"+id, "", "Authorization", other), 404, "notFound", "")
	assertError(t, s.do("PATCH", "/beta/tagOperations/"+id, `{"percentProgress": 99}`, "Authorization", other), 404, "notFound", "")
	assertError(t, s.do("PATCH", "/beta/tagOperation", `{"id": "`+id+`", "percentProgress": 99}`, "Authorization", other), 404, "notFound", "")
	assertError(t, s.do("DELETE", "/beta/tagOperations/"+id, "", "Authorization", other), 404, "notFound", "")
	r := s.do("GET", "/beta/tagOperations", "", "Authorization", other)
	if r.status != 200 || len(r.json(t)["value"].([]any)) != 0 {
		t.Errorf("the other tenant lists %d %s", r.status, r.body)
	}
	// The same GUID in another tenant is another operation.
	r = s.do("POST", "/beta/tagOperations", `{"id": "`+id+`", "percentProgress": 42}`, "Authorization", other)
	assertEntity(t, r, 201, map[string]any{"id": id, "percentProgress": 42, "@odata.etag": etagVersion(1),
		"createdBy": map[string]any{"application": nil, "device": nil, "user": map[string]any{"id": "eve", "displayName": nil}}})
	r = s.do("GET", "/beta/tagOperations/"+id, "")
	assertEntity(t, r, 200, map[string]any{"id": id, "percentProgress": 1, "@odata.etag": etagVersion(1)})
	var tenants string
	if err := s.pool.QueryRow(context.Background(), `SELECT string_agg(tenant_id || ':' || percent_progress, ',' ORDER BY tenant_id)
		FROM case_operations WHERE id = $1`, id).Scan(&tenants); err != nil || tenants != "contoso:42,dev:1" {
		t.Errorf("rows %q (%v)", tenants, err)
	}
	if s.row(id) != before || len(s.events(id)) != 2 {
		t.Errorf("tenant dev's operation changed, or history %q is not two creates", s.events(id))
	}
}

// Keys from a JWKS: RS256 verifies end to end, a rotated key is picked up without a restart, and iss, aud
// and an HS256 token signed with the public key are refused.
func TestJWKS(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	keys := map[string]*rsa.PrivateKey{}
	addKey := func(kid string) *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		keys[kid] = k
		mu.Unlock()
		return k
	}
	first := addKey("k1")
	var down atomic.Bool
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		set := jwkset.NewMemoryStorage()
		for kid, k := range keys {
			jwk, err := jwkset.NewJWKFromKey(k.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: jwkset.AlgRS256}})
			if err != nil {
				t.Error(err)
			}
			_ = set.KeyWrite(r.Context(), jwk)
		}
		raw, err := set.JSONPublic(r.Context())
		if err != nil {
			t.Error(err)
		}
		_, _ = w.Write(raw)
	}))
	t.Cleanup(jwks.Close)

	// The refetch interval is counted on the verifier's clock, which moves only when the test moves it.
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	verifier, err := auth.NewVerifier(t.Context(), auth.Config{JWKSURL: jwks.URL, Issuer: "https://login.example/tenant/v2.0",
		Audience: "api://caseops", RefetchInterval: time.Minute, Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(storetest.NewPool(t))
	api := handlers.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)), handlers.Config{RequestTimeout: 5 * time.Second},
		verifier, st, st, nil)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)

	sign := func(k *rsa.PrivateKey, kid string, edit func(jwt.MapClaims)) string {
		c := jwt.MapClaims{"tid": "t1", "roles": []string{auth.PermissionReadWrite}, "azp": "svc", "app_displayname": "Service",
			"iss": "https://login.example/tenant/v2.0", "aud": "api://caseops", "exp": time.Now().Add(time.Hour).Unix()}
		if edit != nil {
			edit(c)
		}
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	get := func(token string) int {
		req, _ := http.NewRequest("GET", srv.URL+"/beta/tagOperations", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(res.Body).Decode(&body)
		return res.StatusCode
	}
	if st := get(sign(first, "k1", nil)); st != 200 {
		t.Fatalf("RS256 token from the JWKS: %d", st)
	}
	rotated := addKey("k2")
	if st := get(sign(rotated, "k2", nil)); st != 200 {
		t.Fatalf("token signed with a rotated key: %d", st)
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(first.Public())
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	confused, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"tid": "t1", "roles": []string{auth.PermissionReadWrite},
		"iss": "https://login.example/tenant/v2.0", "aud": "api://caseops", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(pubPEM)
	for name, tok := range map[string]string{
		"wrong iss":                  sign(first, "k1", func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }),
		"wrong aud":                  sign(first, "k1", func(c jwt.MapClaims) { c["aud"] = "api://other" }),
		"HS256 with the public key":  confused,
		"unknown kid":                sign(first, "k9", nil),
		"key not in the set anymore": sign(addKeyless(t), "k1", nil),
	} {
		if st := get(tok); st != 401 {
			t.Errorf("%s: %d, want 401", name, st)
		}
	}

	// While the key server is down, keys already fetched keep working, and a token naming a key we do not
	// have cannot be judged: 503 with Retry-After, not 401. When it is back, the new key is fetched.
	down.Store(true)
	third := addKey("k3")
	clock.Add(int64(time.Minute)) // past the refetch interval
	if st := get(sign(first, "k1", nil)); st != 200 {
		t.Errorf("a cached key while the JWKS is down: %d, want 200", st)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/beta/tagOperations", nil)
	req.Header.Set("Authorization", "Bearer "+sign(third, "k3", nil))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var answer struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	err = json.NewDecoder(res.Body).Decode(&answer)
	res.Body.Close()
	if err != nil || res.StatusCode != 503 || res.Header.Get("Retry-After") != "5" || res.Header.Get("WWW-Authenticate") != "" ||
		answer.Error.Code != "serviceUnavailable" || !strings.Contains(answer.Error.Message, "cannot fetch the keys") {
		t.Errorf("an unknown key while the JWKS is down: %d, Retry-After %q, WWW-Authenticate %q, %+v (%v)",
			res.StatusCode, res.Header.Get("Retry-After"), res.Header.Get("WWW-Authenticate"), answer.Error, err)
	}
	down.Store(false)
	clock.Add(int64(time.Minute))
	if st := get(sign(third, "k3", nil)); st != 200 {
		t.Errorf("the new key once the JWKS is back: %d, want 200", st)
	}
	if st := get(sign(first, "k8", nil)); st != 401 {
		t.Errorf("an unknown kid once the JWKS is back: %d, want 401", st)
	}
}

// addKeyless returns a key the JWKS never published.
func addKeyless(t *testing.T) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// A token naming a header member or a claim twice, or expiring too far in the future, is a 401 that says
// which, and changes nothing.
func TestAuthenticationRefusesDuplicateMembersAndLongLifetimes(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	id := s.create(`{"percentProgress": 1}`)["id"].(string)
	before := s.row(id)
	signRaw := func(header, claims string) string {
		enc := base64.RawURLEncoding
		signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
		sig, err := jwt.SigningMethodHS256.Sign(signing, testSecret)
		if err != nil {
			t.Fatal(err)
		}
		return signing + "." + enc.EncodeToString(sig)
	}
	exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	rest := `"scp":"` + auth.PermissionReadWrite + `","oid":"dev","exp":` + exp + `}`
	for _, tc := range []struct{ name, token, message string }{
		{"tid twice", signRaw(`{"alg":"HS256","typ":"JWT"}`, `{"tid":"t2","tid":"dev",`+rest),
			`The bearer token's claims name "tid" more than once; each claim may appear only once.`},
		{"alg twice", signRaw(`{"alg":"none","alg":"HS256","typ":"JWT"}`, `{"tid":"dev",`+rest),
			`The bearer token's header names "alg" more than once; each header member may appear only once.`},
		{"exp in the year 9999", signHS256(t, jwt.MapClaims{"tid": "dev", "scp": auth.PermissionReadWrite, "oid": "dev", "exp": 253402300799}),
			"The bearer token's exp (expiration) is 9999-12-31T23:59:59Z, more than 24h from now; this service accepts tokens that expire within 24h."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do("PATCH", "/beta/tagOperations/"+id, `{"percentProgress": 50}`, "Authorization", "Bearer "+tc.token)
			if e := assertError(t, r, 401, "unauthorized", ""); e["message"] != tc.message {
				t.Errorf("message %q, want %q", e["message"], tc.message)
			}
			want := `Bearer realm="caseops", error="invalid_token", error_description="` + strings.ReplaceAll(tc.message, `"`, "'") + `"`
			if got := r.header.Get("WWW-Authenticate"); got != want {
				t.Errorf("WWW-Authenticate %q, want %q", got, want)
			}
		})
	}
	if s.row(id) != before || len(s.events(id)) != 1 {
		t.Fatalf("a refused request changed the operation")
	}
}
