package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/caseops/caseops/handlers/jsontext"
)

// DefaultMaxBodyBytes bounds a POST or PATCH body unless Config.MaxBodyBytes says otherwise.
const DefaultMaxBodyBytes = 64 << 10

const (
	// maxJSONDepth bounds nesting; the deepest valid body (an identity inside createdBy) needs 3.
	maxJSONDepth = 16
)

// object is a decoded JSON object that keeps its members' order, so problems are reported in body order.
type object struct {
	keys   []string
	values map[string]any // nil, bool, json.Number, string, []any or *object
}

// readBody enforces the content type and a size of at most limit bytes, then decodes one strict JSON object:
// valid UTF-8, no duplicate keys, no trailing data.
func readBody(c echo.Context, limit int64) (*object, error) {
	req := c.Request()
	mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && mt != "application/merge-patch+json") {
		return nil, newError(http.StatusUnsupportedMediaType,
			"The Content-Type must be application/json or application/merge-patch+json.")
	}
	// A compressed body would otherwise be read as JSON and refused for its bytes; say what is wrong.
	for _, header := range req.Header.Values("Content-Encoding") {
		for _, coding := range strings.Split(header, ",") {
			if coding = strings.TrimSpace(coding); coding != "" && !strings.EqualFold(coding, "identity") {
				return nil, newError(http.StatusUnsupportedMediaType, "The Content-Encoding "+quote(coding)+
					" is not supported; send the body uncompressed.")
			}
		}
	}
	if req.ContentLength > limit {
		return nil, bodyTooLarge(limit)
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
	if err != nil {
		return nil, badRequest("", "The request body could not be read.")
	}
	if int64(len(body)) > limit {
		return nil, bodyTooLarge(limit)
	}
	return decodeObject(body)
}

func bodyTooLarge(limit int64) *Error {
	return newError(http.StatusRequestEntityTooLarge, "The request body is larger than "+strconv.FormatInt(limit, 10)+" bytes.")
}

// decodeObject parses body as exactly one JSON object.
func decodeObject(body []byte) (*object, error) {
	if !utf8.Valid(body) {
		return nil, badRequest("", "The request body is not valid UTF-8.")
	}
	// RFC 8259 §8.1: a sender must not start JSON with a byte order mark, but a parser may ignore one;
	// some clients send it.
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	if jsontext.LoneSurrogate(body) {
		// encoding/json would quietly store U+FFFD in its place.
		return nil, badRequest("", `The request body escapes a lone UTF-16 surrogate (such as \ud800), which is no character.`)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, badRequest("", "The request body must be a JSON object: "+jsonProblem(err))
	}
	if tok != json.Delim('{') {
		return nil, badRequest("", "The request body must be a JSON object.")
	}
	obj, err := decodeMembers(dec, 1)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("", "The request body must hold one JSON object and nothing after it.")
	}
	return obj, nil
}

func decodeMembers(dec *json.Decoder, depth int) (*object, error) {
	obj := &object{values: map[string]any{}}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, badRequest("", "The request body is not valid JSON: "+jsonProblem(err))
		}
		key := tok.(string) // inside an object the decoder only yields string keys here
		if _, dup := obj.values[key]; dup {
			return nil, badRequest(key, "The property "+quote(key)+" appears more than once.")
		}
		v, err := decodeValue(dec, depth)
		if err != nil {
			return nil, err
		}
		obj.keys = append(obj.keys, key)
		obj.values[key] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, badRequest("", "The request body is not valid JSON: "+jsonProblem(err))
	}
	return obj, nil
}

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, badRequest("", "The request body is not valid JSON: "+jsonProblem(err))
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	if depth >= maxJSONDepth {
		return nil, badRequest("", "The request body nests deeper than "+itoa(maxJSONDepth)+" levels.")
	}
	if d == '{' {
		return decodeMembers(dec, depth+1)
	}
	var arr []any // d == '['
	for dec.More() {
		v, err := decodeValue(dec, depth+1)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, badRequest("", "The request body is not valid JSON: "+jsonProblem(err))
	}
	return arr, nil
}

func jsonProblem(err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return syn.Error() + " at byte " + itoa(int(syn.Offset)) + "."
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "it ends too soon."
	}
	return "it could not be parsed."
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return "'" + strings.ToValidUTF8(s, "") + "'"
}
