package auth

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/caseops/caseops/store/redact"
)

// newJWKSKeyfunc caches the keys at cfg.JWKSURL, refreshes them hourly until ctx ends, and refetches them when a
// token names an unknown kid, at most once per cfg.RefetchInterval so a flood of made-up kids cannot flood the key
// server. A lookup waits for the next refetch only if it is due within interval+jwksFetchTimeout and within the
// lookup's own deadline, and is refused at once otherwise: a flood leaves a few lookups waiting, never a queue.
//
// The returned health reports whether the latest fetch failed: while the key server is unreachable, a token
// naming a key we do not have cannot be judged, and is answered 503 rather than 401.
func newJWKSKeyfunc(ctx context.Context, cfg Config) (func(context.Context) jwt.Keyfunc, *jwksHealth, error) {
	if err := checkJWKSURL(cfg.JWKSURL); err != nil {
		return nil, nil, err
	}
	interval := cfg.RefetchInterval
	if interval <= 0 {
		interval = defaultRefetchInterval
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: jwksFetchTimeout}
	}
	health := &jwksHealth{}
	watched := *client
	watched.Transport = &watchedTransport{base: client.Transport, health: health}
	client = &watched
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	k, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKSURL}, keyfunc.Override{
		Client:            client,
		HTTPTimeout:       jwksFetchTimeout,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(interval), 1),
		// The library's deadline for waiting its turn also bounds the refetch that follows.
		RateLimitWaitMax: interval + jwksFetchTimeout,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				logger.WarnContext(ctx, "auth: cannot fetch the JWKS; keeping the keys already cached",
					"url", redact.URL(u), "error", redact.Text(err.Error(), u))
			}
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("auth: JWKS %s: %s", redact.URL(cfg.JWKSURL), redact.Text(err.Error(), cfg.JWKSURL))
	}
	return k.KeyfuncCtx, health, nil
}

// jwksHealth remembers whether the latest JWKS fetch failed.
type jwksHealth struct{ failing atomic.Bool }

// watchedTransport records the outcome of each JWKS fetch in health: a transport error or a status other
// than 200 is a failure, unless the fetch was cancelled by whoever asked for it.
type watchedTransport struct {
	base   http.RoundTripper // nil: http.DefaultTransport
	health *jwksHealth
}

func (t *watchedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(r)
	if err != nil && r.Context().Err() != nil {
		// The caller gave up (its request ended or timed out): that says nothing about the key server.
		return resp, err
	}
	t.health.failing.Store(err != nil || resp.StatusCode != http.StatusOK)
	return resp, err
}
