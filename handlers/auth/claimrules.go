package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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
