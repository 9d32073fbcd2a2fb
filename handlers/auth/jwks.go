package auth

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// newJWKSKeyfunc caches the keys at cfg.JWKSURL, refreshes them hourly until ctx ends, and refetches them when a
// token names an unknown kid, at most once per cfg.RefetchInterval so a flood of made-up kids cannot flood the key
// server. A lookup waits for the next refetch only if it is due within interval+jwksFetchTimeout and within the
// lookup's own deadline, and is refused at once otherwise: a flood leaves a few lookups waiting, never a queue.
func newJWKSKeyfunc(ctx context.Context, cfg Config) (func(context.Context) jwt.Keyfunc, error) {
	if err := checkJWKSURL(cfg.JWKSURL); err != nil {
		return nil, err
	}
	interval := cfg.RefetchInterval
	if interval <= 0 {
		interval = defaultRefetchInterval
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: jwksFetchTimeout}
	}
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
				logger.WarnContext(ctx, "auth: cannot fetch the JWKS; keeping the keys already cached", "url", u, "error", err)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("auth: JWKS: %w", err)
	}
	return k.KeyfuncCtx, nil
}
