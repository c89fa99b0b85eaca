package web

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/otp"
)

// bigTable spawns n processes: a root supervisor, ten dynamic supervisors
// and n-11 sessions under them, and keeps about 2,000 of them busy with
// traffic until stop is closed.
func bigTable(b *testing.B, n int, stop <-chan struct{}) *instrument.ProcessTable {
	t := instrument.NewProcessTable()
	root := t.Spawn(instrument.Info{Name: "app", Kind: instrument.KindSupervisor,
		Supervisor: &instrument.SupervisorInfo{Strategy: "one_for_one", MaxRestarts: 3, Period: 5 * time.Second}})
	var sups []*instrument.Proc
	for i := range 10 {
		sups = append(sups, t.Spawn(instrument.Info{Name: "sessions-" + strconv.Itoa(i), Kind: instrument.KindDynamicSupervisor, Parent: root.ID(),
			Supervisor: &instrument.SupervisorInfo{Strategy: "one_for_one", MaxRestarts: 3, Period: 5 * time.Second}}))
	}
	procs := make([]*instrument.Proc, 0, n)
	for i := range n - 11 {
		procs = append(procs, t.Spawn(instrument.Info{Name: "session-" + strconv.Itoa(i), Kind: instrument.KindServer, Parent: sups[i%10].ID()}))
	}
	go func() { // the owner of the active processes' counters
		active := procs[:min(len(procs), 2000)]
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for round := 0; ; round++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for i, p := range active {
				if (i+round)%7 == 0 {
					continue
				}
				p.Enqueued()
				p.HandlerStart(false)
				p.HandlerEnd(false)
			}
		}
	}()
	return t
}

// countingConn counts the bytes read from the wire: what the server sent,
// compressed as negotiated.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func dialCounting(b *testing.B, url string, origin string, n *atomic.Int64, compress bool) *websocket.Conn {
	d := websocket.Dialer{
		EnableCompression: compress,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return countingConn{c, n}, nil
		},
	}
	c, _, err := d.Dial(url, http.Header{"Origin": {origin}})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkClient100k measures, with 100,000 processes and the default
// 1 s tick, the bytes one browser receives per tick (so per second) on
// each live view, and the server CPU per tick spent building its frames.
// One iteration is one tick: run it with -benchtime=10x.
func BenchmarkClient100k(b *testing.B) {
	stop := make(chan struct{})
	defer close(stop)
	table := bigTable(b, 100_000, stop)
	obs, err := observer.New(table, observer.Options{Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	obs.Start()
	defer obs.Close()
	dash, _ := New(obs, Options{})
	defer dash.Close()
	srv := httptest.NewServer(dash)
	defer srv.Close()
	ws := "ws" + srv.URL[len("http"):] + "/ws"
	for _, view := range []string{"overview", "tree", "processes", "processes&q=session-4242", "advisor", "events"} {
		name := strings.ReplaceAll(strings.ReplaceAll(view, "&q=", "-search-"), "&", "-")
		b.Run(name, func(b *testing.B) {
			var n atomic.Int64
			c := dialCounting(b, ws+"?view="+view, srv.URL, &n, true)
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(time.Minute))
			if _, _, err := c.ReadMessage(); err != nil { // the full first frame
				b.Fatal(err)
			}
			first := n.Load()
			build0 := dash.hub.buildNanos.Load()
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime()
			n.Store(0)
			for range b.N {
				if _, _, err := c.ReadMessage(); err != nil {
					b.Fatal(err)
				}
			}
			elapsed, cpu := time.Since(start), cpuTime()-cpu0
			b.StopTimer()
			b.ReportMetric(float64(n.Load())/elapsed.Seconds(), "B/s")
			b.ReportMetric(float64(n.Load())/float64(b.N), "B/tick")
			b.ReportMetric(float64(first), "first-B")
			b.ReportMetric(float64(dash.hub.buildNanos.Load()-build0)/float64(b.N)/1e6, "build-ms/tick")
			b.ReportMetric(float64(cpu)/float64(b.N)/1e6, "process-cpu-ms/tick")
			b.ReportMetric(0, "ns/op")
		})
	}
	b.Run("no-client", func(b *testing.B) { // the baseline: sampler and simulated traffic
		start, cpu0 := time.Now(), cpuTime()
		time.Sleep(time.Duration(b.N) * time.Second)
		elapsed, cpu := time.Since(start), cpuTime()-cpu0
		b.ReportMetric(float64(cpu)/elapsed.Seconds()/1e6, "process-cpu-ms/tick")
		b.ReportMetric(0, "ns/op")
	})
}

type echo struct{}

func (echo) HandleCall(ctx context.Context, n int) (int, error) { return n + 1, nil }

// BenchmarkThroughput100Clients measures an application's call
// throughput (two callers against one server, real otp message passing)
// beside 100,000 observed processes, alternately with no dashboard client
// and with 100 connected (40 on the overview, 30 on the tree, 30 on the
// processes page), and reports the median over iterations of the drop
// from each window without clients to the window with them that follows.
// One iteration is one pair of windows.
func BenchmarkThroughput100Clients(b *testing.B) {
	stop := make(chan struct{})
	defer close(stop)
	table := bigTable(b, 100_000, stop)
	node := otp.NewNode(otp.Config{Logger: quiet(), ProcessTable: table})
	defer node.Stop()
	ref, err := otp.Start(node, echo{}, otp.Name("echo"))
	if err != nil {
		b.Fatal(err)
	}
	obs, err := observer.New(table, observer.Options{Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	obs.Start()
	defer obs.Close()
	dash, _ := New(obs, Options{})
	defer dash.Close()
	srv := httptest.NewServer(dash)
	defer srv.Close()
	ws := "ws" + srv.URL[len("http"):] + "/ws"

	var calls atomic.Int64
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				otp.Call(ctx, ref, i)
				calls.Add(1)
			}
		}()
	}
	defer func() { close(done); wg.Wait() }()

	window := func() float64 {
		c0, t0 := calls.Load(), time.Now()
		time.Sleep(2 * time.Second)
		return float64(calls.Load()-c0) / time.Since(t0).Seconds()
	}
	var without, with, drops []float64
	var received atomic.Int64
	b.ResetTimer()
	for range b.N {
		without = append(without, window())
		var conns []*websocket.Conn
		var rw sync.WaitGroup
		for i := range 100 {
			view := "overview"
			switch {
			case i >= 70:
				view = "processes"
			case i >= 40:
				view = "tree"
			}
			// Browsers would inflate frames in their own processes: these
			// clients, in the benchmark's process, take them uncompressed.
			c := dialCounting(b, ws+"?view="+view, srv.URL, &received, false)
			conns = append(conns, c)
			rw.Add(1)
			go func() {
				defer rw.Done()
				for {
					if _, _, err := c.ReadMessage(); err != nil {
						return
					}
				}
			}()
		}
		time.Sleep(1500 * time.Millisecond) // first frames out of the way
		with = append(with, window())
		drops = append(drops, (1-with[len(with)-1]/without[len(without)-1])*100)
		for _, c := range conns {
			c.Close()
		}
		rw.Wait()
		waitFor(b, 5*time.Second, "the clients to go", func() bool { return dash.hub.count() == 0 })
	}
	b.StopTimer()
	med := func(s []float64) float64 { s = slices.Clone(s); slices.Sort(s); return s[len(s)/2] }
	b.ReportMetric(med(without), "calls/s-0-clients")
	b.ReportMetric(med(with), "calls/s-100-clients")
	b.ReportMetric(med(drops), "drop-%")
	b.ReportMetric(0, "ns/op")
}
