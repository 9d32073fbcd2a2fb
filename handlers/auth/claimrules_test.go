package auth

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// signRaw signs a header and payload given as JSON text, for tokens encoding/json would not write: bytes that are
// not UTF-8 (json.Marshal replaces them) or lone surrogate escapes.
func signRaw(t *testing.T, header, payload string) string {
	t.Helper()
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	sig, err := jwt.SigningMethodHS256.Sign(signing, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + enc.EncodeToString(sig)
}

// rawPayload is tokenClaims(nil) as JSON text with claim's value replaced by the JSON text value.
func rawPayload(claim, value string) string {
	c := map[string]string{"tid": `"tenant-1"`, "scp": `"eDiscovery.Read.All"`, "oid": `"user-1"`, "name": `"Ada"`}
	c[claim] = value
	parts := []string{`"exp":` + strconv.FormatInt(testNow.Add(time.Hour).Unix(), 10)}
	for name, v := range c {
		parts = append(parts, `"`+name+`":`+v)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func TestVerifyRefusesClaimsTheStoreCannotHold(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, Config{Secret: testSecret})
	bearer := func(c jwt.MapClaims) string {
		return "Bearer " + signHS(t, jwt.SigningMethodHS256, testSecret, c)
	}
	raw := func(claim, value string) string {
		return "Bearer " + signRaw(t, `{"alg":"HS256","typ":"JWT"}`, rawPayload(claim, value))
	}
	tenant := func(tid string) Principal {
		p := ada
		p.TenantID = tid
		return p
	}
	user := func(id, name string) Principal {
		p := ada
		p.User = &Identity{ID: id, DisplayName: name}
		return p
	}
	long := strings.Repeat("é", 1024) // two bytes a character: the limits count characters, as Postgres does
	cases := []verifyCase{
		{name: "tid of 256 characters", header: bearer(tokenClaims(jwt.MapClaims{"tid": long[:2*256]})), want: tenant(long[:2*256])},
		{name: "tid of 257 characters", header: bearer(tokenClaims(jwt.MapClaims{"tid": long[:2*257]})), wantErr: "The bearer token's tid claim must be at most 256 characters long."},
		{name: "tid with U+0000", header: bearer(tokenClaims(jwt.MapClaims{"tid": "tenant\x00-1"})), wantErr: "The bearer token's tid claim must not contain the character U+0000."},
		{name: "tid of U+0000 alone", header: bearer(tokenClaims(jwt.MapClaims{"tid": "\x00"})), wantErr: "The bearer token's tid claim must not contain the character U+0000."},
		{name: "tid with a byte that is not UTF-8", header: raw("tid", "\"tenant-\xff\""), wantErr: "The bearer token's tid claim must be valid UTF-8."},
		{name: "tid with a lone high surrogate", header: raw("tid", `"tenant-\ud800"`), wantErr: "The bearer token's tid claim must be valid UTF-8."},
		{name: "tid with a lone low surrogate", header: raw("tid", `"tenant-\udc00\ud800"`), wantErr: "The bearer token's tid claim must be valid UTF-8."},
		{name: "tid with a high surrogate and no low one", header: raw("tid", `"\ud83d\u0041"`), wantErr: "The bearer token's tid claim must be valid UTF-8."},
		{name: "tid with a surrogate pair", header: raw("tid", `"tenant-\ud83d\ude00"`), want: tenant("tenant-😀")},
		{name: "tid with an escaped backslash before u", header: raw("tid", `"tenant-\\ud800"`), want: tenant(`tenant-\ud800`)},
		{name: "tid with U+FFFD itself", header: raw("tid", `"tenant-\ufffd-`+"\uFFFD"+`"`), want: tenant("tenant-\uFFFD-\uFFFD")},
		{name: "oid of 1024 characters", header: bearer(tokenClaims(jwt.MapClaims{"oid": long})), want: user(long, "Ada")},
		{name: "name of 1024 characters", header: bearer(tokenClaims(jwt.MapClaims{"name": long})), want: user("user-1", long)},
		{name: "name ending in half a UTF-8 sequence", header: raw("name", "\"Ada \xc3\""), wantErr: "The bearer token's name claim must be valid UTF-8."},
		{name: "oid with a lone surrogate", header: raw("oid", `"\udfff"`), wantErr: "The bearer token's oid claim must be valid UTF-8."},
	}
	for _, claim := range []string{"oid", "name", "azp", "appid", "app_displayname"} {
		cases = append(cases,
			verifyCase{name: claim + " with U+0000", header: bearer(tokenClaims(jwt.MapClaims{claim: "x\x00"})),
				wantErr: "The bearer token's " + claim + " claim must not contain the character U+0000."},
			verifyCase{name: claim + " of 1025 characters", header: bearer(tokenClaims(jwt.MapClaims{claim: long + "x"})),
				wantErr: "The bearer token's " + claim + " claim must be at most 1024 characters long."},
			verifyCase{name: claim + " with a byte that is not UTF-8", header: raw(claim, "\"\x80\""),
				wantErr: "The bearer token's " + claim + " claim must be valid UTF-8."},
		)
	}
	runVerifyCases(t, v, cases)
}

func TestVerifyRefusesNumericDatesThatAreNotNumbers(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, Config{Secret: testSecret})
	bearer := func(c jwt.MapClaims) string {
		return "Bearer " + signHS(t, jwt.SigningMethodHS256, testSecret, c)
	}
	exp, past := strconv.FormatInt(testNow.Add(time.Hour).Unix(), 10), strconv.FormatInt(testNow.Add(-time.Hour).Unix(), 10)
	runVerifyCases(t, v, []verifyCase{
		{name: "exp as a string", header: bearer(tokenClaims(jwt.MapClaims{"exp": exp})), wantErr: "The bearer token's exp claim must be a number (seconds since 1970-01-01)."},
		{name: "exp as null", header: bearer(tokenClaims(jwt.MapClaims{"exp": json.RawMessage("null")})), wantErr: "The bearer token has no exp (expiration) claim."},
		{name: "nbf as a string", header: bearer(tokenClaims(jwt.MapClaims{"nbf": past})), wantErr: "The bearer token's nbf claim must be a number (seconds since 1970-01-01)."},
		{name: "nbf as null", header: bearer(tokenClaims(jwt.MapClaims{"nbf": json.RawMessage("null")})), wantErr: "The bearer token's nbf claim must be a number (seconds since 1970-01-01)."},
		{name: "iat as a string", header: bearer(tokenClaims(jwt.MapClaims{"iat": past})), wantErr: "The bearer token's iat claim must be a number (seconds since 1970-01-01)."},
		{name: "exp as a string that is no number", header: bearer(tokenClaims(jwt.MapClaims{"exp": "tomorrow"})), wantErr: "The bearer token is malformed."},
		{name: "numbers with a fraction and an exponent", header: bearer(tokenClaims(jwt.MapClaims{"exp": json.Number(exp + ".5"), "nbf": json.Number("1.5e9")})), want: ada},
	})
}

func TestVerifyRefusesCriticalExtensions(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, Config{Secret: testSecret})
	payload := rawPayload("tid", `"tenant-1"`)
	const refused = "The bearer token's header has a crit (critical extensions) member; this service supports no JWS extensions."
	runVerifyCases(t, v, []verifyCase{
		{name: "crit names an unknown extension", header: "Bearer " + signRaw(t, `{"alg":"HS256","typ":"JWT","crit":["exp-x"],"exp-x":1}`, payload), wantErr: refused},
		{name: "crit names a registered header", header: "Bearer " + signRaw(t, `{"alg":"HS256","crit":["b64"],"b64":true}`, payload), wantErr: refused},
		{name: "crit is empty", header: "Bearer " + signRaw(t, `{"alg":"HS256","crit":[]}`, payload), wantErr: refused},
		{name: "crit is null", header: "Bearer " + signRaw(t, `{"alg":"HS256","crit":null}`, payload), wantErr: refused},
		{name: "an unknown header member that is not critical", header: "Bearer " + signRaw(t, `{"alg":"HS256","exp-x":1}`, payload), want: ada},
	})
}

func TestCheckTenantAndIdentity(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("界", 1025)
	cases := []struct {
		name, value string
		check       func(string) error
		wantErr     string // empty: accepted
	}{
		{"tenant", "contoso", CheckTenant, ""},
		{"empty tenant", "", CheckTenant, "must not be empty"},
		{"tenant of 256 characters", long[:3*256], CheckTenant, ""},
		{"tenant of 257 characters", long[:3*257], CheckTenant, "must be at most 256 characters long"},
		{"tenant with U+0000", "a\x00", CheckTenant, "must not contain the character U+0000"},
		{"tenant not UTF-8", "a\xff", CheckTenant, "must be valid UTF-8"},
		{"empty identity: absent", "", CheckIdentity, ""},
		{"identity of 1024 characters", long[:3*1024], CheckIdentity, ""},
		{"identity of 1025 characters", long, CheckIdentity, "must be at most 1024 characters long"},
		{"identity with U+0000", "\x00", CheckIdentity, "must not contain the character U+0000"},
		{"identity not UTF-8", "\xe7\x95", CheckIdentity, "must be valid UTF-8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.check(tc.value)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr) {
				t.Fatalf("= %v, want %q", err, tc.wantErr)
			}
		})
	}
}
