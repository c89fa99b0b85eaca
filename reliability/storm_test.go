package reliability_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/otp"
	"github.com/go-observer/observer/web"
)

var (
	stormFor  = flag.Duration("storm", 3*time.Second, "how long TestCrashStorm storms (the long form: -storm 60s)")
	stormRate = flag.Int("storm-rate", 32_000, "panics per second TestCrashStorm asks for (a little over the 30,000 it must reach: ticks run late)")
)

const (
	stormSups    = 32   // supervisors under the storm
	stormPerSup  = 16   // crashing servers under each
	stormMaxRate = 5000 // each storm supervisor's intensity, per second: above its share
	weakMax      = 3    // the weak supervisor's intensity, in 5 s: it gives up again and again
)

// crasher is a named server that panics on a boom.
type crasher struct{}

type boom struct{}

func (crasher) HandleCall(context.Context, int) (int, error) { return 0, nil }

func (crasher) HandleInfo(_ context.Context, m any) error {
	if _, ok := m.(boom); ok {
		panic("storm: injected panic")
	}
	return nil
}

// echo is the application's own server, which must keep answering.
type echo struct{}

func (echo) HandleCall(_ context.Context, n int) (int, error) { return n, nil }

// lines counts log lines, so the run can say how many a storm wrote.
type lines struct{ n atomic.Int64 }

func (l *lines) Enabled(context.Context, slog.Level) bool  { return true }
func (l *lines) Handle(context.Context, slog.Record) error { l.n.Add(1); return nil }
func (l *lines) WithAttrs([]slog.Attr) slog.Handler        { return l }
func (l *lines) WithGroup(string) slog.Handler             { return l }

func crasherName(s, c int) string { return fmt.Sprintf("crasher-%d-%d", s, c) }

// A crash storm, with the observer, the dashboard and a websocket client
// attached: the application keeps answering, every supervisor obeys its
// intensity (the weak one gives up and is restarted by its parent, the
// others never do), the heap stays bounded, lost events are counted,
// Node.Stop returns in bounded time in the middle of the storm, and no
// goroutine is left behind.
func TestCrashStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("a crash storm of several seconds")
	}
	defer goleak.VerifyNone(t)
	logged := &lines{}
	n := otp.NewNode(otp.Config{Logger: slog.New(logged)})
	var children []otp.ChildSpec
	children = append(children, otp.Worker("echo", func() otp.Server[int, int] { return echo{} }, otp.Name("echo")))
	for s := range stormSups {
		spec := otp.SupervisorSpec{MaxRestarts: stormMaxRate, Period: time.Second}
		for c := range stormPerSup {
			spec.Children = append(spec.Children, otp.Worker(crasherName(s, c),
				func() otp.Server[int, int] { return crasher{} }, otp.Name(crasherName(s, c))))
		}
		children = append(children, otp.SupervisorChild(fmt.Sprintf("storm-%d", s), spec, otp.Name(fmt.Sprintf("storm-%d", s))))
	}
	children = append(children, otp.SupervisorChild("weak", otp.SupervisorSpec{MaxRestarts: weakMax,
		Children: []otp.ChildSpec{otp.Worker("weakling", func() otp.Server[int, int] { return crasher{} }, otp.Name("weakling"))}}))
	if _, err := otp.StartSupervisor(n, otp.SupervisorSpec{MaxRestarts: 1 << 20, Period: time.Second, Children: children},
		otp.Name("app")); err != nil {
		t.Fatal(err)
	}
	events := n.ProcessTable().Subscribe(1 << 16)
	defer events.Close()

	obs, err := observer.New(n.ProcessTable(), observer.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := obs.Start(); err != nil {
		t.Fatal(err)
	}
	dash, err := web.New(obs, web.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	dash.Register(mux, "/")
	srv := httptest.NewServer(mux)
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws",
		http.Header{"Origin": {srv.URL}})
	if err != nil {
		t.Fatalf("websocket: %v", err)
	}
	var frames atomic.Int64
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
			frames.Add(1)
		}
	}()

	// The storm: every 10 ms, a hundredth of the rate in booms, each to
	// a random crasher by name (its current incarnation).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sent atomic.Int64
	wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		next := 0
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			// Each boom of a tick to a different crasher: a second boom
			// to an incarnation that the first one crashed is lost with
			// its mailbox, and the storm would ask for more panics than
			// it makes.
			for range *stormRate / 100 {
				next = (next + 1) % (stormSups * stormPerSup)
				if pid, ok := n.Whereis(crasherName(next/stormPerSup, next%stormPerSup)); ok && n.Send(pid, boom{}) == nil {
					sent.Add(1)
				}
			}
			if pid, ok := n.Whereis("weakling"); ok {
				n.Send(pid, boom{})
			}
		}
	})
	// The application's own work: calls to echo, which must all succeed.
	var calls, failed atomic.Int64
	var slowest atomic.Int64
	callerStop := make(chan struct{})
	callerDone := make(chan struct{})
	go func() {
		defer close(callerDone)
		ref := otp.Named[int, int](n, "echo")
		for i := 0; ; i++ {
			select {
			case <-callerStop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			start := time.Now()
			if got, err := otp.Call(context.Background(), ref, i); err != nil || got != i {
				failed.Add(1)
				t.Errorf("echo call %d: got %d, %v", i, got, err)
			}
			calls.Add(1)
			if d := time.Since(start); int64(d) > slowest.Load() {
				slowest.Store(int64(d))
			}
		}
	}()

	start := time.Now()
	exited0 := n.ProcessTable().Stats().Exited
	var heapEarly, heapLate uint64
	var gaveUp, gaveUpStorm int
	early := time.After(*stormFor / 6)
	end := time.After(*stormFor)
storm:
	for {
		select {
		case ev := <-events.C():
			if g, ok := ev.(instrument.GaveUp); ok {
				gaveUp++
				if g.Failures != weakMax+1 && g.MaxRestarts == weakMax {
					t.Errorf("the weak supervisor gave up after %d failures, want %d", g.Failures, weakMax+1)
				}
				if g.MaxRestarts == stormMaxRate {
					gaveUpStorm++
				}
			}
		case <-early:
			heapEarly = heap()
		case <-end:
			break storm
		}
	}
	heapLate = heap()
	elapsed := time.Since(start)
	crashes := n.ProcessTable().Stats().Exited - exited0
	close(callerStop)
	<-callerDone

	// Stop the node in the middle of the storm.
	stopStart := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- n.Stop() }()
	select {
	case err := <-stopped:
		if err != nil && !errors.Is(err, otp.ErrUnresponsive) {
			t.Errorf("stop: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Node.Stop did not return within 30s of a crash storm")
	}
	stopTook := time.Since(stopStart)
	close(stop)
	wg.Wait()
	snap := obs.Snapshot()
	dash.Close()
	ws.Close()
	<-readerDone
	srv.Close()
	obs.Close()

	t.Logf("%v of storm, %d panics asked for (%.0f/s), %d processes exited (%.0f/s); %d log lines; %d gave up (%d of the storm's)",
		elapsed.Round(time.Millisecond), sent.Load(), float64(sent.Load())/elapsed.Seconds(), crashes, float64(crashes)/elapsed.Seconds(),
		logged.n.Load(), gaveUp, gaveUpStorm)
	t.Logf("echo: %d calls, %d failed, slowest %v; heap %d MiB at %v, %d MiB at %v; events dropped: %d by the observer, %d by the run's own subscription; %d websocket frames; Node.Stop took %v",
		calls.Load(), failed.Load(), time.Duration(slowest.Load()).Round(time.Microsecond),
		heapEarly>>20, *stormFor/6, heapLate>>20, *stormFor, snap.System.EventsDropped, events.Dropped(), frames.Load(), stopTook.Round(time.Millisecond))

	if crashes < 1000 {
		t.Errorf("only %d processes exited: the storm did not happen", crashes)
	}
	if calls.Load() == 0 {
		t.Error("the application made no call during the storm")
	}
	if gaveUp == 0 {
		t.Error("the weak supervisor never gave up: its intensity was not obeyed")
	}
	if gaveUpStorm > 0 {
		t.Errorf("%d storm supervisors gave up within their intensity", gaveUpStorm)
	}
	if heapLate > heapEarly*2+64<<20 {
		t.Errorf("heap grew from %d MiB to %d MiB during the storm", heapEarly>>20, heapLate>>20)
	}
	if frames.Load() == 0 {
		t.Error("the websocket client got no frame during the storm")
	}
	// Rate-limited: at most a line a second for each kind of line about
	// each process (a crash, a restart), whatever the number of crashes.
	keys := 2 * (stormSups*stormPerSup + 1)
	if lines, most := logged.n.Load(), int64(keys)*int64(elapsed.Seconds()+2)+100; lines > most {
		t.Errorf("%d log lines for %d crashes, want at most %d: identical lines are not rate-limited", lines, crashes, most)
	}
}

func heap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
