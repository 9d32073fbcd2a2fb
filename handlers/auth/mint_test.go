package auth

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestMintThenVerify(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, Config{Secret: testSecret, Issuer: "caseops-dev", Audience: "caseops"})
	cases := []struct {
		name string
		o    MintOptions
		want Principal
	}{
		{
			name: "user token",
			o:    MintOptions{Tenant: "dev", Scopes: "eDiscovery.Read.All eDiscovery.ReadWrite.All", UserID: "u-1", UserName: "Ada Lovelace"},
			want: Principal{
				TenantID: "dev",
				Scopes:   []string{PermissionRead, PermissionReadWrite},
				User:     &Identity{ID: "u-1", DisplayName: "Ada Lovelace"},
			},
		},
		{
			name: "app token",
			o:    MintOptions{Tenant: "contoso", Roles: " eDiscovery.ReadWrite.All ", AppID: "app-1", AppName: "Tagger"},
			want: Principal{
				TenantID:    "contoso",
				Roles:       []string{PermissionReadWrite},
				Application: &Identity{ID: "app-1", DisplayName: "Tagger"},
			},
		},
		{
			name: "user token with roles and no scopes is still a user",
			o:    MintOptions{Tenant: "dev", Roles: PermissionRead, UserID: "u-2"},
			want: Principal{TenantID: "dev", Roles: []string{PermissionRead}, User: &Identity{ID: "u-2"}},
		},
		{
			name: "delegated token names the user and the client application",
			o:    MintOptions{Tenant: "dev", Scopes: PermissionRead, UserID: "u-3", UserName: "Grace", AppID: "app-2", AppName: "Portal"},
			want: Principal{
				TenantID:    "dev",
				Scopes:      []string{PermissionRead},
				User:        &Identity{ID: "u-3", DisplayName: "Grace"},
				Application: &Identity{ID: "app-2", DisplayName: "Portal"},
			},
		},
		{
			name: "tenant only",
			o:    MintOptions{Tenant: "dev"},
			want: Principal{TenantID: "dev"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.o.Now, tc.o.Issuer, tc.o.Audience = testNow, "caseops-dev", "caseops"
			token, err := Mint(testSecret, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.Verify(t.Context(), "Bearer "+token)
			assertVerified(t, token, got, err, tc.want, "")
		})
	}
}

func TestMintLifetime(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		ttl     time.Duration
		at      time.Duration // after minting
		wantErr string
	}{
		{name: "default TTL, just before the end", at: time.Hour - time.Second},
		{name: "default TTL, past the end and the leeway", at: time.Hour + 61*time.Second, wantErr: "The bearer token has expired."},
		{name: "one minute TTL, past the end and the leeway", ttl: time.Minute, at: 2*time.Minute + time.Second, wantErr: "The bearer token has expired."},
		{name: "minted in the future, beyond the leeway", at: -61 * time.Second, wantErr: "The bearer token is not valid yet (nbf)."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			token, err := Mint(testSecret, MintOptions{Tenant: "dev", TTL: tc.ttl, Now: testNow})
			if err != nil {
				t.Fatal(err)
			}
			v, err := NewVerifier(t.Context(), Config{Secret: testSecret, Now: func() time.Time { return testNow.Add(tc.at) }})
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.Verify(t.Context(), "Bearer "+token)
			want := Principal{TenantID: "dev"}
			if tc.wantErr != "" {
				want = Principal{}
			}
			assertVerified(t, token, got, err, want, tc.wantErr)
		})
	}
}

func TestMintRefusesBadOptions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		secret  []byte
		o       MintOptions
		wantErr string
	}{
		{name: "short secret", secret: []byte("short"), o: MintOptions{Tenant: "dev"}, wantErr: "auth: the JWT secret has 5 bytes; HS256 needs at least 32"},
		{name: "no tenant", secret: testSecret, o: MintOptions{Scopes: PermissionRead}, wantErr: "auth: a token needs a tenant"},
		{name: "negative TTL", secret: testSecret, o: MintOptions{Tenant: "dev", TTL: -time.Minute}, wantErr: "auth: negative token lifetime -1m0s"},
		{name: "user name without id", secret: testSecret, o: MintOptions{Tenant: "dev", UserName: "Ada"}, wantErr: "auth: a user name needs a user id"},
		{name: "app name without id", secret: testSecret, o: MintOptions{Tenant: "dev", AppName: "Tagger"}, wantErr: "auth: an application name needs an application id"},
		{name: "tenant too long", secret: testSecret, o: MintOptions{Tenant: strings.Repeat("t", 257)}, wantErr: "auth: the tenant (tid) must be at most 256 characters long"},
		{name: "tenant with U+0000", secret: testSecret, o: MintOptions{Tenant: "dev\x00"}, wantErr: "auth: the tenant (tid) must not contain the character U+0000"},
		{name: "tenant not UTF-8", secret: testSecret, o: MintOptions{Tenant: "dev\xff"}, wantErr: "auth: the tenant (tid) must be valid UTF-8"},
		{name: "user id with U+0000", secret: testSecret, o: MintOptions{Tenant: "dev", UserID: "\x00"}, wantErr: "auth: the user id (oid) must not contain the character U+0000"},
		{name: "user name too long", secret: testSecret, o: MintOptions{Tenant: "dev", UserID: "u", UserName: strings.Repeat("n", 1025)}, wantErr: "auth: the user name (name) must be at most 1024 characters long"},
		{name: "app id not UTF-8", secret: testSecret, o: MintOptions{Tenant: "dev", AppID: "\xc0"}, wantErr: "auth: the application id (azp, appid) must be valid UTF-8"},
		{name: "app name with U+0000", secret: testSecret, o: MintOptions{Tenant: "dev", AppID: "a", AppName: "Tag\x00ger"}, wantErr: "auth: the application name (app_displayname) must not contain the character U+0000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			token, err := Mint(tc.secret, tc.o)
			if err == nil || err.Error() != tc.wantErr || token != "" {
				t.Fatalf("Mint = %q, %v; want no token and %q", token, err, tc.wantErr)
			}
		})
	}
}

func TestDevSecretMintsVerifiableTokens(t *testing.T) {
	t.Parallel()
	a, err := NewDevSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewDevSecret()
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 32 || bytes.Equal(a, b) {
		t.Fatalf("NewDevSecret gave %d bytes, twice the same: %v", len(a), bytes.Equal(a, b))
	}
	token, err := Mint(a, MintOptions{Tenant: "dev", Scopes: PermissionRead + " " + PermissionReadWrite})
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(t.Context(), Config{Secret: a})
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(t.Context(), "Bearer "+token)
	assertVerified(t, token, got, err, Principal{TenantID: "dev", Scopes: []string{PermissionRead, PermissionReadWrite}}, "")
	if !got.CanRead() || !got.CanWrite() {
		t.Fatalf("the development token cannot read and write: %#v", got)
	}
}
