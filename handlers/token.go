package handlers

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
)

// The opaque tokens this service issues ($skiptoken, $deltatoken, a stream's event ids) are base64url JSON.

// encodeToken renders v as a token; v is a token struct of strings, numbers and UUIDs, which always marshal.
func encodeToken(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeToken reads a token into v, refusing any that encodeToken could not have made: not base64url, not
// one JSON value, or with a member v does not have.
func decodeToken(s string, v any) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v) == nil && !dec.More()
}
