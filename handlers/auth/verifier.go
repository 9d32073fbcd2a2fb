// Package auth verifies the bearer tokens caseops accepts and mints the ones it hands out in development,
// following CONTRACT §4: Microsoft identity platform claims, HS256 with a shared secret or RS256/ES256 from a JWKS.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/caseops/caseops/store/redact"
)

const (
	// MinSecretBytes is the shortest HS256 secret accepted: RFC 7518 §3.2 asks for a key as long as the hash.
	MinSecretBytes = 32
	// MaxTokenBytes caps a bearer token before it is decoded, so an oversized header costs nothing.
	MaxTokenBytes = 16 << 10
	// DefaultMaxLifetime is how far in the future a token's exp may be, by default: a token that leaks, or an
	// exp in the year 9999, stops working within a day.
	DefaultMaxLifetime = 24 * time.Hour

	defaultLeeway          = 60 * time.Second
	defaultRefetchInterval = 5 * time.Second
	jwksFetchTimeout       = 10 * time.Second
)

// Config says which tokens a Verifier accepts.
type Config struct {
	Secret          []byte           // HS256 key (CASEOPS_JWT_SECRET); mutually exclusive with JWKSURL
	JWKSURL         string           // RS256/ES256 keys (CASEOPS_JWKS_URL)
	Issuer          string           // checked when non-empty
	Audience        string           // checked when non-empty
	Leeway          time.Duration    // clock skew allowed on exp and nbf; default 60s
	RefetchInterval time.Duration    // min gap between unknown-kid refetches, default 5s
	HTTPClient      *http.Client     // for JWKS; default a client with a 10 s timeout
	Now             func() time.Time // for tests; default time.Now
	Logger          *slog.Logger     // JWKS fetch failures; default slog.Default()
	MaxLifetime     time.Duration    // the latest exp accepted is now + MaxLifetime + Leeway; default DefaultMaxLifetime
	Development     bool             // Secret is random for this run of serve: a bad signature says so
}

// Error is why a bearer token was refused. Message is safe to show a client: it never contains the token.
type Error struct {
	Message string
	err     error // the library's reason, for logs
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.err }

func refuse(message string, err error) *Error { return &Error{Message: message, err: err} }

// ErrKeysUnavailable is Verify's answer to a token naming a signing key the verifier does not have while the
// JWKS cannot be fetched: the token may well be good, so it is not refused, and the caller should retry.
var ErrKeysUnavailable = errors.New("auth: the token's signing key is not cached and the JWKS cannot be fetched")

// Verifier checks bearer tokens. It is safe for concurrent use.
type Verifier struct {
	parser           *jwt.Parser
	keyfunc          func(ctx context.Context) jwt.Keyfunc
	algs             []string
	issuer, audience string
	leeway           time.Duration
	maxLifetime      time.Duration
	development      bool
	now              func() time.Time
	cache            *tokenCache // nil with a JWKS: a withdrawn key must stop working as soon as it is refetched
	jwks             *jwksHealth // nil with a secret
}

// NewVerifier checks cfg and, for a JWKS, starts the key cache; background refreshes stop when ctx ends.
// A JWKS that cannot be fetched yet does not fail NewVerifier: the fetch is retried when a token names an unknown kid.
func NewVerifier(ctx context.Context, cfg Config) (*Verifier, error) {
	if cfg.Leeway == 0 {
		cfg.Leeway = defaultLeeway
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxLifetime == 0 {
		cfg.MaxLifetime = DefaultMaxLifetime
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("auth: negative leeway %s", cfg.Leeway)
	}
	if cfg.MaxLifetime < 0 {
		return nil, fmt.Errorf("auth: negative maximum token lifetime %s", cfg.MaxLifetime)
	}
	v := &Verifier{issuer: cfg.Issuer, audience: cfg.Audience, leeway: cfg.Leeway, maxLifetime: cfg.MaxLifetime,
		development: cfg.Development, now: cfg.Now}
	switch {
	case len(cfg.Secret) > 0 && cfg.JWKSURL != "":
		return nil, errors.New("auth: a JWT secret and a JWKS URL are mutually exclusive; set one")
	case len(cfg.Secret) > 0:
		if len(cfg.Secret) < MinSecretBytes {
			return nil, fmt.Errorf("auth: the JWT secret has %d bytes; HS256 needs at least %d", len(cfg.Secret), MinSecretBytes)
		}
		secret := cfg.Secret
		v.algs = []string{jwt.SigningMethodHS256.Alg()}
		v.cache = &tokenCache{}
		v.keyfunc = func(context.Context) jwt.Keyfunc {
			return func(*jwt.Token) (any, error) { return secret, nil }
		}
	case cfg.JWKSURL != "":
		kf, health, err := newJWKSKeyfunc(ctx, cfg)
		if err != nil {
			return nil, err
		}
		v.jwks = health
		v.algs = []string{jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg()}
		v.keyfunc = kf
	default:
		return nil, errors.New("auth: neither a JWT secret nor a JWKS URL is set")
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(v.algs),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(cfg.Now),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("auth: JWKS URL %s: %s", redact.URL(raw), redact.Text(err.Error(), raw))
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("auth: JWKS URL %q is not an absolute http(s) URL", redact.URL(raw))
	}
	return nil
}

// Verify checks the value of an Authorization header and returns the principal it names.
// Every refusal is an *Error. A token whose key is unknown while the JWKS cannot be fetched is not refused:
// its error is ErrKeysUnavailable (wrapping the *Error it would otherwise have been).
func (v *Verifier) Verify(ctx context.Context, authorizationHeader string) (Principal, error) {
	token, refused := bearerToken(authorizationHeader)
	if refused != nil {
		return Principal{}, refused
	}
	now := v.now()
	if p, ok := v.cache.get(token, now); ok {
		return p, nil
	}
	if refusal := v.checkUnique(token); refusal != nil {
		return Principal{}, refusal
	}
	var c claims
	parsed, err := v.parser.ParseWithClaims(token, &c, v.keyfunc(ctx))
	if err != nil {
		refusal := v.explain(parsed, &c, err)
		if errors.Is(err, jwt.ErrTokenUnverifiable) && v.jwks != nil && v.jwks.failing.Load() {
			return Principal{}, fmt.Errorf("%w: %w", ErrKeysUnavailable, refusal)
		}
		return Principal{}, refusal
	}
	if refusal := v.checkToken(parsed, &c); refusal != nil {
		return Principal{}, refusal
	}
	p := c.principal()
	entry := cachedToken{principal: p, validUntil: now.Add(cacheTTL)}
	if exp := c.ExpiresAt.Add(v.leeway); exp.Before(entry.validUntil) {
		entry.validUntil = exp
	}
	if c.NotBefore != nil {
		entry.validFrom = c.NotBefore.Add(-v.leeway)
	}
	v.cache.put(token, entry)
	return p, nil
}

func bearerToken(header string) (string, *Error) {
	header = strings.TrimSpace(header)
	if header == "" {
		return "", refuse("The request has no Authorization header.", nil)
	}
	scheme, token, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", refuse("The Authorization header must use the Bearer scheme.", nil)
	}
	token = strings.TrimSpace(token)
	switch {
	case token == "":
		return "", refuse("The Authorization header has no bearer token.", nil)
	case len(token) > MaxTokenBytes:
		return "", refuse(fmt.Sprintf("The bearer token is longer than %d bytes.", MaxTokenBytes), nil)
	}
	return token, nil
}

// explain turns the parser's error into a message a client may read. Past ErrTokenMalformed the parser always
// returns the token, and it checks claims only once the signature holds, so c can say which claim is missing.
func (v *Verifier) explain(parsed *jwt.Token, c *claims, err error) *Error {
	if parsed == nil || errors.Is(err, jwt.ErrTokenMalformed) {
		return refuse("The bearer token is malformed.", err)
	}
	// The parser refuses other algorithms (none, or HS256 keyed with a public key) before it looks for a key.
	if alg, _ := parsed.Header["alg"].(string); !slices.Contains(v.algs, alg) {
		return refuse(fmt.Sprintf("The bearer token must be signed with %s.", strings.Join(v.algs, " or ")), err)
	}
	switch {
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return refuse("The bearer token's signing key is not known.", err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid) && v.development:
		return refuse("The bearer token's signature is not valid. caseops serve runs in development mode (no JWT secret or JWKS URL "+
			"is set), whose signing secret changes at every restart: use the development token it printed when it last started.", err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return refuse("The bearer token's signature is not valid.", err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return refuse("The bearer token has expired.", err)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return refuse("The bearer token is not valid yet (nbf).", err)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && c.ExpiresAt == nil:
		return refuse("The bearer token has no exp (expiration) claim.", err)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer), errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && v.issuer != "" && c.Issuer == "":
		return refuse("The bearer token was not issued by the expected issuer (iss).", err)
	case errors.Is(err, jwt.ErrTokenInvalidAudience), errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && v.audience != "" && len(c.Audience) == 0:
		return refuse("The bearer token is not meant for this service (aud).", err)
	}
	return refuse("The bearer token is not valid.", err)
}
