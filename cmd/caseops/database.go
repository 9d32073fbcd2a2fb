package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caseops/caseops/store"
)

// ensureDatabase creates the database that databaseURL names when it is missing (see store.EnsureDatabase).
// That step opens a plain connection, not a pool, so it gets the URL without the pool's own settings.
func ensureDatabase(ctx context.Context, databaseURL string) (bool, error) {
	conn, err := withoutPoolSettings(databaseURL)
	if err != nil {
		return false, err
	}
	return store.EnsureDatabase(ctx, conn)
}

// withoutPoolSettings returns connString less the settings that configure pgxpool (pool_max_conns,
// pool_max_conn_idle_time, ...): pgxpool takes them out before it connects, but a plain pgx connection
// sends them to Postgres as runtime parameters, which Postgres refuses. Both of pgx's forms are handled,
// a postgres:// URL and keyword=value pairs; everything else in the string is kept as it was written.
func withoutPoolSettings(connString string) (string, error) {
	plain, err := pgx.ParseConfig(connString)
	if err != nil {
		return "", fmt.Errorf("DATABASE_URL: %w", err)
	}
	pooled, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return "", fmt.Errorf("DATABASE_URL: %w", err)
	}
	// The pool's settings are exactly what pgxpool took out of the runtime parameters.
	poolKeys := map[string]bool{}
	for k := range plain.RuntimeParams {
		if _, kept := pooled.ConnConfig.RuntimeParams[k]; !kept {
			poolKeys[k] = true
		}
	}
	if len(poolKeys) == 0 {
		return connString, nil
	}
	if rest, ok := cutURLScheme(connString); ok {
		return withoutURLParams(connString, rest, poolKeys), nil
	}
	return withoutKeywordValues(connString, poolKeys), nil
}

func cutURLScheme(s string) (string, bool) {
	if rest, ok := strings.CutPrefix(s, "postgresql://"); ok {
		return rest, true
	}
	return strings.CutPrefix(s, "postgres://")
}

// withoutURLParams drops the query parameters named in drop from a postgres:// URL; rest is the URL after
// its scheme. As in libpq, user info ends at an '@' met before any '/', and the query at the first '?' after it.
func withoutURLParams(connString, rest string, drop map[string]bool) string {
	start := len(connString) - len(rest)
	if i := strings.IndexAny(rest, "@/"); i >= 0 && rest[i] == '@' {
		start += i + 1
	}
	q := strings.IndexByte(connString[start:], '?')
	if q < 0 {
		return connString
	}
	head, query := connString[:start+q], connString[start+q+1:]
	var kept []string
	for _, pair := range strings.Split(query, "&") {
		rawKey, _, _ := strings.Cut(pair, "=")
		if key, err := url.PathUnescape(strings.Trim(rawKey, " ")); err == nil && drop[key] {
			continue
		}
		kept = append(kept, pair)
	}
	if len(kept) == 0 {
		return head
	}
	return head + "?" + strings.Join(kept, "&")
}

// withoutKeywordValues drops the pairs named in drop from a keyword=value string, reading values as
// libpq does: up to the next space, or 'quoted', with a backslash escaping the character after it.
func withoutKeywordValues(connString string, drop map[string]bool) string {
	const space = " \t\n\r\v\f"
	var kept []string
	s := strings.TrimLeft(connString, space)
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return connString // not well formed: pgx reports it when it parses the string itself
		}
		key := strings.Trim(s[:eq], space)
		value := strings.TrimLeft(s[eq+1:], space)
		end := 0
		if strings.HasPrefix(value, "'") {
			end = 1
			for end < len(value) && value[end] != '\'' {
				if value[end] == '\\' {
					end++
				}
				end++
			}
			end = min(end+1, len(value)) // the closing quote
		} else {
			for end < len(value) && !strings.ContainsRune(space, rune(value[end])) {
				if value[end] == '\\' {
					end++
				}
				end++
			}
			end = min(end, len(value))
		}
		pair := s[:len(s)-len(value)+end]
		s = strings.TrimLeft(value[end:], space)
		if !drop[key] {
			kept = append(kept, pair)
		}
	}
	return strings.Join(kept, " ")
}
