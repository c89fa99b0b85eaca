package web

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// stuckListener hands out connections whose writes block, once stuck is
// set, until their write deadline: a browser that stopped reading, with
// full socket buffers.
type stuckListener struct {
	net.Listener
	mu    sync.Mutex
	conns []*stuckConn
}

func (l *stuckListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	sc := &stuckConn{Conn: c}
	l.mu.Lock()
	l.conns = append(l.conns, sc)
	l.mu.Unlock()
	return sc, nil
}

type stuckConn struct {
	net.Conn
	stuck    atomic.Bool
	deadline atomic.Int64 // Unix nanoseconds; 0 for none
}

func (c *stuckConn) SetWriteDeadline(t time.Time) error {
	if t.IsZero() {
		c.deadline.Store(0)
	} else {
		c.deadline.Store(t.UnixNano())
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *stuckConn) SetDeadline(t time.Time) error {
	c.SetWriteDeadline(t)
	return c.Conn.SetDeadline(t)
}

func (c *stuckConn) Write(p []byte) (int, error) {
	if c.stuck.Load() {
		d := c.deadline.Load()
		if d == 0 {
			select {} // no deadline: stuck for ever, as a bug would be
		}
		time.Sleep(time.Until(time.Unix(0, d)))
		return 0, os.ErrDeadlineExceeded
	}
	return c.Conn.Write(p)
}

func TestStuckBrowserDropped(t *testing.T) {
	f := newFixture(t, "/", Options{WriteTimeout: 300 * time.Millisecond})
	// A second server for the same dashboard, whose connections can get stuck.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sl := &stuckListener{Listener: ln}
	srv := httptest.NewUnstartedServer(f.dash)
	srv.Listener = sl
	srv.Start()
	defer srv.Close()

	good, _, err := f.dial(t, "?view=tree", nil)
	if err != nil {
		t.Fatal(err)
	}
	readFrame(t, good)
	wsURL := "ws" + srv.URL[len("http"):] + "/ws?view=overview"
	bad, _, err := dialer().Dial(wsURL, http.Header{"Origin": {srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	readFrame(t, bad)
	waitFor(t, 5*time.Second, "two clients", func() bool { return f.dash.hub.count() == 2 })

	// The browser stops reading; its writes now block.
	sl.mu.Lock()
	for _, c := range sl.conns {
		c.stuck.Store(true)
	}
	sl.mu.Unlock()
	tick := f.obs.Snapshot().Tick
	waitFor(t, 5*time.Second, "the stuck browser to be dropped", func() bool { return f.dash.hub.count() == 1 })
	// The sampler went on, and so did the good browser.
	waitFor(t, 5*time.Second, "more ticks", func() bool { return f.obs.Snapshot().Tick >= tick+2 })
	for fr := readFrame(t, good); fr.Tick < tick+2; fr = readFrame(t, good) {
	}
}

func dialer() *websocket.Dialer { return &websocket.Dialer{HandshakeTimeout: 5 * time.Second} }
