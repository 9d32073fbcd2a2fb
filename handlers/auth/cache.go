package auth

import (
	"sync"
	"time"
)

const (
	// cacheEntries bounds the verified-token cache; when full it starts over, which costs one verification each.
	cacheEntries = 4096
	// cacheTTL bounds how long a verification is reused, so a key withdrawn from the JWKS stops working soon.
	cacheTTL = time.Minute
)

// tokenCache remembers HS256 tokens that verified, so a worker reporting progress many times a second pays for the
// signature and claims check once a minute, not on every request. An entry is reused only inside the window in
// which the token itself is valid (nbf and exp, with the leeway), so the cache never accepts what Verify would refuse.
type tokenCache struct {
	mu      sync.Mutex
	entries map[string]cachedToken
}

type cachedToken struct {
	principal  Principal
	validFrom  time.Time // nbf - leeway, or zero
	validUntil time.Time // the earlier of exp + leeway and the time it was cached + cacheTTL
}

func (c *tokenCache) get(token string, now time.Time) (Principal, bool) {
	if c == nil {
		return Principal{}, false
	}
	c.mu.Lock()
	e, ok := c.entries[token]
	c.mu.Unlock()
	if !ok || now.Before(e.validFrom) || !now.Before(e.validUntil) {
		return Principal{}, false
	}
	return e.principal, true
}

func (c *tokenCache) put(token string, e cachedToken) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= cacheEntries {
		c.entries = make(map[string]cachedToken, 64)
	}
	c.entries[token] = e
}
