package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/caseops/caseops/store/redact"
)

// newJWKSKeyfunc caches the keys at cfg.JWKSURL, refreshes them hourly until ctx ends, and refetches them when a
// token names an unknown kid, at most once per cfg.RefetchInterval (by cfg.Now) so a flood of made-up kids cannot
// flood the key server. Between refetches an unknown kid is refused at once; a lookup that finds a refetch under
// way waits for that one, so the first tokens signed with a rotated key are not refused.
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
	failed := func(err error) error {
		return fmt.Errorf("auth: JWKS %s: %s", redact.URL(cfg.JWKSURL), redact.Text(err.Error(), cfg.JWKSURL))
	}
	keys, err := jwkset.NewStorageFromHTTP(cfg.JWKSURL, jwkset.HTTPClientStorageOptions{
		Client:                    client,
		Ctx:                       ctx,
		HTTPTimeout:               jwksFetchTimeout,
		NoErrorReturnFirstHTTPReq: true,
		RefreshInterval:           time.Hour,
		RefreshErrorHandler: func(ctx context.Context, err error) {
			logger.WarnContext(ctx, "auth: cannot fetch the JWKS; keeping the keys already cached",
				"url", redact.URL(cfg.JWKSURL), "error", redact.Text(err.Error(), cfg.JWKSURL))
		},
	})
	if err != nil {
		return nil, nil, failed(err)
	}
	// The same keys, read through a client that refetches them for an unknown kid whenever it is asked to:
	// when it may be asked is decided here, by refetches, not by the library's limiter, which makes a lookup wait.
	refetching, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs:          map[string]jwkset.Storage{cfg.JWKSURL: keys},
		RefreshUnknownKID: rate.NewLimiter(rate.Inf, 1),
		RateLimitWaitMax:  jwksFetchTimeout, // bounds the refetch
	})
	if err != nil {
		return nil, nil, failed(err)
	}
	cached, err := keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: keys})
	if err != nil {
		return nil, nil, failed(err)
	}
	refetched, err := keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: refetching})
	if err != nil {
		return nil, nil, failed(err)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	turns := &refetches{interval: interval}
	return func(ctx context.Context) jwt.Keyfunc {
		return func(token *jwt.Token) (any, error) {
			key, err := cached.KeyfuncCtx(ctx)(token)
			if !errors.Is(err, jwkset.ErrKeyNotFound) {
				return key, err
			}
			lead, running := turns.begin(now())
			switch {
			case lead:
				defer turns.end()
				return refetched.KeyfuncCtx(ctx)(token)
			case running != nil:
				select {
				case <-running:
					return cached.KeyfuncCtx(ctx)(token)
				case <-ctx.Done():
				}
			}
			return nil, err
		}
	}, health, nil
}

// refetches spaces the refetches of the JWKS that unknown kids ask for by at least interval, and lets a lookup
// join the refetch under way rather than start another.
type refetches struct {
	interval time.Duration

	mu      sync.Mutex
	next    time.Time     // the earliest time of the next refetch; zero: at once
	running chan struct{} // closed when the refetch under way ends; nil when none is
}

// begin says whether a lookup at now leads a refetch (and must call end after it), or else the refetch under way
// it may wait for; with neither, the kid is unknown for now.
func (r *refetches) begin(now time.Time) (lead bool, running <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running != nil {
		return false, r.running
	}
	if now.Before(r.next) {
		return false, nil
	}
	r.next = now.Add(r.interval)
	r.running = make(chan struct{})
	return true, nil
}

func (r *refetches) end() {
	r.mu.Lock()
	defer r.mu.Unlock()
	close(r.running)
	r.running = nil
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
