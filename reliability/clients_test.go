package reliability_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/otp"
	"github.com/go-observer/observer/web"
)

var clientsLong = flag.Bool("clients-long", false,
	"TestHalfStuckClients's long form: 10 pairs of 500 ms windows, the observer's and the dashboard's defaults, and the 5 % bound")

const (
	clientsN   = 100 // websocket clients, half of which never read
	idleSups   = 8   // supervisors of idle servers, so that frames have content
	idlePerSup = 32
)

// wsClient is one websocket client of the run: a reader, which reads
// every frame, or a stuck one, which never reads.
type wsClient struct {
	ws        *websocket.Conn
	reads     bool
	server    *trackConn // the server's side of the connection
	frames    atomic.Int64
	bytes     atomic.Int64
	lastFrame atomic.Int64 // Unix nanoseconds
	maxGap    atomic.Int64 // the longest wait between two frames
	err       error        // why reading ended; set before done closes
	done      chan struct{}
}

func (c *wsClient) read() {
	defer close(c.done)
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.err = err
			return
		}
		c.bytes.Add(int64(len(data)))
		now := time.Now().UnixNano()
		if last := c.lastFrame.Swap(now); last != 0 && now-last > c.maxGap.Load() {
			c.maxGap.Store(now - last)
		}
		c.frames.Add(1)
	}
}

// A hundred dashboard clients, half of which never read: the
// application's call throughput with them attached stays within a bound
// of its throughput without them; the server drops every stuck client
// (closes its connection, which the client finds closed when it reads at
// last) and none of the reading ones, whose frames keep coming; nothing
// is left behind once everything closes.
//
// Throughput is two callers calling one server as fast as they can, in
// paired windows: one with the clients connected (after their first
// frames), one without, the order alternating from pair to pair so that
// drift cancels; the median of the pairs' drops is asserted. The long
// form (-clients-long: 10 pairs of 500 ms, the dashboard's default
// timeouts, the observer's default 1 s tick), run on a machine as quiet
// as can be had, asserts that the calls per second drop by at most 5 %.
// The short form, which CI runs under -race on a shared 2-core machine
// (9 pairs of 300 ms, a 250 ms tick so that clients get four frames a
// second, stuck clients dropped within 4 s), asserts 25 %, and on calls
// per CPU-second of the whole process (the dashboard's and the clients'
// work included) rather than per second: there other jobs swing single
// windows by ±50 % and more in either direction, so 5 % per second would
// fail for reasons that are not the dashboard's. It catches a dashboard
// that eats a large share of the CPU; the 5 % is the long form's claim.
func TestHalfStuckClients(t *testing.T) {
	if testing.Short() {
		t.Skip("a hundred websocket clients for several seconds")
	}
	defer goleak.VerifyNone(t)
	pairs, window, bound := 9, 300*time.Millisecond, 25.0
	// A reading client's pong must reach the server within two ping
	// periods: under -race on a loaded machine, a 1 s period dropped
	// some of them.
	writeTimeout, pingPeriod, tick := time.Second, 2*time.Second, 250*time.Millisecond
	if *clientsLong {
		pairs, window, bound = 10, 500*time.Millisecond, 5.0
		writeTimeout, pingPeriod, tick = 10*time.Second, 20*time.Second, time.Second // the defaults
	}
	opts := web.Options{WriteTimeout: writeTimeout, PingPeriod: pingPeriod}

	n := otp.NewNode(otp.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	children := []otp.ChildSpec{otp.Worker("echo", func() otp.Server[int, int] { return echo{} }, otp.Name("echo"))}
	for s := range idleSups {
		var spec otp.SupervisorSpec
		for c := range idlePerSup {
			spec.Children = append(spec.Children, otp.Worker(fmt.Sprintf("idle-%d-%d", s, c),
				func() otp.Server[int, int] { return echo{} }))
		}
		children = append(children, otp.SupervisorChild(fmt.Sprintf("idle-%d", s), spec))
	}
	defer func() {
		if err := n.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	}()
	if _, err := otp.StartSupervisor(n, otp.SupervisorSpec{Children: children}, otp.Name("app")); err != nil {
		t.Fatal(err)
	}
	obs, err := observer.New(n.ProcessTable(), observer.Options{Tick: tick,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := obs.Start(); err != nil {
		t.Fatal(err)
	}
	defer obs.Close()
	dash, err := web.New(obs, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer dash.Close()
	mux := http.NewServeMux()
	dash.Register(mux, "/")
	ln, err := newTrackListener()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"

	// The application: two callers, as fast as they can.
	var calls atomic.Int64
	callersStop := make(chan struct{})
	var callers sync.WaitGroup
	defer func() { close(callersStop); callers.Wait() }()
	for range 2 {
		callers.Go(func() {
			ref := otp.Named[int, int](n, "echo")
			for i := 0; ; i++ {
				select {
				case <-callersStop:
					return
				default:
				}
				if got, err := otp.Call(context.Background(), ref, i); err != nil || got != i {
					t.Errorf("echo call %d: got %d, %v", i, got, err)
					return
				}
				calls.Add(1)
			}
		})
	}
	measure := func() rate {
		c0, t0 := calls.Load(), time.Now()
		cpu0, _ := cpuTime()
		time.Sleep(window) // a measurement window, not a wait
		cpu1, ok := cpuTime()
		c := float64(calls.Load() - c0)
		r := rate{wall: c / time.Since(t0).Seconds()}
		if ok && cpu1 > cpu0 {
			r.cpu = c / (cpu1 - cpu0).Seconds()
		}
		return r
	}

	var live []*wsClient // every client connected, closed on the way out
	defer func() {
		for _, c := range live {
			c.ws.Close()
			<-c.done
		}
	}()
	connect := func() []*wsClient {
		views := []string{"overview", "tree", "processes"}
		stuck := &websocket.Dialer{HandshakeTimeout: 10 * time.Second,
			NetDialContext: (&net.Dialer{Control: smallRcvbuf}).DialContext}
		reader := &websocket.Dialer{HandshakeTimeout: 10 * time.Second}
		cs := make([]*wsClient, clientsN)
		errs := make([]error, clientsN)
		var dials sync.WaitGroup
		for w := range 10 { // ten browsers connecting at once
			dials.Go(func() {
				for i := w; i < clientsN; i += 10 {
					c := &wsClient{reads: i%2 == 0, done: make(chan struct{})}
					d := stuck
					if c.reads {
						d = reader
					}
					ws, _, err := d.Dial(wsURL+"?view="+views[i/2%len(views)], http.Header{"Origin": {srv.URL}})
					if err != nil {
						errs[i] = err
						continue
					}
					c.ws, c.server = ws, ln.conn(ws.LocalAddr())
					if c.server == nil {
						ws.Close()
						errs[i] = fmt.Errorf("the server has no connection from %v", ws.LocalAddr())
						continue
					}
					if c.reads {
						go c.read()
					} else {
						close(c.done)
					}
					cs[i] = c
				}
			})
		}
		dials.Wait()
		for i, c := range cs {
			if c != nil {
				live = append(live, c)
			} else {
				t.Fatalf("client %d: %v", i, errs[i])
			}
		}
		return cs
	}
	disconnect := func(cs []*wsClient) {
		for _, c := range cs {
			c.ws.Close()
			<-c.done
		}
		await(t, 10*time.Second, "the server to close every connection", func() bool { return ln.open() == 0 })
	}
	awaitFrames := func(cs []*wsClient, what string, more map[*wsClient]int64) {
		await(t, 10*time.Second, what, func() bool {
			for _, c := range cs {
				if c.reads && c.frames.Load() <= more[c] {
					return false
				}
			}
			return true
		})
	}

	// Paired windows, the order alternating.
	var without, with []rate
	var drops, cpuDrops []float64
	for i := range pairs {
		attached := func() rate {
			cs := connect()
			awaitFrames(cs, "every reading client's first frame", nil)
			r := measure()
			disconnect(cs)
			return r
		}
		var w0, w1 rate
		if i%2 == 0 {
			w0 = measure()
			w1 = attached()
		} else {
			w1 = attached()
			w0 = measure()
		}
		without, with = append(without, w0), append(with, w1)
		drops = append(drops, (1-w1.wall/w0.wall)*100)
		if w0.cpu > 0 && w1.cpu > 0 {
			cpuDrops = append(cpuDrops, (1-w1.cpu/w0.cpu)*100)
		}
	}

	// The stuck clients, kept connected until the server drops them.
	cs := connect()
	phase, c0 := time.Now(), calls.Load()
	awaitFrames(cs, "every reading client's first frame", nil)
	first := map[*wsClient]int64{}
	for _, c := range cs {
		first[c] = c.frames.Load()
	}
	// A stuck client answers no ping: its read deadline, two ping periods,
	// drops it, unless a write blocked on its full buffers does sooner.
	await(t, 2*pingPeriod+writeTimeout+10*time.Second, "the server to drop every stuck client", func() bool {
		for _, c := range cs {
			if !c.reads && !c.server.isClosed() {
				return false
			}
		}
		return true
	})
	dropped := time.Now()
	during := float64(calls.Load()-c0) / dropped.Sub(phase).Seconds()
	var lifetimes []time.Duration
	var timedOut int
	var absorbed int64
	for _, c := range cs {
		switch {
		case c.reads && c.server.isClosed():
			t.Errorf("a reading client was dropped after %v", c.server.lifetime())
		case !c.reads:
			lifetimes = append(lifetimes, c.server.lifetime())
			absorbed = max(absorbed, c.server.written.Load())
			if c.server.timedOut.Load() {
				timedOut++
			}
		}
	}
	slices.Sort(lifetimes)
	for _, c := range cs {
		if c.reads && c.frames.Load() <= first[c] {
			t.Errorf("a reading client got no frame while the stuck ones were connected (%d in all)", c.frames.Load())
		}
	}
	after := map[*wsClient]int64{}
	for _, c := range cs {
		after[c] = c.frames.Load() + 1
	}
	awaitFrames(cs, "two more frames to every reading client once the stuck ones are gone", after)
	var maxGap time.Duration
	var frames, bytes int64
	for _, c := range cs {
		maxGap = max(maxGap, time.Duration(c.maxGap.Load()))
		frames, bytes = frames+c.frames.Load(), bytes+c.bytes.Load()
	}

	// A stuck client that reads now finds its connection closed: what
	// was buffered, then the close frame or the end of the stream.
	var closes, eofs atomic.Int64
	var codes sync.Map // close code → count
	var drain sync.WaitGroup
	for _, c := range cs {
		if c.reads {
			continue
		}
		drain.Go(func() {
			// No pongs: one written to the closed socket would reset
			// the connection before the close frame is read.
			c.ws.SetPingHandler(func(string) error { return nil })
			c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
			for {
				_, _, err := c.ws.ReadMessage()
				if err == nil {
					continue
				}
				var ne net.Error
				var ce *websocket.CloseError
				switch {
				case errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure: // 1006: no close frame
					closes.Add(1)
					n, _ := codes.LoadOrStore(ce.Code, new(atomic.Int64))
					n.(*atomic.Int64).Add(1)
				case errors.As(err, &ne) && ne.Timeout():
					t.Errorf("a dropped client still had an open connection 10 s later: %v", err)
				default:
					eofs.Add(1)
				}
				return
			}
		})
	}
	drain.Wait()

	// The dashboard closes with a hundred clients attached, half of them
	// stuck: Close returns within its bound, every connection is closed
	// when it does, and the reading clients hear 1001 (going away).
	cs = connect()
	awaitFrames(cs, "every reading client's first frame", nil)
	closing := time.Now()
	dash.Close()
	closeTook := time.Since(closing)
	if open := ln.open(); open > 0 {
		t.Errorf("%d connections still open after the dashboard's Close returned", open)
	}
	for _, c := range cs {
		<-c.done
		var ce *websocket.CloseError
		if c.reads && (!errors.As(c.err, &ce) || ce.Code != websocket.CloseGoingAway) {
			t.Errorf("a reading client's connection ended with %v, want close 1001 (going away)", c.err)
		}
	}
	if closeTook > 5*time.Second {
		t.Errorf("the dashboard's Close took %v with stuck clients attached, want at most 5s: 2 s of grace, then their sockets are closed", closeTook)
	}

	wall := func(rs []rate) (out []float64) {
		for _, r := range rs {
			out = append(out, r.wall)
		}
		return out
	}
	cpu := func(rs []rate) (out []float64) {
		for _, r := range rs {
			out = append(out, r.cpu)
		}
		return out
	}
	t.Logf("call throughput over %d pairs of %v windows: %.0f calls/s without clients, %.0f with %d (medians); drop per pair %s; median %.1f %%",
		pairs, window, median(wall(without)), median(wall(with)), clientsN, pcts(drops), median(drops))
	if len(cpuDrops) > 0 {
		t.Logf("per CPU-second of the whole process: %.0f calls without clients, %.0f with (medians); drop per pair %s; median %.1f %%",
			median(cpu(without)), median(cpu(with)), pcts(cpuDrops), median(cpuDrops))
	}
	t.Logf("%d stuck clients dropped %v–%v after connecting (median %v; write timeout %v, ping period %v); %d by a write deadline, the rest by their unanswered pings; the server wrote at most %d KiB to one before dropping it",
		len(lifetimes), lifetimes[0].Round(10*time.Millisecond), lifetimes[len(lifetimes)-1].Round(10*time.Millisecond),
		lifetimes[len(lifetimes)/2].Round(10*time.Millisecond), writeTimeout, pingPeriod, timedOut, absorbed>>10)
	t.Logf("meanwhile %.0f calls/s (%.1f %% under the median without clients); the reading clients' longest wait between frames %v, %d bytes a frame on average; read after the drop, %d stuck clients found a close frame (%s), %d the end of the stream without one (after a write that timed out, the server sends none)",
		during, (1-during/median(wall(without)))*100, maxGap.Round(10*time.Millisecond), bytes/max(frames, 1), closes.Load(), codeCounts(&codes), eofs.Load())

	t.Logf("the dashboard's Close, with %d clients attached (%d stuck), took %v", clientsN, clientsN/2, closeTook.Round(time.Millisecond))

	// The long form asserts the application's calls per second; the short
	// form its calls per CPU-second, which other jobs on the machine
	// cannot swing (see the test's comment).
	what, got := "calls per second", median(drops)
	if !*clientsLong && len(cpuDrops) == pairs {
		what, got = "calls per CPU-second", median(cpuDrops)
	}
	if got > bound {
		t.Errorf("the application's %s dropped by %.1f %% (median of %d pairs) with %d clients attached, want at most %.0f %%",
			what, got, pairs, clientsN, bound)
	}
}

// rate is a window's call throughput: per second, and per CPU-second of
// the whole process (0 where it cannot be measured).
type rate struct{ wall, cpu float64 }

func median(s []float64) float64 {
	s = slices.Clone(s)
	slices.Sort(s)
	return s[len(s)/2]
}

func codeCounts(m *sync.Map) string {
	var out []string
	m.Range(func(k, v any) bool {
		out = append(out, fmt.Sprintf("%d×%d", v.(*atomic.Int64).Load(), k))
		return true
	})
	slices.Sort(out)
	return strings.Join(out, ", ")
}

func pcts(s []float64) string {
	var b strings.Builder
	for i, v := range s {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%+.1f", v)
	}
	return b.String()
}

// await polls cond until it holds, and fails the test if it does not
// within d.
func await(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
