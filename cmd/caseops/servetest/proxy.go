package servetest

import (
	"net"
	"sync"
	"testing"
)

// DBProxy forwards TCP connections to Postgres until it is cut: then it drops every connection it carries
// and turns new ones away, as a network partition or a database restart does, until it is restored.
// It can also hang: then it keeps every connection open but forwards nothing, as a stalled network path or a
// frozen server does, until it resumes.
type DBProxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	down    bool
	hung    bool
	held    int        // chunks of data waiting for the proxy to resume
	flowing *sync.Cond // signalled when hung or down changes
	conns   map[net.Conn]bool
	dials   int // connections clients opened to the proxy, turned away or not
	wg      sync.WaitGroup
}

// StartDBProxy listens on a free loopback port and forwards to target (host:port) until the test ends.
func StartDBProxy(t testing.TB, target string) *DBProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &DBProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.flowing = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.Cut()
		p.wg.Wait()
	})
	return p
}

// Addr is where the proxy listens.
func (p *DBProxy) Addr() string { return p.ln.Addr().String() }

func (p *DBProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return // closed at cleanup
		}
		p.wg.Add(1)
		go p.pipe(client)
	}
}

func (p *DBProxy) pipe(client net.Conn) {
	defer p.wg.Done()
	// A partition never reaches the server: while cut, turn the client away without dialing Postgres, whose
	// listen queue would otherwise fill with the connections opened and dropped at once, and hold up the
	// first connections after the restore for a SYN retransmission (a second each).
	p.mu.Lock()
	down := p.down
	p.dials++
	p.mu.Unlock()
	if down {
		client.Close()
		return
	}
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		client.Close()
		server.Close()
		return
	}
	p.conns[client], p.conns[server] = true, true
	p.mu.Unlock()

	done := make(chan struct{}, 2)
	go func() { p.forward(server, client); done <- struct{}{} }()
	go func() { p.forward(client, server); done <- struct{}{} }()
	<-done
	client.Close()
	server.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}

// forward copies src to dst until either fails or the proxy is cut, holding each chunk while it is hung.
func (p *DBProxy) forward(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.waitFlowing() {
				return
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// waitFlowing waits while the proxy is hung and reports whether it may forward (it is not cut).
func (p *DBProxy) waitFlowing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hung && !p.down {
		p.held++
		for p.hung && !p.down {
			p.flowing.Wait()
		}
		p.held--
	}
	return !p.down
}

// Cut drops every connection and refuses new ones until restore.
func (p *DBProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	p.flowing.Broadcast()
}

// Hang stops forwarding without closing anything, until resume.
func (p *DBProxy) Hang() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hung = true
}

// Resume forwards again what Hang held.
func (p *DBProxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hung = false
	p.flowing.Broadcast()
}

// HeldChunks is how many chunks of data wait for the proxy to resume.
func (p *DBProxy) HeldChunks() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held
}

// Dials is how many connections clients have opened to the proxy.
func (p *DBProxy) Dials() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dials
}

// Restore lets connections through again after Cut.
func (p *DBProxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}
