package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/caseops/caseops/cmd/caseops/internal/settings"
	"github.com/caseops/caseops/handlers/auth"
	"github.com/caseops/caseops/handlers/spelling"
)

// tokenSynopsis is also the README's Commands line for token, so the two cannot drift apart.
const tokenSynopsis = `token --tenant T [--scopes S] [--roles R] [--user-id U [--user-name N] | --app-id A [--app-name N]] [--ttl 1h]`

// runToken prints a bearer token signed with the configured secret, for scripts, workers and people.
func runToken(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	s := newSettings("token", tokenSynopsis, getenv, stdout, stderr).NoArguments()
	secret := s.Secret("jwt-secret", "CASEOPS_JWT_SECRET", "HS256 key the server checks tokens with (at least 32 bytes)")
	issuer := s.String("jwt-issuer", "CASEOPS_JWT_ISSUER", "", "iss of the token (set it when the server checks it)")
	audience := s.String("jwt-audience", "CASEOPS_JWT_AUDIENCE", "", "aud of the token (set it when the server checks it)")
	tenant := s.Flags().String("tenant", "", "tenant id (tid), 1 to 256 characters")
	scopes := s.Flags().String("scopes", auth.PermissionReadWrite, "space-separated delegated scopes (scp)")
	roles := s.Flags().String("roles", "", "space-separated application permissions (roles)")
	userID := s.Flags().String("user-id", "", "user object id (oid); a token names a user or an application, not both")
	userName := s.Flags().String("user-name", "", "user display name (name)")
	appID := s.Flags().String("app-id", "", "application id (azp and appid); a token names a user or an application, not both")
	appName := s.Flags().String("app-name", "", "application display name (app_displayname)")
	ttl := s.Flags().Duration("ttl", time.Hour, "how long the token is valid")
	maxLifetime := jwtMaxLifetimeFlag(s)
	if err := s.Parse(args); err != nil {
		return err
	}
	if *secret == "" {
		return s.Errorf("$CASEOPS_JWT_SECRET (or --jwt-secret) must be set to the secret the server checks tokens with")
	}
	if len(*secret) < auth.MinSecretBytes {
		return s.Errorf("%s is %d bytes long; an HS256 secret must be at least %d bytes", s.Source("jwt-secret"), len(*secret), auth.MinSecretBytes)
	}
	if *tenant == "" {
		return s.Errorf("--tenant is required")
	}
	if err := auth.CheckTenant(*tenant); err != nil {
		return s.Errorf("--tenant %w", err)
	}
	for _, f := range []struct{ flag, value string }{
		{"--user-id", *userID}, {"--user-name", *userName}, {"--app-id", *appID}, {"--app-name", *appName},
	} {
		if err := auth.CheckIdentity(f.value); err != nil {
			return s.Errorf("%s %w", f.flag, err)
		}
	}
	// A delegated token from an identity provider may name both, but one minted here speaks for one caller.
	if (*userID != "" || *userName != "") && (*appID != "" || *appName != "") {
		return s.Errorf("--user-id/--user-name and --app-id/--app-name cannot be combined: a token names a user or an application")
	}
	if *userName != "" && *userID == "" {
		return s.Errorf("--user-name needs --user-id: the server knows a user by its id (oid)")
	}
	if *appName != "" && *appID == "" {
		return s.Errorf("--app-name needs --app-id: the server knows an application by its id (azp)")
	}
	if *roles != "" && !isFlagSet(s, "scopes") {
		*scopes = "" // an application token carries roles, not scopes
	}
	if strings.TrimSpace(*scopes) == "" && strings.TrimSpace(*roles) == "" {
		return s.Errorf("--scopes and --roles are both empty: such a token could read and write nothing")
	}
	// The server ignores a permission it does not check, so a misspelt one would mint a token it refuses.
	known := auth.Permissions()
	for _, f := range []struct{ flag, kind, value string }{{"scopes", "scope", *scopes}, {"roles", "role", *roles}} {
		for _, p := range strings.Fields(f.value) {
			if slices.Contains(known, p) {
				continue
			}
			hint := ""
			if near := spelling.Nearest(p, known); near != "" {
				hint = " (did you mean " + near + "?)"
			}
			return s.Errorf("--%s %q is not a %s the server checks%s; it knows %s", f.flag, p, f.kind, hint, strings.Join(known, " and "))
		}
	}
	if *ttl <= 0 {
		// Zero would otherwise mean the library's default lifetime, which is not what was asked.
		return s.Errorf("--ttl must be more than 0, such as 1h, not %s", *ttl)
	}
	if *ttl > *maxLifetime {
		return s.Errorf("--ttl %s is longer than the %s a server accepts (--jwt-max-lifetime): ask for at most that, "+
			"or raise --jwt-max-lifetime (CASEOPS_JWT_MAX_LIFETIME) here and on the server", *ttl, *maxLifetime)
	}
	tok, err := auth.Mint([]byte(*secret), auth.MintOptions{Tenant: *tenant, Scopes: *scopes, Roles: *roles,
		UserID: *userID, UserName: *userName, AppID: *appID, AppName: *appName, TTL: *ttl,
		Issuer: *issuer, Audience: *audience})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

func isFlagSet(s *settings.Set, name string) bool {
	set := false
	s.Flags().Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
