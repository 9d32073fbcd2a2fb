// Package redact hides the passwords in connection URLs before they are printed or logged.
package redact

import (
	"regexp"
	"strings"
)

// Mask stands for a password, as pgx writes it.
const Mask = "xxxxx"

// queryPassword matches a password given as a URL query parameter, or in a keyword/value connection string.
var queryPassword = regexp.MustCompile(`(?i)((?:^|[?&\s])(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|[^&#\s]*)`)

// URL returns s with its passwords replaced by Mask: the userinfo password of a URL and any password
// parameter. It does not need s to parse: the password runs from the first ':' after the scheme's "//" to
// the last '@', so one that holds an '@' is masked whole (a stray '@' further on masks more, never less).
func URL(s string) string {
	if start, end, ok := userinfoPassword(s); ok {
		s = s[:start] + Mask + s[end:]
	}
	return queryPassword.ReplaceAllString(s, "${1}"+Mask)
}

// userinfoPassword finds the password of a URL's user, s[start:end]: from the first ':' after the "//" to
// the last '@'. Without a "//" (a URL missing its scheme, "user:password@host/db") it starts at the first
// ':', unless s has spaces: then it is a keyword/value string, whose password is a parameter.
func userinfoPassword(s string) (start, end int, ok bool) {
	from := 0
	if i := strings.Index(s, "://"); i >= 0 {
		from = i + 3
	} else if strings.ContainsAny(s, " \t\n") {
		return 0, 0, false
	}
	at := strings.LastIndex(s[from:], "@")
	if at < 0 {
		return 0, 0, false
	}
	colon := strings.Index(s[from:from+at], ":")
	if colon < 0 {
		return 0, 0, false
	}
	return from + colon + 1, from + at, true
}

// Text returns text, which may quote parts of the connection URL s (an error about it), with every password
// of s and every piece of such a password replaced by Mask.
func Text(text, s string) string {
	for _, secret := range secrets(s) {
		text = strings.ReplaceAll(text, secret, Mask)
	}
	return text
}

// secrets are the passwords in s, longest first, and the pieces of them between the characters that a
// parser misled by them would split at.
func secrets(s string) []string {
	var out []string
	add := func(pw string) {
		if pw == "" {
			return
		}
		out = append(out, pw)
		for _, piece := range strings.FieldsFunc(pw, func(r rune) bool { return strings.ContainsRune(":@/?#&='", r) }) {
			if len(piece) >= 3 {
				out = append(out, piece)
			}
		}
	}
	if start, end, ok := userinfoPassword(s); ok {
		add(s[start:end])
	}
	for _, m := range queryPassword.FindAllStringSubmatch(s, -1) {
		add(strings.Trim(m[2], "'"))
	}
	// Longest first, so that a piece does not break up the whole before it is replaced.
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if len(out[j]) > len(out[i]) {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}
