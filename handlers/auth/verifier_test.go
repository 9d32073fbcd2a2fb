package auth

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var (
	testNow    = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	testSecret = []byte("0123456789abcdef0123456789abcdef")
)

// ada is the principal of a token with tokenClaims(nil).
var ada = Principal{
	TenantID: "tenant-1",
	Scopes:   []string{"eDiscovery.Read.All"},
	User:     &Identity{ID: "user-1", DisplayName: "Ada"},
}

// tokenClaims is a valid delegated token's claims with overrides applied; a nil override drops the claim.
func tokenClaims(overrides jwt.MapClaims) jwt.MapClaims {
	c := jwt.MapClaims{
		"tid":  "tenant-1",
		"scp":  "eDiscovery.Read.All",
		"oid":  "user-1",
		"name": "Ada",
		"exp":  testNow.Add(time.Hour).Unix(),
		"iat":  testNow.Unix(),
	}
	for k, v := range overrides {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

func signHS(t *testing.T, method jwt.SigningMethod, key []byte, c jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func signNone(t *testing.T, c jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newTestVerifier builds a verifier whose clock stands still at testNow, unless cfg brings its own.
func newTestVerifier(t *testing.T, cfg Config) *Verifier {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testNow }
	}
	v, err := NewVerifier(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

type verifyCase struct {
	name    string
	header  string
	want    Principal
	wantErr string // the *Error message; empty when the token is good
}

func runVerifyCases(t *testing.T, v *Verifier, cases []verifyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := v.Verify(t.Context(), tc.header)
			assertVerified(t, tc.header, got, err, tc.want, tc.wantErr)
		})
	}
}

func assertVerified(t *testing.T, header string, got Principal, err error, want Principal, wantErr string) {
	t.Helper()
	if wantErr == "" {
		if err != nil {
			t.Fatalf("Verify: %v (cause: %v)", err, errors.Unwrap(err))
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Verify = %#v\nwant %#v", got, want)
		}
		return
	}
	var authErr *Error
	if !errors.As(err, &authErr) {
		t.Fatalf("Verify error = %#v, want an *Error %q", err, wantErr)
	}
	if authErr.Message != wantErr || err.Error() != wantErr {
		t.Fatalf("Verify error = %q, want %q", authErr.Message, wantErr)
	}
	if !reflect.DeepEqual(got, Principal{}) {
		t.Fatalf("Verify refused the token but returned %#v", got)
	}
	if token, _ := strings.CutPrefix(header, "Bearer "); len(token) > 8 && strings.Contains(authErr.Message, token) {
		t.Fatalf("the error message contains the token")
	}
}

func TestVerifyHS256(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, Config{Secret: testSecret})
	bearer := func(c jwt.MapClaims) string {
		return "Bearer " + signHS(t, jwt.SigningMethodHS256, testSecret, c)
	}
	runVerifyCases(t, v, []verifyCase{
		{name: "no header", header: "", wantErr: "The request has no Authorization header."},
		{name: "blank header", header: "   ", wantErr: "The request has no Authorization header."},
		{name: "basic scheme", header: "Basic dXNlcjpwYXNz", wantErr: "The Authorization header must use the Bearer scheme."},
		{name: "token without scheme", header: signHS(t, jwt.SigningMethodHS256, testSecret, tokenClaims(nil)), wantErr: "The Authorization header must use the Bearer scheme."},
		{name: "bearer without token", header: "Bearer", wantErr: "The Authorization header has no bearer token."},
		{name: "bearer with blank token", header: "Bearer   ", wantErr: "The Authorization header has no bearer token."},
		{name: "scheme is case-insensitive", header: "bEaReR " + signHS(t, jwt.SigningMethodHS256, testSecret, tokenClaims(nil)), want: ada},
		{name: "extra spaces", header: "  Bearer   " + signHS(t, jwt.SigningMethodHS256, testSecret, tokenClaims(nil)) + " ", want: ada},
		{name: "garbage", header: "Bearer not-a-jwt", wantErr: "The bearer token is malformed."},
		{name: "three garbage segments", header: "Bearer a.b.c", wantErr: "The bearer token is malformed."},
		{name: "too long", header: "Bearer " + strings.Repeat("a", MaxTokenBytes+1), wantErr: "The bearer token is longer than 16384 bytes."},
		{name: "alg none", header: "Bearer " + signNone(t, tokenClaims(nil)), wantErr: "The bearer token must be signed with HS256."},
		{name: "HS384 with the right secret", header: "Bearer " + signHS(t, jwt.SigningMethodHS384, testSecret, tokenClaims(nil)), wantErr: "The bearer token must be signed with HS256."},
		{name: "wrong secret", header: "Bearer " + signHS(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), tokenClaims(nil)), wantErr: "The bearer token's signature is not valid."},
		{name: "tampered payload", header: "Bearer " + tamper(t, signHS(t, jwt.SigningMethodHS256, testSecret, tokenClaims(nil))), wantErr: "The bearer token's signature is not valid."},
		{name: "expired beyond leeway", header: bearer(tokenClaims(jwt.MapClaims{"exp": testNow.Add(-61 * time.Second).Unix()})), wantErr: "The bearer token has expired."},
		{name: "expired within leeway", header: bearer(tokenClaims(jwt.MapClaims{"exp": testNow.Add(-59 * time.Second).Unix()})), want: ada},
		{name: "nbf beyond leeway", header: bearer(tokenClaims(jwt.MapClaims{"nbf": testNow.Add(61 * time.Second).Unix()})), wantErr: "The bearer token is not valid yet (nbf)."},
		{name: "nbf within leeway", header: bearer(tokenClaims(jwt.MapClaims{"nbf": testNow.Add(59 * time.Second).Unix()})), want: ada},
		{name: "missing exp", header: bearer(tokenClaims(jwt.MapClaims{"exp": nil})), wantErr: "The bearer token has no exp (expiration) claim."},
		{name: "missing tid", header: bearer(tokenClaims(jwt.MapClaims{"tid": nil})), wantErr: "The token has no tid (tenant) claim."},
		{name: "empty tid", header: bearer(tokenClaims(jwt.MapClaims{"tid": ""})), wantErr: "The token has no tid (tenant) claim."},
		{name: "roles not an array", header: bearer(tokenClaims(jwt.MapClaims{"roles": "eDiscovery.Read.All"})), wantErr: "The bearer token is malformed."},
		{name: "iss and aud ignored when not configured", header: bearer(tokenClaims(jwt.MapClaims{"iss": "https://elsewhere", "aud": "someone-else"})), want: ada},
		{
			name:   "scp is space separated",
			header: bearer(tokenClaims(jwt.MapClaims{"scp": " eDiscovery.Read.All  User.Read eDiscovery.ReadWrite.All "})),
			want: Principal{
				TenantID: "tenant-1",
				Scopes:   []string{"eDiscovery.Read.All", "User.Read", "eDiscovery.ReadWrite.All"},
				User:     &Identity{ID: "user-1", DisplayName: "Ada"},
			},
		},
		{
			name: "delegated token names the user and the client application",
			header: bearer(tokenClaims(jwt.MapClaims{
				"azp": "app-1", "app_displayname": "Review tool", "roles": []string{"Reviewer"},
			})),
			want: Principal{
				TenantID:    "tenant-1",
				Scopes:      []string{"eDiscovery.Read.All"},
				Roles:       []string{"Reviewer"},
				User:        &Identity{ID: "user-1", DisplayName: "Ada"},
				Application: &Identity{ID: "app-1", DisplayName: "Review tool"},
			},
		},
		{
			name: "app-only token: roles array, v1 appid",
			header: bearer(tokenClaims(jwt.MapClaims{
				"scp": nil, "oid": nil, "name": nil,
				"appid": "app-2", "app_displayname": "Tagger", "roles": []string{"eDiscovery.ReadWrite.All", "Other.Role"},
			})),
			want: Principal{
				TenantID:    "tenant-1",
				Roles:       []string{"eDiscovery.ReadWrite.All", "Other.Role"},
				Application: &Identity{ID: "app-2", DisplayName: "Tagger"},
			},
		},
		{
			name: "azp wins over appid",
			header: bearer(tokenClaims(jwt.MapClaims{
				"scp": nil, "oid": nil, "name": nil, "azp": "app-v2", "appid": "app-v1", "roles": []string{"eDiscovery.Read.All"},
			})),
			want: Principal{
				TenantID:    "tenant-1",
				Roles:       []string{"eDiscovery.Read.All"},
				Application: &Identity{ID: "app-v2"},
			},
		},
		{
			name: "Entra app-only token carries the service principal's oid: not a user",
			header: bearer(tokenClaims(jwt.MapClaims{
				"scp": nil, "name": nil, "oid": "sp-1", "azp": "app-3", "roles": []string{"eDiscovery.Read.All"},
			})),
			want: Principal{
				TenantID:    "tenant-1",
				Roles:       []string{"eDiscovery.Read.All"},
				Application: &Identity{ID: "app-3"},
			},
		},
		{
			name: "idtyp app: not a user",
			header: bearer(tokenClaims(jwt.MapClaims{
				"scp": nil, "name": nil, "oid": "sp-1", "azp": "app-3", "idtyp": "app",
			})),
			want: Principal{TenantID: "tenant-1", Application: &Identity{ID: "app-3"}},
		},
		{
			name:   "tid alone: no user, no application",
			header: bearer(jwt.MapClaims{"tid": "tenant-9", "exp": testNow.Add(time.Minute).Unix()}),
			want:   Principal{TenantID: "tenant-9"},
		},
	})
}

func TestVerifyIssuerAndAudience(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, Config{Secret: testSecret, Issuer: "https://issuer.example", Audience: "api://caseops"})
	bearer := func(c jwt.MapClaims) string {
		return "Bearer " + signHS(t, jwt.SigningMethodHS256, testSecret, c)
	}
	good := jwt.MapClaims{"iss": "https://issuer.example", "aud": "api://caseops"}
	with := func(overrides jwt.MapClaims) jwt.MapClaims {
		c := tokenClaims(good)
		for k, v := range overrides {
			if v == nil {
				delete(c, k)
				continue
			}
			c[k] = v
		}
		return c
	}
	runVerifyCases(t, v, []verifyCase{
		{name: "matching iss and aud", header: bearer(with(nil)), want: ada},
		{name: "aud array holding ours", header: bearer(with(jwt.MapClaims{"aud": []string{"api://other", "api://caseops"}})), want: ada},
		{name: "wrong iss", header: bearer(with(jwt.MapClaims{"iss": "https://evil.example"})), wantErr: "The bearer token was not issued by the expected issuer (iss)."},
		{name: "missing iss", header: bearer(with(jwt.MapClaims{"iss": nil})), wantErr: "The bearer token was not issued by the expected issuer (iss)."},
		{name: "wrong aud", header: bearer(with(jwt.MapClaims{"aud": "api://other"})), wantErr: "The bearer token is not meant for this service (aud)."},
		{name: "missing aud", header: bearer(with(jwt.MapClaims{"aud": nil})), wantErr: "The bearer token is not meant for this service (aud)."},
		{name: "missing exp still named first", header: bearer(with(jwt.MapClaims{"exp": nil, "aud": nil})), wantErr: "The bearer token has no exp (expiration) claim."},
	})
}

// tamper flips the tenant in a signed token's payload and keeps the old signature.
func tamper(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	c := tokenClaims(jwt.MapClaims{"tid": "tenant-evil"})
	forged := signHS(t, jwt.SigningMethodHS256, []byte("whatever-whatever-whatever-whate"), c)
	return parts[0] + "." + strings.Split(forged, ".")[1] + "." + parts[2]
}

func TestNewVerifierRefusesBadConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "no key", cfg: Config{}, wantErr: "auth: neither a JWT secret nor a JWKS URL is set"},
		{name: "both keys", cfg: Config{Secret: testSecret, JWKSURL: "https://keys.example/jwks"}, wantErr: "auth: a JWT secret and a JWKS URL are mutually exclusive; set one"},
		{name: "short secret", cfg: Config{Secret: []byte("secret")}, wantErr: "auth: the JWT secret has 6 bytes; HS256 needs at least 32"},
		{name: "relative JWKS URL", cfg: Config{JWKSURL: "/jwks"}, wantErr: `auth: JWKS URL "/jwks" is not an absolute http(s) URL`},
		{name: "ftp JWKS URL", cfg: Config{JWKSURL: "ftp://keys.example/jwks"}, wantErr: `auth: JWKS URL "ftp://keys.example/jwks" is not an absolute http(s) URL`},
		{name: "negative leeway", cfg: Config{Secret: testSecret, Leeway: -time.Second}, wantErr: "auth: negative leeway -1s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, err := NewVerifier(t.Context(), tc.cfg)
			if err == nil || err.Error() != tc.wantErr || v != nil {
				t.Fatalf("NewVerifier = %v, %v; want nil, %q", v, err, tc.wantErr)
			}
		})
	}
}

func TestLeewayIsConfigurable(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, Config{Secret: testSecret, Leeway: time.Second})
	header := "Bearer " + signHS(t, jwt.SigningMethodHS256, testSecret, tokenClaims(jwt.MapClaims{"exp": testNow.Add(-2 * time.Second).Unix()}))
	got, err := v.Verify(t.Context(), header)
	assertVerified(t, header, got, err, Principal{}, "The bearer token has expired.")
}

func TestPermissions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name              string
		p                 Principal
		canRead, canWrite bool
	}{
		{name: "nothing", p: Principal{TenantID: "t"}},
		{name: "other scopes", p: Principal{Scopes: []string{"User.Read", "eDiscovery.read.all"}}},
		{name: "read scope", p: Principal{Scopes: []string{"User.Read", PermissionRead}}, canRead: true},
		{name: "read-write scope", p: Principal{Scopes: []string{PermissionReadWrite}}, canRead: true, canWrite: true},
		{name: "read role", p: Principal{Roles: []string{PermissionRead}}, canRead: true},
		{name: "read-write role", p: Principal{Roles: []string{PermissionReadWrite}}, canRead: true, canWrite: true},
		{name: "read scope and read-write role", p: Principal{Scopes: []string{PermissionRead}, Roles: []string{PermissionReadWrite}}, canRead: true, canWrite: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := [2]bool{tc.p.CanRead(), tc.p.CanWrite()}; got != [2]bool{tc.canRead, tc.canWrite} {
				t.Fatalf("CanRead, CanWrite = %v, want %v", got, [2]bool{tc.canRead, tc.canWrite})
			}
		})
	}
}

// RFC 7515 §4 and RFC 7519 §4: member names are unique. A token naming one twice is refused, whichever
// value a JSON decoder would keep.
func TestVerifyRefusesDuplicateMembers(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, Config{Secret: testSecret})
	header := `{"alg":"HS256","typ":"JWT"}`
	exp := strconv.FormatInt(testNow.Add(time.Hour).Unix(), 10)
	claims := `"scp":"eDiscovery.Read.All","oid":"user-1","name":"Ada","exp":` + exp
	runVerifyCases(t, v, []verifyCase{
		{name: "well formed", header: "Bearer " + signRaw(t, header, `{"tid":"tenant-1",`+claims+`}`), want: ada},
		{name: "the same name in different objects", header: "Bearer " + signRaw(t, header, `{"tid":"tenant-1","x":{"tid":"t2","y":[{"tid":1},{"tid":2}]},`+claims+`}`), want: ada},
		{name: "tid twice", header: "Bearer " + signRaw(t, header, `{"tid":"t2","tid":"tenant-1",`+claims+`}`),
			wantErr: `The bearer token's claims name "tid" more than once; each claim may appear only once.`},
		{name: "exp twice", header: "Bearer " + signRaw(t, header, `{"tid":"tenant-1",`+claims+`,"exp":1}`),
			wantErr: `The bearer token's claims name "exp" more than once; each claim may appear only once.`},
		{name: "a nested name twice", header: "Bearer " + signRaw(t, header, `{"tid":"tenant-1","x":[{"a":1,"a":2}],`+claims+`}`),
			wantErr: `The bearer token's claims name "a" more than once; each claim may appear only once.`},
		{name: "alg twice", header: "Bearer " + signRaw(t, `{"alg":"none","alg":"HS256","typ":"JWT"}`, `{"tid":"tenant-1",`+claims+`}`),
			wantErr: `The bearer token's header names "alg" more than once; each header member may appear only once.`},
		{name: "kid twice", header: "Bearer " + signRaw(t, `{"alg":"HS256","kid":"a","kid":"b"}`, `{"tid":"tenant-1",`+claims+`}`),
			wantErr: `The bearer token's header names "kid" more than once; each header member may appear only once.`},
	})
}

// A token may not be valid for longer than the configured maximum from now (default 24 h, plus the leeway
// for clock skew), however it was issued: an exp in the year 9999 is refused, with or without iat.
func TestVerifyRefusesTokensThatLiveTooLong(t *testing.T) {
	t.Parallel()
	bearer := func(c jwt.MapClaims) string {
		return "Bearer " + signHS(t, jwt.SigningMethodHS256, testSecret, c)
	}
	at := func(d time.Duration) jwt.MapClaims { return tokenClaims(jwt.MapClaims{"exp": testNow.Add(d).Unix()}) }
	v := newTestVerifier(t, Config{Secret: testSecret})
	runVerifyCases(t, v, []verifyCase{
		{name: "24 h", header: bearer(at(24 * time.Hour)), want: ada},
		{name: "24 h and the leeway", header: bearer(at(24*time.Hour + time.Minute)), want: ada},
		{name: "24 h, the leeway and a second", header: bearer(at(24*time.Hour + 61*time.Second)),
			wantErr: "The bearer token's exp (expiration) is 2026-03-05T05:07:08Z, more than 24h from now; this service accepts tokens that expire within 24h."},
		{name: "year 9999", header: bearer(tokenClaims(jwt.MapClaims{"exp": time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()})),
			wantErr: "The bearer token's exp (expiration) is 9999-12-31T23:59:59Z, more than 24h from now; this service accepts tokens that expire within 24h."},
		{name: "year 9999 without iat", header: bearer(tokenClaims(jwt.MapClaims{"iat": nil, "exp": time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()})),
			wantErr: "The bearer token's exp (expiration) is 9999-12-31T23:59:59Z, more than 24h from now; this service accepts tokens that expire within 24h."},
		// Counted from now, not from iat: a long-lived token in its last day is accepted.
		{name: "issued 30 days ago, expiring in an hour", header: bearer(tokenClaims(jwt.MapClaims{"iat": testNow.Add(-30 * 24 * time.Hour).Unix()})), want: ada},
	})

	short := newTestVerifier(t, Config{Secret: testSecret, MaxLifetime: 90 * time.Minute})
	runVerifyCases(t, short, []verifyCase{
		{name: "an hour, under a 90 min maximum", header: bearer(at(time.Hour)), want: ada},
		{name: "two hours, over a 90 min maximum", header: bearer(at(2 * time.Hour)),
			wantErr: "The bearer token's exp (expiration) is 2026-03-04T07:06:07Z, more than 1h30m from now; this service accepts tokens that expire within 1h30m."},
	})

	if _, err := NewVerifier(t.Context(), Config{Secret: testSecret, MaxLifetime: -time.Hour}); err == nil || err.Error() != "auth: negative maximum token lifetime -1h0m0s" {
		t.Errorf("a negative maximum lifetime: %v", err)
	}
}

// In development mode the secret is new at every start, so a token from an earlier run has a signature that
// is not valid: the refusal says so.
func TestVerifyInDevelopmentModeExplainsABadSignature(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, Config{Secret: testSecret, Development: true})
	earlier := "Bearer " + signHS(t, jwt.SigningMethodHS256, []byte("the-secret-of-an-earlier-run-of-serve"), tokenClaims(nil))
	runVerifyCases(t, v, []verifyCase{
		{name: "the current secret", header: "Bearer " + signHS(t, jwt.SigningMethodHS256, testSecret, tokenClaims(nil)), want: ada},
		{name: "another secret", header: earlier, wantErr: "The bearer token's signature is not valid. caseops serve runs in development mode " +
			"(no JWT secret or JWKS URL is set), whose signing secret changes at every restart: use the development token it printed when it last started."},
		{name: "expired", header: "Bearer " + signHS(t, jwt.SigningMethodHS256, testSecret, tokenClaims(jwt.MapClaims{"exp": testNow.Add(-time.Hour).Unix()})),
			wantErr: "The bearer token has expired."},
	})
}
