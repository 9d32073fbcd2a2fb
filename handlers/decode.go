package handlers

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode"
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
	compressed, err := contentCoding(req.Header)
	if err != nil {
		return nil, err
	}
	var body []byte
	if compressed {
		body, err = readGzip(req.Body, limit)
	} else {
		body, err = readPlain(req, limit)
	}
	if err != nil {
		return nil, err
	}
	return decodeObject(body)
}

// contentCoding reports whether the body is gzip-compressed (as the Graph SDKs send bodies by default), and
// refuses every other coding: a compressed body would otherwise be read as JSON and refused for its bytes.
func contentCoding(h http.Header) (gzipped bool, err error) {
	var codings []string
	for _, header := range h.Values("Content-Encoding") {
		for _, coding := range strings.Split(header, ",") {
			if coding = strings.TrimSpace(coding); coding != "" && !strings.EqualFold(coding, "identity") {
				codings = append(codings, coding)
			}
		}
	}
	switch {
	case len(codings) == 0:
		return false, nil
	case len(codings) == 1 && (strings.EqualFold(codings[0], "gzip") || strings.EqualFold(codings[0], "x-gzip")):
		return true, nil
	case len(codings) == 1:
		return false, newError(http.StatusUnsupportedMediaType, "The Content-Encoding "+quote(codings[0])+
			" is not supported; send the body uncompressed or compressed with gzip.")
	}
	return false, newError(http.StatusUnsupportedMediaType, "The Content-Encoding "+quote(strings.Join(codings, ", "))+
		" is not supported: compress the body once, with gzip, or not at all.")
}

func readPlain(req *http.Request, limit int64) ([]byte, error) {
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
	return body, nil
}

// readGzip decompresses a gzip body as it reads it. The limit is on the decompressed size, so a small body
// that inflates to gigabytes (a zip bomb) is refused once limit bytes have come out, never held in memory. The
// compressed bytes are bounded too, by deflate's worst case for limit bytes of output: a stream of empty blocks
// that never ends is refused, not read forever.
func readGzip(r io.Reader, limit int64) ([]byte, error) {
	compressed := &cappedReader{r: r, left: limit + limit/64 + 1024}
	zr, err := gzip.NewReader(compressed)
	if err != nil {
		if compressed.exceeded {
			return nil, bodyTooLarge(limit)
		}
		if errors.Is(err, gzip.ErrHeader) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, badRequest("", "The request body is not valid gzip, as its Content-Encoding says: "+
				"it does not begin with a gzip header.")
		}
		return nil, badRequest("", "The request body could not be read.")
	}
	body, err := io.ReadAll(io.LimitReader(zr, limit+1))
	switch {
	case int64(len(body)) > limit, compressed.exceeded:
		return nil, bodyTooLarge(limit)
	case err != nil && compressed.readErr != nil:
		return nil, badRequest("", "The request body could not be read.")
	case err != nil:
		return nil, badRequest("", "The request body is not valid gzip, as its Content-Encoding says: "+
			gzipProblem(err)+".")
	}
	return body, nil
}

// gzipProblem says in words what compress/gzip found wrong.
func gzipProblem(err error) string {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "it ends before its compressed data does"
	case errors.Is(err, gzip.ErrChecksum):
		return "its checksum does not match its data"
	case errors.Is(err, gzip.ErrHeader):
		return "a member's header is damaged"
	}
	return "its compressed data is damaged"
}

// cappedReader reads at most left bytes of r, and remembers whether r had more, or failed.
type cappedReader struct {
	r        io.Reader
	left     int64
	exceeded bool
	readErr  error
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		if n, _ := c.r.Read(one[:]); n > 0 {
			c.exceeded = true
		}
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if err != nil && err != io.EOF {
		c.readErr = err
	}
	return n, err
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
	bom := 0
	if rest, ok := bytes.CutPrefix(body, []byte("\xef\xbb\xbf")); ok {
		body, bom = rest, 3
	}
	if jsontext.LoneSurrogate(body) {
		// encoding/json would quietly store U+FFFD in its place.
		return nil, badRequest("", `The request body escapes a lone UTF-16 surrogate (such as \ud800), which is no character.`)
	}
	if len(bytes.Trim(body, jsonSpace)) == 0 {
		return nil, badRequest("", "The request body is empty; it must be a JSON object, such as "+exampleBody+".")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, notJSON(body, bom)
	}
	if tok != json.Delim('{') {
		return nil, badRequest("", "The request body must be a JSON object, such as "+exampleBody+", not "+describeValue(tok)+".")
	}
	obj, err := decodeMembers(dec, 1)
	if errors.Is(err, errMalformed) {
		return nil, notJSON(body, bom)
	}
	if err != nil {
		return nil, err
	}
	end := int(dec.InputOffset())
	if _, err := dec.Token(); err != io.EOF {
		end += len(body[end:]) - len(bytes.TrimLeft(body[end:], jsonSpace))
		r, _ := utf8.DecodeRune(body[end:])
		return nil, badRequest("", "The request body must hold one JSON object and nothing after it; "+
			position(body, end, bom)+", it has "+describeChar(r)+".")
	}
	return obj, nil
}

const (
	// jsonSpace is the whitespace JSON allows between tokens.
	jsonSpace = " \t\r\n"
	// exampleBody shows the shape every POST and PATCH body has.
	exampleBody = `{"percentProgress": 50}`
)

// errMalformed stands for any syntax error of the decoder, whose own offsets are not reliable:
// notJSON finds and describes the error again.
var errMalformed = errors.New("the request body is not valid JSON")

func decodeMembers(dec *json.Decoder, depth int) (*object, error) {
	obj := &object{values: map[string]any{}}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errMalformed
		}
		key, ok := tok.(string) // inside an object the decoder yields only string keys; a safeguard
		if !ok {
			return nil, errMalformed
		}
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
		return nil, errMalformed
	}
	return obj, nil
}

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, errMalformed
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
		return nil, errMalformed
	}
	return arr, nil
}

// notJSON says where body stops being JSON and what was expected there. body has lost the bom bytes
// of a byte order mark, which the byte offset counts.
func notJSON(body []byte, bom int) *Error {
	const prefix = "The request body is not valid JSON: "
	var syn *json.SyntaxError
	if err := json.Unmarshal(body, new(json.RawMessage)); !errors.As(err, &syn) {
		return badRequest("", prefix+"it could not be parsed.")
	}
	at := int(syn.Offset) - 1 // the scanner has read the byte it refuses
	if at < 0 || at >= len(body) || syn.Error() == "unexpected end of JSON input" {
		return badRequest("", prefix+"it ends "+position(body, len(body), bom)+
			", before every object, array and string in it is closed.")
	}
	r, _ := utf8.DecodeRune(body[at:])
	found := describeChar(r)
	var problem string
	switch context := syn.Error(); {
	case strings.HasSuffix(context, "looking for beginning of value"):
		problem = "it has " + found + " where a value was expected: a string in double quotes, a number, true, false, " +
			"null, an object or an array" + afterComma(body, at)
	case strings.HasSuffix(context, "looking for beginning of object key string"):
		problem = "it has " + found + " where a property name in double quotes was expected" + afterComma(body, at)
	case strings.HasSuffix(context, "after object key"):
		problem = "it has " + found + " where ':' was expected after the property name"
	case strings.HasSuffix(context, "after object key:value pair"):
		problem = "it has " + found + " where ',' or '}' was expected after the property's value"
	case strings.HasSuffix(context, "after array element"):
		problem = "it has " + found + " where ',' or ']' was expected after the array element"
	case strings.HasSuffix(context, "in string literal"):
		problem = "it has " + found + ` inside a string, where a control character must be escaped (\t for a tab, ` +
			`\n for a line break, \u0001 and the like for others)`
	case strings.HasSuffix(context, "in string escape code"):
		problem = "it has " + found + ` after a backslash, where an escape was expected: \", \\, \/, \b, \f, \n, \r, \t, ` +
			`or \u and four hexadecimal digits`
	case strings.HasSuffix(context, `in \u hexadecimal character escape`):
		problem = "it has " + found + ` where a hexadecimal digit of a \u escape was expected`
	case strings.HasSuffix(context, "after decimal point in numeric literal"):
		problem = "it has " + found + " where a digit was expected after the decimal point"
	case strings.HasSuffix(context, "in exponent of numeric literal"):
		problem = "it has " + found + " where a digit was expected in the exponent"
	case strings.HasSuffix(context, "in numeric literal"):
		problem = "it has " + found + " where a digit was expected"
	default:
		if m := literalContext.FindStringSubmatch(context); m != nil {
			problem = "it has " + found + " where '" + m[2] + "' was expected, to spell " + m[1]
			if unicode.IsLetter(r) {
				problem += "; a string goes in double quotes"
			}
		} else {
			problem = "it has " + found + ", which JSON does not allow there"
		}
	}
	return badRequest("", prefix+position(body, at, bom)+", "+problem+".")
}

// literalContext is how encoding/json names a misspelt true, false or null.
var literalContext = regexp.MustCompile(`in literal (true|false|null) \(expecting '(.)'\)$`)

// afterComma points out a trailing comma when the refused '}' or ']' at follows one.
func afterComma(body []byte, at int) string {
	before := bytes.TrimRight(body[:at], jsonSpace)
	if (body[at] == '}' || body[at] == ']') && len(before) > 0 && before[len(before)-1] == ',' {
		return "; JSON allows no comma before it"
	}
	return ""
}

// position names the byte at of body as a person finds it: line and column (in characters, from 1), and the
// byte offset (from 0) in the body as sent, whose first bom bytes were a byte order mark.
func position(body []byte, at, bom int) string {
	line := 1 + bytes.Count(body[:at], []byte("\n"))
	column := 1 + utf8.RuneCount(body[bytes.LastIndexByte(body[:at], '\n')+1:at])
	return "at line " + itoa(line) + ", column " + itoa(column) + " (byte offset " + itoa(at+bom) + ")"
}

// describeChar names r for a message; a control character by what it does or its code point.
func describeChar(r rune) string {
	switch {
	case r == '\t':
		return "a tab"
	case r == '\n':
		return "a line break"
	case r == '\r':
		return "a carriage return"
	case !unicode.IsPrint(r):
		return fmt.Sprintf("the character U+%04X", r)
	}
	return "'" + string(r) + "'"
}

// describeValue names the kind of a JSON value that is not an object.
func describeValue(tok json.Token) string {
	switch tok.(type) {
	case nil:
		return "null"
	case bool:
		return "a Boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	}
	return "an array"
}

func quote(s string) string { return "'" + clip(s) + "'" }

// clip shortens a name a client sent to at most 64 bytes and an ellipsis, so that a huge key costs an
// answer little.
func clip(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strings.ToValidUTF8(s, "")
}
