// Package jsontext checks JSON text for what encoding/json would quietly repair rather than refuse.
package jsontext

import "strconv"

// LoneSurrogate reports a \uD800-\uDFFF escape in JSON text that is not a high surrogate followed at once
// by a low one. No UTF-8 text can hold it, and encoding/json decodes it as U+FFFD. Backslashes occur only
// in strings in valid JSON, so b may be a whole document or one value.
func LoneSurrogate(b []byte) bool {
	escape := func(at int) (uint64, bool) {
		if at+6 > len(b) || b[at] != '\\' || b[at+1] != 'u' {
			return 0, false
		}
		n, err := strconv.ParseUint(string(b[at+2:at+6]), 16, 16)
		return n, err == nil
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		u, ok := escape(i)
		switch {
		case !ok:
			i++ // an escaped character other than \u: skip it, so \\ is not read as a new escape
		case u >= 0xD800 && u <= 0xDBFF:
			if low, ok := escape(i + 6); !ok || low < 0xDC00 || low > 0xDFFF {
				return true
			}
			i += 11
		case u >= 0xDC00 && u <= 0xDFFF:
			return true
		default:
			i += 5
		}
	}
	return false
}
