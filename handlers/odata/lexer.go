package odata

import (
	"strings"
	"unicode/utf8"
)

type tokenKind int

const (
	tokEOF      tokenKind = iota
	tokName               // a property path or a keyword: status, createdBy/user/id, eq, and, null, ...
	tokString             // 'text', with '' for a quote; text holds the unescaped value
	tokNumber             // -12, 50.5, 1e3: text holds it as written
	tokDateTime           // 2026-01-01T00:00:00Z as written; also a bare date, which the parser refuses
	tokLParen
	tokRParen
	tokComma
)

// token is one lexical unit of an option; pos is its 0-based byte offset in the option.
type token struct {
	kind tokenKind
	text string
	pos  int
}

func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "the end of the expression"
	case tokString:
		return "'" + strings.ReplaceAll(truncate(t.text), "'", "''") + "'"
	case tokLParen:
		return "'('"
	case tokRParen:
		return "')'"
	case tokComma:
		return "','"
	}
	return truncate(t.text)
}

func truncate(s string) string {
	if utf8.RuneCountInString(s) > 40 {
		r := []rune(s)
		return string(r[:40]) + "…"
	}
	return s
}

// lex splits an option value into tokens. Whitespace (space or tab, as OData's RWS) separates tokens
// and is otherwise ignored.
func lex(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '(':
			toks = append(toks, token{tokLParen, "(", i})
			i++
		case c == ')':
			toks = append(toks, token{tokRParen, ")", i})
			i++
		case c == ',':
			toks = append(toks, token{tokComma, ",", i})
			i++
		case c == '\'':
			t, n, err := lexString(s, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, t)
			i = n
		case isDigit(c) || (c == '-' && i+1 < len(s) && isDigit(s[i+1])):
			t, n := lexNumberOrDateTime(s, i)
			toks = append(toks, t)
			i = n
		case isNameStart(c):
			j := i + 1
			for j < len(s) && (isNamePart(s[j]) || (s[j] == '/' && j+1 < len(s) && isNameStart(s[j+1]))) {
				j++
			}
			toks = append(toks, token{tokName, s[i:j], i})
			i = j
		default:
			r, _ := utf8.DecodeRuneInString(s[i:])
			hint := ""
			if c == '+' {
				hint = " (a + in a URL query means a space: write %2B for a plus sign)"
			}
			if n := len(toks); c == ':' && n >= 2 && toks[n-2].kind == tokDateTime && toks[n-1].kind == tokNumber {
				hint = " (write the + of a time zone offset as %2B: a + in a URL query means a space)"
			}
			return nil, errorAt(i, "unexpected character "+quoteRune(r)+hint)
		}
	}
	return append(toks, token{tokEOF, "", len(s)}), nil
}

// lexString reads a string literal starting at the quote at s[start]; two quotes in a row stand for one.
func lexString(s string, start int) (token, int, error) {
	var b strings.Builder
	i := start + 1
	for i < len(s) {
		if s[i] == '\'' {
			if i+1 < len(s) && s[i+1] == '\'' {
				b.WriteByte('\'')
				i += 2
				continue
			}
			return token{tokString, b.String(), start}, i + 1, nil
		}
		b.WriteByte(s[i])
		i++
	}
	return token{}, 0, errorAt(start, "the string starting here has no closing quote (write '' for a quote inside a string)")
}

// lexNumberOrDateTime reads a number, or a date/time literal when digits are followed by '-' (as in 2026-01-01).
func lexNumberOrDateTime(s string, start int) (token, int) {
	i := start
	if s[i] == '-' {
		i++
	}
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if s[start] != '-' && i < len(s) && s[i] == '-' {
		// A date or date/time: take every character that can appear in one.
		for i < len(s) && strings.IndexByte("0123456789-:.TZtz+", s[i]) >= 0 {
			i++
		}
		return token{tokDateTime, s[start:i], start}, i
	}
	// A number: digits with an optional fraction and exponent, so that 50.5 is read whole and refused whole.
	for i < len(s) && (isDigit(s[i]) || s[i] == '.' || s[i] == 'e' || s[i] == 'E' ||
		((s[i] == '-' || s[i] == '+') && (s[i-1] == 'e' || s[i-1] == 'E'))) {
		i++
	}
	return token{tokNumber, s[start:i], start}, i
}

func isDigit(c byte) bool     { return c >= '0' && c <= '9' }
func isNameStart(c byte) bool { return c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z') }
func isNamePart(c byte) bool  { return isNameStart(c) || isDigit(c) || c == '.' }

func quoteRune(r rune) string {
	if r == utf8.RuneError {
		return "(invalid UTF-8)"
	}
	if r < 0x20 || r == 0x7f {
		return "(control character)"
	}
	return "'" + string(r) + "'"
}
