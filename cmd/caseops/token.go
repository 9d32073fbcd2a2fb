package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/caseops/caseops/cmd/caseops/internal/settings"
	"github.com/caseops/caseops/handlers/auth"
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
		return errors.New("CASEOPS_JWT_SECRET (or --jwt-secret) must be set to the secret the server uses")
	}
	if len(*secret) < auth.MinSecretBytes {
		return fmt.Errorf("CASEOPS_JWT_SECRET (or --jwt-secret) has %d bytes; HS256 needs at least %d", len(*secret), auth.MinSecretBytes)
	}
	if *tenant == "" {
		return errors.New("--tenant is required")
	}
	if err := auth.CheckTenant(*tenant); err != nil {
		return fmt.Errorf("--tenant %w", err)
	}
	for _, f := range []struct{ flag, value string }{
		{"--user-id", *userID}, {"--user-name", *userName}, {"--app-id", *appID}, {"--app-name", *appName},
	} {
		if err := auth.CheckIdentity(f.value); err != nil {
			return fmt.Errorf("%s %w", f.flag, err)
		}
	}
	// A delegated token from an identity provider may name both, but one minted here speaks for one caller.
	if (*userID != "" || *userName != "") && (*appID != "" || *appName != "") {
		return errors.New("--user-id/--user-name and --app-id/--app-name cannot be combined: a token names a user or an application")
	}
	if *roles != "" && !isFlagSet(s, "scopes") {
		*scopes = "" // an application token carries roles, not scopes
	}
	if strings.TrimSpace(*scopes) == "" && strings.TrimSpace(*roles) == "" {
		return errors.New("--scopes and --roles are both empty: such a token could read and write nothing")
	}
	if *ttl <= 0 {
		// Zero would otherwise mean the library's default lifetime, which is not what was asked.
		return fmt.Errorf("--ttl must be more than 0, such as 1h, not %s", *ttl)
	}
	if *ttl > *maxLifetime {
		return fmt.Errorf("--ttl %s is longer than the %s a server accepts (--jwt-max-lifetime): ask for at most that, "+
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
