package handlers

import (
	"bytes"
	"strconv"
)

// framing follows the HTTP/1.1 message framing (RFC 9112 §6) of the bytes a connection hands to net/http.
// It is needed because net/http deletes Content-Length from a request that also has Transfer-Encoding
// before any handler sees it, so only the bytes on the wire show that a request had both. It mirrors
// net/http's own rules (its transfer.go and internal/chunked.go); where it cannot follow the bytes, net/http
// refuses them too, and the connection delivers nothing more either way.
type framing struct {
	state frameState
	line  []byte // the current line, up to maxFramingLine bytes
	long  bool   // the current line was longer than that

	// The header block being read.
	firstLine     bool
	http10        bool
	unserved      bool // OPTIONS *, which net/http answers without calling the handler
	lengths       int  // Content-Length fields
	length        int64
	badLength     bool
	encodings     int // Transfer-Encoding fields
	chunked       bool
	lastFramedKey bool // the previous field was Content-Length or Transfer-Encoding

	remaining uint64 // body or chunk bytes left
	crlf      int    // bytes of a chunk's closing CRLF seen

	blocks int    // header blocks of requests that reach the handler, counted from 1
	faulty int    // the block whose framing is refused, 0 when none is
	fault  string // why, for the client
}

type frameState int

const (
	frameStart     frameState = iota // before a request line: stray CR and LF are skipped
	frameHeader                      // the request line and header fields
	frameBody                        // Content-Length bytes of body
	frameChunkSize                   // a chunk-size line
	frameChunkData                   // a chunk's data
	frameChunkEnd                    // the CRLF after a chunk's data
	frameTrailer                     // trailer fields after the last chunk
	frameStopped                     // nothing more is delivered
)

// maxFramingLine is net/http's limit on a chunk-size line; a framing header field longer than it is refused.
const maxFramingLine = 4096

// Reasons a request's framing is refused.
const (
	faultBothLengths = "The request has both Content-Length and Transfer-Encoding, so its length is ambiguous " +
		"(RFC 9112, section 6.1); the connection is closed."
	faultHTTP10Encoding = "An HTTP/1.0 request may not have a Transfer-Encoding (RFC 9112, section 6.1); " +
		"the connection is closed."
	faultUnreadable = "The request's Content-Length or Transfer-Encoding cannot be read; the connection is closed."
)

// feed follows p, the next bytes read from the connection, and returns how many of them may be delivered:
// all of them, unless a request's framing is refused, when delivery stops at the end of its header block.
func (f *framing) feed(p []byte) int {
	for i := 0; i < len(p); {
		switch f.state {
		case frameStopped:
			return i
		case frameStart:
			if p[i] == '\r' || p[i] == '\n' {
				i++
				continue
			}
			f.startBlock()
		case frameBody, frameChunkData:
			n := uint64(len(p) - i)
			if n > f.remaining {
				n = f.remaining
			}
			f.remaining -= n
			i += int(n)
			if f.remaining == 0 {
				if f.state == frameBody {
					f.state = frameStart
				} else {
					f.state, f.crlf = frameChunkEnd, 0
				}
			}
		case frameChunkEnd:
			if p[i] != "\r\n"[f.crlf] {
				f.stop("")
				return i
			}
			i++
			if f.crlf++; f.crlf == 2 {
				f.state = frameChunkSize
			}
		default: // a state made of lines
			j := bytes.IndexByte(p[i:], '\n')
			end := len(p)
			if j >= 0 {
				end = i + j
			}
			f.appendLine(p[i:end])
			if j < 0 {
				return len(p)
			}
			i = end + 1
			f.endLine()
		}
	}
	return len(p)
}

func (f *framing) startBlock() {
	f.state, f.firstLine, f.http10, f.unserved = frameHeader, true, false, false
	f.lengths, f.length, f.badLength, f.encodings, f.chunked, f.lastFramedKey = 0, 0, false, 0, false, false
	f.line, f.long = f.line[:0], false
}

func (f *framing) appendLine(b []byte) {
	if room := maxFramingLine - len(f.line); len(b) > room {
		b, f.long = b[:room], true
	}
	f.line = append(f.line, b...)
}

// endLine handles the line just ended (its LF dropped).
func (f *framing) endLine() {
	line, long := f.line, f.long
	f.line, f.long = f.line[:0], false
	switch f.state {
	case frameHeader:
		f.headerLine(bytes.TrimSuffix(line, []byte("\r")), long)
	case frameChunkSize:
		f.chunkSizeLine(line, long)
	case frameTrailer:
		if len(bytes.TrimSuffix(line, []byte("\r"))) == 0 {
			f.state = frameStart
		}
	}
}

func (f *framing) headerLine(line []byte, long bool) {
	switch {
	case f.firstLine:
		f.firstLine = false
		if i := bytes.LastIndexByte(line, ' '); i >= 0 {
			f.http10 = string(line[i+1:]) == "HTTP/1.0"
		}
		f.unserved = bytes.HasPrefix(line, []byte("OPTIONS * "))
	case len(line) == 0:
		f.endBlock()
	case line[0] == ' ' || line[0] == '\t':
		// An obsolete line folding continues the previous field: net/http joins it to that field's value.
		if f.lastFramedKey {
			f.badLength = true
		}
	default:
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.Trim(value, " \t")
		f.lastFramedKey = false
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			f.lastFramedKey = true
			n, err := strconv.ParseUint(string(value), 10, 63)
			if long || err != nil || len(value) == 0 || value[0] == '+' || (f.lengths > 0 && int64(n) != f.length) {
				f.badLength = true
			}
			f.lengths++
			f.length = int64(n)
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			f.lastFramedKey = true
			f.encodings++
			f.chunked = !long && f.encodings == 1 && bytes.EqualFold(value, []byte("chunked"))
		}
	}
}

// endBlock decides how the body of the request whose header block just ended is framed.
func (f *framing) endBlock() {
	if !f.unserved {
		f.blocks++
	}
	switch {
	case f.encodings > 0 && f.lengths > 0:
		f.stop(faultBothLengths)
	case f.encodings > 0 && f.http10:
		f.stop(faultHTTP10Encoding)
	case f.badLength || (f.encodings > 0 && !f.chunked):
		f.stop(faultUnreadable)
	case f.chunked:
		f.state = frameChunkSize
	case f.length > 0:
		f.state, f.remaining = frameBody, uint64(f.length)
	default:
		f.state = frameStart
	}
}

// chunkSizeLine reads a chunk-size line as net/http does: CRLF-terminated, trailing blanks and any
// extension dropped, then at most 16 hex digits.
func (f *framing) chunkSizeLine(line []byte, long bool) {
	if long || len(line) == 0 || bytes.IndexByte(line, '\r') != len(line)-1 {
		f.stop("")
		return
	}
	size := bytes.TrimRight(line[:len(line)-1], " \t")
	size, _, _ = bytes.Cut(size, []byte(";"))
	n, err := strconv.ParseUint(string(size), 16, 64)
	if err != nil || len(size) == 0 || len(size) > 16 || size[0] == '+' || size[0] == '-' {
		f.stop("")
		return
	}
	if n == 0 {
		f.state = frameTrailer
		return
	}
	f.state, f.remaining = frameChunkData, n
}

// stop ends delivery; a non-empty fault refuses the request whose header block just ended.
func (f *framing) stop(fault string) {
	f.state = frameStopped
	if fault != "" {
		f.faulty, f.fault = f.blocks, fault
	}
}
