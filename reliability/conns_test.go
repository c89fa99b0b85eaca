package reliability_test

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// trackListener records, for each connection the server accepts, when it
// was accepted and closed, the bytes written to it and whether a write
// failed on its deadline: the server's side of each client, seen from
// outside the server.
type trackListener struct {
	net.Listener
	mu    sync.Mutex
	conns map[string]*trackConn // by the client's address
}

func newTrackListener() (*trackListener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return &trackListener{Listener: ln, conns: map[string]*trackConn{}}, nil
}

func (l *trackListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackConn{Conn: c, accepted: time.Now(), closed: make(chan struct{})}
	l.mu.Lock()
	l.conns[c.RemoteAddr().String()] = tc
	l.mu.Unlock()
	return tc, nil
}

// conn returns the server's side of the client whose local address is
// addr, nil if the server has not accepted it yet.
func (l *trackListener) conn(addr net.Addr) *trackConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conns[addr.String()]
}

// open counts the accepted connections the server has not closed.
func (l *trackListener) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.conns {
		if !c.isClosed() {
			n++
		}
	}
	return n
}

type trackConn struct {
	net.Conn
	accepted  time.Time
	written   atomic.Int64
	timedOut  atomic.Bool // a write failed on its deadline
	closeOnce sync.Once
	closedAt  time.Time // set before closed is closed
	closed    chan struct{}
}

func (c *trackConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.written.Add(int64(n))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.timedOut.Store(true)
	}
	return n, err
}

func (c *trackConn) Close() error {
	c.closeOnce.Do(func() {
		c.closedAt = time.Now()
		close(c.closed)
	})
	return c.Conn.Close()
}

func (c *trackConn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// lifetime is how long the server kept the connection open; it is only
// valid once the connection is closed.
func (c *trackConn) lifetime() time.Duration { return c.closedAt.Sub(c.accepted) }
