package bench

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// wireConn is one worker's keep-alive HTTP/1.1 connection for the load itself. It writes each request from
// bytes it reuses and parses the answer with net/http's own response reader, without the client's
// per-request goroutines and channels: pgbench's C client leaves nearly all of the machine to Postgres, and
// the generator should leave as much of it as it can to the server it measures.
type wireConn struct {
	addr      string
	tlsConfig *tls.Config // nil for http
	header    []byte      // Host and Authorization lines, the same on every request
	timeout   time.Duration

	c    net.Conn
	br   *bufio.Reader
	out  []byte
	body bytes.Buffer
}

// newWireConn returns an unconnected wireConn to baseURL's host; it dials on first use, and again after any
// failure or an answer that closes the connection.
func newWireConn(baseURL, token string, timeout time.Duration) (*wireConn, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, err
	}
	w := &wireConn{addr: u.Host, timeout: timeout}
	switch u.Scheme {
	case "http":
		if u.Port() == "" {
			w.addr = net.JoinHostPort(u.Hostname(), "80")
		}
	case "https":
		if u.Port() == "" {
			w.addr = net.JoinHostPort(u.Hostname(), "443")
		}
		w.tlsConfig = &tls.Config{ServerName: u.Hostname()}
	default:
		return nil, fmt.Errorf("bench: %q: the URL must be http or https", baseURL)
	}
	w.header = append(w.header, "Host: "+u.Host+"\r\n"...)
	if token != "" {
		w.header = append(w.header, "Authorization: Bearer "+token+"\r\n"...)
	}
	return w, nil
}

// roundTrip sends one request for path (with body as JSON when it is not nil) and reads the whole answer.
// The returned body is only valid until the next call.
func (w *wireConn) roundTrip(method, path string, body []byte) (int, []byte, error) {
	if w.c == nil {
		if err := w.dial(); err != nil {
			return 0, nil, err
		}
	}
	w.out = append(w.out[:0], method...)
	w.out = append(w.out, ' ')
	w.out = append(w.out, path...)
	w.out = append(w.out, " HTTP/1.1\r\n"...)
	w.out = append(w.out, w.header...)
	if body != nil {
		w.out = append(w.out, "Content-Type: application/json\r\nContent-Length: "...)
		w.out = strconv.AppendInt(w.out, int64(len(body)), 10)
		w.out = append(w.out, "\r\n"...)
	}
	w.out = append(w.out, "\r\n"...)
	w.out = append(w.out, body...)

	if err := w.c.SetDeadline(time.Now().Add(w.timeout)); err != nil {
		w.close()
		return 0, nil, err
	}
	if _, err := w.c.Write(w.out); err != nil {
		w.close()
		return 0, nil, err
	}
	resp, err := http.ReadResponse(w.br, nil)
	if err != nil {
		w.close()
		return 0, nil, err
	}
	w.body.Reset()
	_, err = w.body.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil || resp.Close {
		w.close()
	}
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, w.body.Bytes(), nil
}

func (w *wireConn) dial() error {
	d := net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	c, err := d.Dial("tcp", w.addr)
	if err != nil {
		return err
	}
	if w.tlsConfig != nil {
		c = tls.Client(c, w.tlsConfig)
	}
	w.c = c
	if w.br == nil {
		w.br = bufio.NewReaderSize(c, 8<<10)
	} else {
		w.br.Reset(c)
	}
	return nil
}

func (w *wireConn) close() {
	if w.c != nil {
		w.c.Close()
		w.c = nil
	}
}

// Close closes the connection, if one is open.
func (w *wireConn) Close() error {
	w.close()
	return nil
}
