package auth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// signingKey is an identity provider's key: it signs tokens and is published in the JWKS by kid.
type signingKey struct {
	kid     string
	method  jwt.SigningMethod
	private crypto.Signer
}

func newRSAKey(t *testing.T, kid string) signingKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{kid: kid, method: jwt.SigningMethodRS256, private: k}
}

func newECKey(t *testing.T, kid string) signingKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{kid: kid, method: jwt.SigningMethodES256, private: k}
}

// sign signs c with k, naming k.kid in the header unless kid is overridden ("" drops the header).
func (k signingKey) sign(t *testing.T, c jwt.Claims, kid ...string) string {
	t.Helper()
	token := jwt.NewWithClaims(k.method, c)
	token.Header["kid"] = k.kid
	if len(kid) > 0 {
		token.Header["kid"] = kid[0]
		if kid[0] == "" {
			delete(token.Header, "kid")
		}
	}
	s, err := token.SignedString(k.private)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (k signingKey) publicPEM(t *testing.T) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.private.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// keyServer serves a JWKS and counts the requests it gets.
type keyServer struct {
	*httptest.Server
	hits      atomic.Int64
	failFirst atomic.Bool // answer the next request with 503
	down      atomic.Bool // answer every request with 503

	mu   sync.Mutex
	jwks []byte
}

func newKeyServer(t *testing.T, keys ...signingKey) *keyServer {
	t.Helper()
	s := &keyServer{}
	s.publish(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if s.failFirst.CompareAndSwap(true, false) || s.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(s.jwks)
	}))
	t.Cleanup(s.Close)
	return s
}

// publish replaces the served key set, as an identity provider does when it rotates keys.
func (s *keyServer) publish(t *testing.T, keys ...signingKey) {
	t.Helper()
	body := jwksOf(t, keys...)
	s.mu.Lock()
	s.jwks = body
	s.mu.Unlock()
}

// jwksOf is the JWKS that publishes keys.
func jwksOf(t *testing.T, keys ...signingKey) []byte {
	t.Helper()
	set := jwkset.NewMemoryStorage()
	for _, k := range keys {
		alg := jwkset.AlgRS256
		if k.method == jwt.SigningMethodES256 {
			alg = jwkset.AlgES256
		}
		jwk, err := jwkset.NewJWKFromKey(k.private.Public(), jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{KID: k.kid, ALG: alg, USE: jwkset.UseSig},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := set.KeyWrite(t.Context(), jwk); err != nil {
			t.Fatal(err)
		}
	}
	body, err := set.JSONPublic(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func (s *keyServer) verifier(t *testing.T, cfg Config) *Verifier {
	t.Helper()
	cfg.JWKSURL = s.URL + "/discovery/v2.0/keys"
	cfg.Logger = slog.New(slog.DiscardHandler)
	return newTestVerifier(t, cfg)
}

// requestContext stands for a request's context under serve's default --request-timeout, which bounds a refetch.
// It is far longer than any step here takes, even on a loaded machine, so no test depends on how fast a fetch is.
func requestContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// testClock is a verifier's clock that moves only when the test moves it.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: testNow} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func assertHits(t *testing.T, s *keyServer, want int64) {
	t.Helper()
	if got := s.hits.Load(); got != want {
		t.Fatalf("the JWKS server got %d requests, want %d", got, want)
	}
}

func TestVerifyJWKS(t *testing.T) {
	t.Parallel()
	rsaKey, ecKey := newRSAKey(t, "rsa-1"), newECKey(t, "ec-1")
	impostor := newRSAKey(t, "rsa-1")
	s := newKeyServer(t, rsaKey, ecKey)
	v := s.verifier(t, Config{})
	good := tokenClaims(nil)
	runVerifyCases(t, v, []verifyCase{
		{name: "RS256", header: "Bearer " + rsaKey.sign(t, good), want: ada},
		{name: "ES256", header: "Bearer " + ecKey.sign(t, good), want: ada},
		{name: "RS256 without kid", header: "Bearer " + rsaKey.sign(t, good, ""), want: ada},
		{name: "RS256 expired", header: "Bearer " + rsaKey.sign(t, tokenClaims(jwt.MapClaims{"exp": testNow.Add(-time.Hour).Unix()})), wantErr: "The bearer token has expired."},
		{name: "RS256 without tid", header: "Bearer " + rsaKey.sign(t, tokenClaims(jwt.MapClaims{"tid": nil})), wantErr: "The token has no tid (tenant) claim."},
		{name: "another key under a published kid", header: "Bearer " + impostor.sign(t, good), wantErr: "The bearer token's signature is not valid."},
		{name: "RS256 naming the EC key's kid", header: "Bearer " + rsaKey.sign(t, good, "ec-1"), wantErr: "The bearer token's signing key is not known."},
		{name: "HS256 keyed with the RSA public key PEM", header: "Bearer " + signHSWithKid(t, rsaKey.publicPEM(t), "rsa-1", good), wantErr: "The bearer token must be signed with RS256 or ES256."},
		{name: "HS256 keyed with the RSA public key PEM, no kid", header: "Bearer " + signHS(t, jwt.SigningMethodHS256, rsaKey.publicPEM(t), good), wantErr: "The bearer token must be signed with RS256 or ES256."},
		{name: "alg none", header: "Bearer " + signNone(t, good), wantErr: "The bearer token must be signed with RS256 or ES256."},
	})
}

func signHSWithKid(t *testing.T, key []byte, kid string, c jwt.Claims) string {
	t.Helper()
	token := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	token.Header["kid"] = kid
	s, err := token.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWKSRotationIsPickedUp(t *testing.T) {
	t.Parallel()
	old, rotated := newRSAKey(t, "2026-01"), newECKey(t, "2026-02")
	s := newKeyServer(t, old)
	v := s.verifier(t, Config{}) // the default 5 s refetch interval
	assertHits(t, s, 1)

	verify := func(key signingKey, want Principal, wantErr string) {
		t.Helper()
		header := "Bearer " + key.sign(t, tokenClaims(nil))
		got, err := v.Verify(requestContext(t), header)
		assertVerified(t, header, got, err, want, wantErr)
	}
	verify(old, ada, "")
	assertHits(t, s, 1) // cached

	s.publish(t, rotated)
	verify(rotated, ada, "")
	assertHits(t, s, 2) // the new kid was fetched on demand

	// The old key was withdrawn; asking for it again within the interval fetches nothing.
	verify(old, Principal{}, "The bearer token's signing key is not known.")
	assertHits(t, s, 2)
	verify(rotated, ada, "")
	assertHits(t, s, 2)
}

func TestJWKSRefetchIntervalIsConfigurable(t *testing.T) {
	t.Parallel()
	first, second, third := newRSAKey(t, "k1"), newRSAKey(t, "k2"), newECKey(t, "k3")
	s := newKeyServer(t, first)
	clock := newTestClock()
	v := s.verifier(t, Config{RefetchInterval: 20 * time.Millisecond, Now: clock.Now})
	for i, key := range []signingKey{second, third} {
		s.publish(t, key)
		header := "Bearer " + key.sign(t, tokenClaims(nil))
		got, err := v.Verify(requestContext(t), header)
		assertVerified(t, header, got, err, ada, "")
		assertHits(t, s, int64(i)+2)
		clock.Advance(20 * time.Millisecond)
	}

	// Within the interval an unknown kid is refused without a fetch; once it has passed, it is fetched.
	fourth := newECKey(t, "k4")
	s.publish(t, fourth)
	clock.Advance(-time.Millisecond)
	header := "Bearer " + fourth.sign(t, tokenClaims(nil))
	got, err := v.Verify(requestContext(t), header)
	assertVerified(t, header, got, err, Principal{}, "The bearer token's signing key is not known.")
	assertHits(t, s, 3)
	clock.Advance(time.Millisecond)
	got, err = v.Verify(requestContext(t), header)
	assertVerified(t, header, got, err, ada, "")
	assertHits(t, s, 4)
}

// A token naming an unknown kid soon after a refetch is refused at once: it does not wait for the next
// refetch its request's deadline would allow (the bug was a 5 s wait for every such 401).
func TestJWKSUnknownKidAfterARefetchIsRefusedAtOnce(t *testing.T) {
	t.Parallel()
	key := newRSAKey(t, "real")
	s := newKeyServer(t, key)
	clock := newTestClock()
	v := s.verifier(t, Config{Now: clock.Now}) // the default 5 s refetch interval
	// Longer than the interval, as a request's timeout may be.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	header := "Bearer " + key.sign(t, tokenClaims(nil), "made-up-1")
	got, err := v.Verify(ctx, header)
	assertVerified(t, header, got, err, Principal{}, "The bearer token's signing key is not known.")
	assertHits(t, s, 2) // refetched once

	header = "Bearer " + key.sign(t, tokenClaims(nil), "made-up-2")
	start := time.Now()
	got, err = v.Verify(ctx, header)
	took := time.Since(start)
	assertVerified(t, header, got, err, Principal{}, "The bearer token's signing key is not known.")
	assertHits(t, s, 2) // not refetched: the interval has not passed
	if took >= defaultRefetchInterval {
		t.Fatalf("the refusal took %s; want it at once, not after the refetch interval", took)
	}
}

func TestJWKSUnknownKidFloodIsRateLimited(t *testing.T) {
	t.Parallel()
	key := newRSAKey(t, "real")
	s := newKeyServer(t, key)
	v := s.verifier(t, Config{RefetchInterval: time.Minute})
	assertHits(t, s, 1)

	const flood = 200
	errs := make([]error, flood)
	var wg sync.WaitGroup
	for i := range flood {
		// Signed before the request's deadline starts: 200 RSA signatures under -race on a busy machine can take longer.
		header := "Bearer " + key.sign(t, tokenClaims(nil), fmt.Sprintf("made-up-%d-%s", i, rand.Text()))
		wg.Go(func() {
			_, errs[i] = v.Verify(requestContext(t), header)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err == nil || err.Error() != "The bearer token's signing key is not known." {
			t.Fatalf("token %d with an unknown kid: error %v", i, err)
		}
	}
	assertHits(t, s, 2) // the first fetch and one refetch for the whole flood

	header := "Bearer " + key.sign(t, tokenClaims(nil))
	got, err := v.Verify(requestContext(t), header)
	assertVerified(t, header, got, err, ada, "")
	assertHits(t, s, 2)
}

// A lookup that finds a refetch under way waits for it instead of being refused: the first requests signed
// with a rotated key, arriving together, all verify, with one fetch. In a synctest bubble, so "under way" and
// "waiting" are facts the test waits for, not guesses about timing.
func TestJWKSLookupDuringARefetchWaitsForIt(t *testing.T) {
	t.Parallel()
	old, rotated := newRSAKey(t, "2026-01"), newRSAKey(t, "2026-02")
	header := "Bearer " + rotated.sign(t, tokenClaims(nil))
	synctest.Test(t, func(t *testing.T) {
		keys := &heldKeyServer{body: jwksOf(t, old)}
		v := newTestVerifier(t, Config{JWKSURL: "https://login.example/discovery/v2.0/keys",
			HTTPClient: &http.Client{Transport: keys}, Logger: slog.New(slog.DiscardHandler)})
		keys.mu.Lock()
		keys.body, keys.hold = jwksOf(t, old, rotated), make(chan struct{})
		keys.mu.Unlock()

		type result struct {
			p   Principal
			err error
		}
		first, second := make(chan result, 1), make(chan result, 1)
		go func() {
			p, err := v.Verify(t.Context(), header)
			first <- result{p, err}
		}()
		synctest.Wait() // the first lookup's refetch is held by the key server
		go func() {
			p, err := v.Verify(t.Context(), header)
			second <- result{p, err}
		}()
		synctest.Wait() // the second lookup has gone as far as it can while the refetch is held
		select {
		case r := <-second:
			t.Fatalf("a lookup during a refetch answered before it ended: %#v, %v", r.p, r.err)
		default:
		}
		close(keys.hold)
		for _, answer := range []chan result{first, second} {
			r := <-answer
			assertVerified(t, header, r.p, r.err, ada, "")
		}
		if got := keys.hits.Load(); got != 2 {
			t.Fatalf("the JWKS server got %d requests, want 2: the first fetch and one refetch", got)
		}
	})
}

// heldKeyServer serves a JWKS from memory, as a transport, so it can live in a synctest bubble. While hold is
// not nil, an answer waits until it is closed.
type heldKeyServer struct {
	hits atomic.Int64

	mu   sync.Mutex
	body []byte
	hold chan struct{}
}

func (s *heldKeyServer) RoundTrip(r *http.Request) (*http.Response, error) {
	s.hits.Add(1)
	s.mu.Lock()
	body, hold := s.body, s.hold
	s.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
}

func TestJWKSFirstFetchFailureIsRetriedOnDemand(t *testing.T) {
	t.Parallel()
	key := newRSAKey(t, "k1")
	s := newKeyServer(t, key)
	s.failFirst.Store(true)
	v := s.verifier(t, Config{})
	assertHits(t, s, 1)

	header := "Bearer " + key.sign(t, tokenClaims(nil))
	got, err := v.Verify(requestContext(t), header)
	assertVerified(t, header, got, err, ada, "")
	assertHits(t, s, 2)
}

// With the key server unreachable from the start, no token can be judged: ErrKeysUnavailable, which the API
// answers 503, wrapping the refusal it would otherwise have been.
func TestJWKSServerDown(t *testing.T) {
	t.Parallel()
	key := newRSAKey(t, "k1")
	s := newKeyServer(t, key)
	s.Close()
	v := s.verifier(t, Config{})
	header := "Bearer " + key.sign(t, tokenClaims(nil))
	got, err := v.Verify(requestContext(t), header)
	var refusal *Error
	if !errors.Is(err, ErrKeysUnavailable) || !errors.As(err, &refusal) ||
		refusal.Message != "The bearer token's signing key is not known." || !reflect.DeepEqual(got, Principal{}) {
		t.Fatalf("Verify = %#v, %v; want ErrKeysUnavailable wrapping the refusal", got, err)
	}
}

// A key server that stops answering keeps its cached keys working; a made-up kid is refused once the
// server answers again, and is unavailable, not refused, while it does not.
func TestJWKSServerGoesDownAndComesBack(t *testing.T) {
	t.Parallel()
	first, second := newRSAKey(t, "k1"), newRSAKey(t, "k2")
	s := newKeyServer(t, first)
	clock := newTestClock()
	v := s.verifier(t, Config{RefetchInterval: 20 * time.Millisecond, Now: clock.Now})

	s.down.Store(true)
	s.publish(t, first, second)
	header := "Bearer " + first.sign(t, tokenClaims(nil))
	got, err := v.Verify(requestContext(t), header)
	assertVerified(t, header, got, err, ada, "")
	if _, err := v.Verify(requestContext(t), "Bearer "+second.sign(t, tokenClaims(nil))); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("a new key while the JWKS is down: %v, want ErrKeysUnavailable", err)
	}
	assertHits(t, s, 2)

	s.down.Store(false)
	clock.Advance(20 * time.Millisecond)
	header = "Bearer " + second.sign(t, tokenClaims(nil))
	got, err = v.Verify(requestContext(t), header)
	assertVerified(t, header, got, err, ada, "")
	assertHits(t, s, 3)
	clock.Advance(20 * time.Millisecond)
	header = "Bearer " + second.sign(t, tokenClaims(nil), "made-up")
	got, err = v.Verify(requestContext(t), header)
	assertVerified(t, header, got, err, Principal{}, "The bearer token's signing key is not known.")
	assertHits(t, s, 4)
}

// A fetch abandoned by the request that started it (its client went away, or its deadline passed) is no
// sign that the key server is down; only the server's own answer, or its silence, is.
func TestJWKSFetchCancelledByItsCallerIsNoOutage(t *testing.T) {
	t.Parallel()
	s := newKeyServer(t, newRSAKey(t, "k1"))
	health := &jwksHealth{}
	transport := &watchedTransport{health: health}
	fetch := func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := transport.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}

	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	if err := fetch(cancelled); err == nil || health.failing.Load() {
		t.Fatalf("a cancelled fetch: error %v, failing %v; want an error and not failing", err, health.failing.Load())
	}
	s.down.Store(true)
	if err := fetch(t.Context()); err != nil || !health.failing.Load() {
		t.Fatalf("a 503: error %v, failing %v; want failing", err, health.failing.Load())
	}
	if err := fetch(cancelled); err == nil || !health.failing.Load() {
		t.Fatalf("a cancelled fetch after a failure: error %v, failing %v; want it still failing", err, health.failing.Load())
	}
	s.down.Store(false)
	if err := fetch(t.Context()); err != nil || health.failing.Load() {
		t.Fatalf("the server back: error %v, failing %v; want not failing", err, health.failing.Load())
	}
}
