package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultTokenTTL is how long a minted token lives when MintOptions.TTL is zero.
const DefaultTokenTTL = time.Hour

// MintOptions describe a token for `caseops token` and development mode.
type MintOptions struct {
	Tenant, Scopes, Roles            string // Scopes and Roles are space separated
	UserID, UserName, AppID, AppName string
	TTL                              time.Duration // default DefaultTokenTTL
	Now                              time.Time     // default time.Now()
	Issuer, Audience                 string        // set iss and aud when non-empty
}

// Mint signs an HS256 token shaped like a Microsoft identity platform token: a user is oid+name, an application
// azp+appid+app_displayname; Scopes become scp and Roles the roles array. A token may name both, as a delegated
// token names the user and the client application.
func Mint(secret []byte, o MintOptions) (string, error) {
	switch {
	case len(secret) < MinSecretBytes:
		return "", fmt.Errorf("auth: the JWT secret has %d bytes; HS256 needs at least %d", len(secret), MinSecretBytes)
	case o.Tenant == "":
		return "", errors.New("auth: a token needs a tenant")
	case o.TTL < 0:
		return "", fmt.Errorf("auth: negative token lifetime %s", o.TTL)
	case o.UserName != "" && o.UserID == "":
		return "", errors.New("auth: a user name needs a user id")
	case o.AppName != "" && o.AppID == "":
		return "", errors.New("auth: an application name needs an application id")
	}
	// The verifier would refuse what these rules refuse, so a token that breaks them is never handed out.
	if err := CheckTenant(o.Tenant); err != nil {
		return "", fmt.Errorf("auth: the tenant (tid) %w", err)
	}
	for _, identity := range []struct{ what, value string }{
		{"user id (oid)", o.UserID},
		{"user name (name)", o.UserName},
		{"application id (azp, appid)", o.AppID},
		{"application name (app_displayname)", o.AppName},
	} {
		if err := CheckIdentity(identity.value); err != nil {
			return "", fmt.Errorf("auth: the %s %w", identity.what, err)
		}
	}
	if o.TTL == 0 {
		o.TTL = DefaultTokenTTL
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    o.Issuer,
			ExpiresAt: jwt.NewNumericDate(o.Now.Add(o.TTL)),
			NotBefore: jwt.NewNumericDate(o.Now),
			IssuedAt:  jwt.NewNumericDate(o.Now),
		},
		TenantID:        o.Tenant,
		Scope:           strings.Join(strings.Fields(o.Scopes), " "),
		Roles:           strings.Fields(o.Roles),
		ObjectID:        o.UserID,
		Name:            o.UserName,
		AuthorizedParty: o.AppID,
		AppID:           o.AppID,
		AppDisplayName:  o.AppName,
	}
	switch {
	case o.UserID != "":
		c.IdentityType = "user"
	case o.AppID != "":
		c.IdentityType = "app"
	}
	if o.Audience != "" {
		c.Audience = jwt.ClaimStrings{o.Audience}
	}
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("auth: sign token: %w", err)
	}
	return token, nil
}

// NewDevSecret returns a random HS256 secret for a development-mode run.
func NewDevSecret() ([]byte, error) {
	secret := make([]byte, MinSecretBytes)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("auth: random secret: %w", err)
	}
	return secret, nil
}
