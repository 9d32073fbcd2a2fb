package auth

import (
	"context"
	"testing"
	"time"
)

// A cached verification is reused only while the token itself is valid: never before nbf or after exp
// (each with the leeway), and never for longer than cacheTTL.
func TestCacheNeverOutlivesTheToken(t *testing.T) {
	t.Parallel()
	secret := []byte("cache-test-secret-of-at-least-32-bytes")
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := now
	v, err := NewVerifier(context.Background(), Config{Secret: secret, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := Mint(secret, MintOptions{Tenant: "t", Scopes: PermissionRead, TTL: 30 * time.Second, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	check := func(at time.Time, wantOK bool) {
		t.Helper()
		clock = at
		_, err := v.Verify(context.Background(), "Bearer "+tok)
		if (err == nil) != wantOK {
			t.Errorf("at %s: err %v, want ok=%v", at.Sub(now), err, wantOK)
		}
	}
	check(now, true)                       // verified and cached
	check(now.Add(89*time.Second), true)   // exp (30 s) + leeway (60 s) not yet reached
	check(now.Add(90*time.Second), false)  // the cache refuses exactly when Verify would
	check(now.Add(-61*time.Second), false) // before nbf - leeway

	long, err := Mint(secret, MintOptions{Tenant: "t", Scopes: PermissionRead, TTL: time.Hour, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	clock = now
	if _, err := v.Verify(context.Background(), "Bearer "+long); err != nil {
		t.Fatal(err)
	}
	if _, ok := v.cache.get(long, now.Add(cacheTTL-time.Second)); !ok {
		t.Errorf("a fresh entry was not reused")
	}
	if p, ok := v.cache.get(long, now.Add(cacheTTL)); ok {
		t.Errorf("an entry outlived cacheTTL: %+v", p)
	}
}
