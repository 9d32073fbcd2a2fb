package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/caseops/caseops/handlers/jsontext"
)

const (
	// MaxTenantChars is the longest tid: case_operations.tenant_id holds 1 to 256 characters.
	MaxTenantChars = 256
	// MaxIdentityChars is the longest oid, name, azp, appid or app_displayname: CONTRACT §2 caps identity strings.
	MaxIdentityChars = 1024
)

// CheckTenant returns nil when tenant can be a token's tid, and otherwise the rule it breaks, worded to follow
// the value's name ("must not be empty"). Verify and Mint hold every tid to it, so no token reaches the store
// with a tenant the database would refuse.
func CheckTenant(tenant string) error {
	if tenant == "" {
		return errors.New("must not be empty")
	}
	return checkText(tenant, MaxTenantChars)
}

// CheckIdentity is CheckTenant for the claims that name the caller (oid, name, azp, appid, app_displayname),
// which are stored in createdBy and the history. Empty means absent, so it is allowed.
func CheckIdentity(value string) error {
	return checkText(value, MaxIdentityChars)
}

// checkText applies the rules Postgres imposes on text: valid UTF-8 without U+0000, with max counted in
// characters (code points), as length() counts them.
func checkText(s string, max int) error {
	switch {
	case !utf8.ValidString(s):
		return errors.New("must be valid UTF-8")
	case strings.ContainsRune(s, 0):
		return errors.New("must not contain the character U+0000")
	case utf8.RuneCountInString(s) > max:
		return fmt.Errorf("must be at most %d characters long", max)
	}
	return nil
}

// checkToken refuses a token the parser accepted but the service must not take. The claims are read again
// from the raw payload because encoding/json hides what matters here: it quietly turns bytes that are not
// UTF-8 into U+FFFD, and the library's NumericDate takes a string holding a number as that number.
func (v *Verifier) checkToken(token *jwt.Token, c *claims) *Error {
	// RFC 7515 §4.1.11: a recipient must refuse a JWS whose crit names an extension it does not understand,
	// and caseops understands none. The library does not look at crit.
	if _, ok := token.Header["crit"]; ok {
		return refuse("The bearer token's header has a crit (critical extensions) member; this service supports no JWS extensions.", nil)
	}
	raw, err := v.rawClaims(token.Raw)
	if err != nil {
		return refuse("The bearer token is malformed.", err)
	}
	// RFC 7519 §2: a NumericDate is a JSON number of seconds; "exp": "1700000000" is not one.
	for _, name := range []string{"exp", "nbf", "iat"} {
		if value, ok := raw[name]; ok && !isJSONNumber(value) {
			return refuse(fmt.Sprintf("The bearer token's %s claim must be a number (seconds since 1970-01-01).", name), nil)
		}
	}
	// Counted from now, not from iat, which a token need not carry: whatever a token says of its issue, it is
	// never accepted more than maxLifetime (and the leeway for clock skew) before it expires.
	if latest := v.now().Add(v.maxLifetime + v.leeway); c.ExpiresAt.After(latest) {
		return refuse(fmt.Sprintf("The bearer token's exp (expiration) is %s, more than %s from now; this service accepts tokens that expire within %s.",
			c.ExpiresAt.UTC().Format(time.RFC3339), shortDuration(v.maxLifetime), shortDuration(v.maxLifetime)), nil)
	}
	if c.TenantID == "" {
		return refuse("The token has no tid (tenant) claim.", nil)
	}
	for _, claim := range []struct {
		name, value string
		check       func(string) error
	}{
		{"tid", c.TenantID, CheckTenant},
		{"oid", c.ObjectID, CheckIdentity},
		{"name", c.Name, CheckIdentity},
		{"azp", c.AuthorizedParty, CheckIdentity},
		{"appid", c.AppID, CheckIdentity},
		{"app_displayname", c.AppDisplayName, CheckIdentity},
	} {
		problem := claim.check(claim.value)
		if value, ok := raw[claim.name]; ok && !isUTF8String(value) {
			problem = errors.New("must be valid UTF-8")
		}
		if problem != nil {
			return refuse(fmt.Sprintf("The bearer token's %s claim %s.", claim.name, problem), nil)
		}
	}
	return nil
}

// checkUnique refuses a token whose header or claims name a member twice (RFC 7515 §4, RFC 7519 §4). A JSON
// decoder keeps the last, so {"alg":"none","alg":"HS256"} would pass for whichever value suits, as request
// bodies would (handlers/decode.go refuses those too). A part that does not decode is left to the parser.
func (v *Verifier) checkUnique(token string) *Error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil
	}
	for _, part := range []struct{ segment, what, rule string }{
		{parts[0], "header names", "each header member"},
		{parts[1], "claims name", "each claim"},
	} {
		text, err := v.parser.DecodeSegment(part.segment)
		if err != nil {
			return nil
		}
		if name := repeatedName(json.NewDecoder(bytes.NewReader(text))); name != "" {
			if len(name) > 64 {
				name = name[:64] + "…"
			}
			return refuse(fmt.Sprintf("The bearer token's %s %q more than once; %s may appear only once.", part.what, name, part.rule), nil)
		}
	}
	return nil
}

// repeatedName reads one JSON value from dec and returns a name that appears twice in one of its objects, at
// any depth; "" when there is none, or when the text is not JSON.
func repeatedName(dec *json.Decoder) string {
	tok, err := dec.Token()
	if err != nil {
		return ""
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return ""
			}
			name, _ := key.(string)
			if seen[name] {
				return name
			}
			seen[name] = true
			if name := repeatedName(dec); name != "" {
				return name
			}
		}
	case json.Delim('['):
		for dec.More() {
			if name := repeatedName(dec); name != "" {
				return name
			}
		}
	default:
		return ""
	}
	_, _ = dec.Token() // the closing brace or bracket; an error there shows in the next Token
	return ""
}

// shortDuration writes d as people do: 24h, 1h30m, 90s rather than 24h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// rawClaims returns each claim of a token the parser has already decoded, as its JSON text.
func (v *Verifier) rawClaims(token string) (map[string]json.RawMessage, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("auth: a JWS has three parts")
	}
	payload, err := v.parser.DecodeSegment(parts[1])
	if err != nil {
		return nil, fmt.Errorf("auth: decode claims: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(payload, &raw); err != nil {
		return nil, fmt.Errorf("auth: decode claims: %w", err)
	}
	return raw, nil
}

func isJSONNumber(value json.RawMessage) bool {
	value = bytes.TrimSpace(value)
	return len(value) > 0 && (value[0] == '-' || '0' <= value[0] && value[0] <= '9')
}

// isUTF8String reports whether a JSON value holds valid UTF-8: its bytes are UTF-8 and none of its \u escapes
// is half a surrogate pair, which no UTF-8 text can hold. A value that is not a string passes: its type was
// checked when the claims were decoded.
func isUTF8String(value json.RawMessage) bool {
	return utf8.Valid(value) && !jsontext.LoneSurrogate(value)
}
