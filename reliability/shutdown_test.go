package reliability_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

var shutdownLong = flag.Bool("shutdown-long", false,
	"TestShutdownUnderLoad's long form: 50 clients, 10 s of load and chaos at the demo's highest crash rate, and a hang in flight at the signal")

// The demo's own shutdown timeouts, which bound its time to exit: the
// dashboard's close (2 s of grace for writers stuck on a browser, then 1 s
// for a writer's close frame), http.Server.Shutdown (5 s), and the
// node's stop, which waits a shutdown timeout (5 s) for each process that
// does not stop, one after the other.
const (
	dashCloseBound = 3 * time.Second
	httpShutdown   = 5 * time.Second
	procShutdown   = 5 * time.Second
)

// lineLog collects a process's output, and finds the dashboard's address
// in it.
type lineLog struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	addr chan string // gets the address once
	sent bool
}

var dashboardLine = regexp.MustCompile(`observer dashboard: http://(\S+)/debug/observer/`)

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if !l.sent {
		if m := dashboardLine.FindSubmatch(l.buf.Bytes()); m != nil {
			l.addr <- string(m[1])
			l.sent = true
		}
	}
	return len(p), nil
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// goCommand is the go command that built this test: the one in PATH, or
// the one in GOROOT.
func goCommand() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		return "", errors.New("no go command in PATH nor in GOROOT")
	}
	return p, nil
}

// The demo, built and run as a user runs it, under load and chaos with
// browsers connected, stops on SIGINT as its doc says: every browser
// hears 1001 (going away), it exits 0 within its shutdown timeouts even
// with hung handlers in flight (reported unresponsive, then released),
// nothing panics, and the test's clients leave no goroutine behind. The demo runs with -hang-for 10m, so that a hung handler
// can only be left by the timeouts, never by the end of its hang.
//
// The short form runs 10 clients and 2 s of load (400 checkouts/s) and
// chaos (10 faults/s, 2 % of them hangs); whether a hang is in flight at
// the signal is then a matter of chance, and the run says which. The long
// form (-shutdown-long) runs 50 clients and 10 s at 100 faults/s, and
// asserts that a hang was in flight. Under -race the demo is built with
// the race detector too, and a race it reports fails the run.
func TestShutdownUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo")
	}
	defer goleak.VerifyNone(t)
	clients, loadFor, crashRate := 10, 2*time.Second, 10
	if *shutdownLong {
		clients, loadFor, crashRate = 50, 10*time.Second, 20
	}
	goCmd, err := goCommand()
	if err != nil {
		t.Skip(err)
	}
	dir, err := os.MkdirTemp("", "rel-shutdown-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "observer-demo")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command(goCmd, append(args, "github.com/go-observer/observer/cmd/observer-demo")...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Skipf("cannot build the demo: %v\n%s", err, out)
	}

	stderr := &lineLog{addr: make(chan string, 1)}
	demo := exec.Command(bin, "-addr", "127.0.0.1:0", "-load", "400", "-crash-rate", strconv.Itoa(crashRate), "-hang-for", "10m")
	demo.Stdout, demo.Stderr = stderr, stderr
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{}) // closed once waitErr is set
	go func() { waitErr = demo.Wait(); close(exited) }()
	defer func() {
		select {
		case <-exited:
		default:
			demo.Process.Kill()
			<-exited
		}
	}()
	var addr string
	select {
	case addr = <-stderr.addr:
	case <-exited:
		t.Fatalf("the demo exited before serving: %v\n%s", waitErr, stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("the demo printed no dashboard address within 30 s:\n%s", stderr)
	}

	// Browsers on every live view.
	views := []string{"overview", "tree", "processes", "advisor", "events"}
	type result struct {
		frames int
		err    error
	}
	results := make([]result, clients)
	var frames atomic.Int64
	var readers sync.WaitGroup
	for i := range clients {
		ws, _, err := (&websocket.Dialer{HandshakeTimeout: 10 * time.Second}).Dial(
			"ws://"+addr+"/debug/observer/ws?view="+views[i%len(views)], http.Header{"Origin": {"http://" + addr}})
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		defer ws.Close()
		readers.Go(func() {
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					results[i].err = err
					return
				}
				results[i].frames++
				frames.Add(1)
			}
		})
	}
	await(t, 30*time.Second, "a frame to every client", func() bool { return frames.Load() >= int64(clients) })
	time.Sleep(loadFor) // the load and the chaos: a measurement window, not a wait

	signalled := time.Now()
	if err := demo.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(2 * time.Minute):
		demo.Process.Kill()
		<-exited
		t.Fatalf("the demo did not exit within 2 minutes of SIGINT:\n%s", stderr)
	}
	took := time.Since(signalled)
	readers.Wait()
	log := stderr.String()

	if waitErr != nil {
		t.Errorf("the demo exited with %v, want exit status 0", waitErr)
	}
	going := 0
	for i, r := range results {
		var ce *websocket.CloseError
		switch {
		case r.frames == 0:
			t.Errorf("client %d got no frame", i)
		case !errors.As(r.err, &ce):
			t.Errorf("client %d: the connection ended with %v, want a close frame", i, r.err)
		case ce.Code != websocket.CloseGoingAway:
			t.Errorf("client %d: close %d %q, want %d (going away)", i, ce.Code, ce.Text, websocket.CloseGoingAway)
		default:
			going++
		}
	}
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^panic: `), regexp.MustCompile(`(?m)^fatal error: `),
		regexp.MustCompile(`(?m)^goroutine \d+ \[`), regexp.MustCompile(`(?m)^WARNING: DATA RACE`),
	} {
		if m := bad.FindString(log); m != "" {
			t.Errorf("the demo's stderr has %q:\n%s", m, tail(log, 4000))
		}
	}

	stopping := regexp.MustCompile(`msg="stopping: `).FindStringIndex(log)
	if stopping == nil {
		t.Fatalf("the demo never logged that it was stopping:\n%s", tail(log, 4000))
	}
	if m := regexp.MustCompile(`(?m)^.*msg="supervisor gave up.* name=shop .*$`).FindString(log[:stopping[0]]); m != "" {
		t.Fatalf("the shop's root supervisor gave up before the signal: the run stopped no application\n%s", m)
	}
	detachedLine := regexp.MustCompile(`(?m)^.*msg="process did not stop in time: detached".*$`)
	stuck := detachedLine.FindAllString(log[stopping[0]:], -1)
	detached := len(stuck)
	hungBefore := len(detachedLine.FindAllString(log[:stopping[0]], -1))
	for _, l := range stuck {
		t.Log(l)
	}
	// The demo's own log says when it began to stop, and how long the
	// node's stop took: the rest is the dashboard's close and the HTTP
	// server's shutdown.
	var began time.Time
	if m := regexp.MustCompile(`time=(\S+) level=INFO msg="stopping: `).FindStringSubmatch(log); m != nil {
		began, _ = time.Parse(time.RFC3339Nano, m[1])
	}
	var nodeStop time.Duration
	if m := regexp.MustCompile(`msg=stopped took=(\S+)`).FindStringSubmatch(log); m != nil {
		nodeStop, _ = time.ParseDuration(m[1])
	}
	var webStop time.Duration
	if m := regexp.MustCompile(`time=(\S+) level=INFO msg=stopped `).FindStringSubmatch(log); m != nil && !began.IsZero() {
		stopped, _ := time.Parse(time.RFC3339Nano, m[1])
		webStop = stopped.Sub(began) - nodeStop
	}
	bound := dashCloseBound + httpShutdown + time.Duration(max(detached, 1))*procShutdown + 5*time.Second
	t.Logf("%d clients (%d frames), %v of load and chaos at %d faults/s; SIGINT to exit: %v (the dashboard's close, the HTTP shutdown and the observer's close: %v; the node's stop: %v); %d processes detached unresponsive during the stop, %d before it; %d of %d clients got 1001",
		clients, frames.Load(), loadFor, crashRate, took.Round(time.Millisecond), webStop.Round(time.Millisecond), nodeStop, detached, hungBefore, going, clients)
	if took > bound {
		t.Errorf("the demo took %v to exit, want at most %v: its dashboard, HTTP and process timeouts (%d processes unresponsive)", took, bound, detached)
	}
	if *shutdownLong && detached == 0 && !regexp.MustCompile(`some processes did not stop in time`).MatchString(log) {
		t.Errorf("no hung handler was in flight at the signal: the long form tested no hang")
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("…%s", s[len(s)-n:])
}
