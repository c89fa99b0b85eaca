package peers

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/instrument/suturehook"
	"github.com/go-observer/observer/otp"
	"github.com/thejerf/suture/v4"
)

// Restart rows: a child that fails at once, restarted by its supervisor
// again and again within one restart period, until it has been restarted
// R times; then it stays up. ns/restart is the time from the first start
// to the R-th restart, divided by R. R is 1,000 and 100,000: the cost of a
// restart must not grow with the restarts already in the period.
//
// The bare row is the floor: a goroutine that starts a goroutine, waits
// for its error and starts it again. Logging is off in every row. The
// suture+hook row is suture observed through instrument/suturehook: a
// table record and pprof labels per run, as every otp process has. The
// paired row runs otp and bare suture by turns (see restartPaired).

var errFail = errors.New("fail")

var restartCounts = []int{1_000, 100_000}

// failing returns a child body that fails until it has run r+1 times, then
// closes done and waits for ctx.
func failing(r int, done chan struct{}) func(ctx context.Context) error {
	var runs atomic.Int64
	return func(ctx context.Context) error {
		if runs.Add(1) <= int64(r) {
			return errFail
		}
		close(done)
		<-ctx.Done()
		return nil
	}
}

func BenchmarkRestart(b *testing.B) {
	for _, r := range restartCounts {
		name := strconv.Itoa(r)
		b.Run("chan/"+name, func(b *testing.B) { restartBare(b, r) })
		b.Run("otp/"+name, func(b *testing.B) { restartOTP(b, r) })
		b.Run("suture/"+name, func(b *testing.B) { restartSuture(b, r, false) })
		b.Run("suture+hook/"+name, func(b *testing.B) { restartSuture(b, r, true) })
		b.Run("paired/"+name, func(b *testing.B) { restartPaired(b, r) })
	}
}

// perRestart reports the time, the allocations and the CPU time (user
// and system, all threads: the garbage collector's share included) per
// restart, from counts read before the first row's start (see
// startCounts). CPU time is the steadier figure on a shared machine:
// waiting for a processor other programs hold adds to the wall time,
// not to it.
func perRestart(b *testing.B, r int, elapsed time.Duration, c0 counts) {
	c := startCounts()
	n := float64(b.N * r)
	b.ReportMetric(float64(elapsed.Nanoseconds())/n, "ns/restart")
	b.ReportMetric(float64(c.mallocs-c0.mallocs)/n, "allocs/restart")
	b.ReportMetric(float64(c.bytes-c0.bytes)/n, "B/restart")
	b.ReportMetric(float64(c.cpu-c0.cpu)/n, "cpu-ns/restart")
	b.ReportMetric(0, "ns/op")
}

type counts struct {
	mallocs, bytes uint64
	cpu            int64 // user and system CPU nanoseconds of the process
}

func startCounts() counts {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return counts{mallocs: ms.Mallocs, bytes: ms.TotalAlloc, cpu: ru.Utime.Nano() + ru.Stime.Nano()}
}

func restartBare(b *testing.B, r int) {
	var elapsed time.Duration
	c0 := startCounts()
	for range b.N {
		done := make(chan struct{})
		body := failing(r, done)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		start := time.Now()
		go func() {
			for {
				go func() { errc <- body(ctx) }()
				if err := <-errc; err == nil {
					return
				}
			}
		}()
		<-done
		elapsed += time.Since(start)
		cancel()
	}
	perRestart(b, r, elapsed, c0)
}

// restartOTP starts, each run, a supervisor of the failing child under a
// dynamic supervisor, and stops it after, as the suture rows make and
// stop a supervisor each run. The node, a program's runtime (its table,
// its watchdog thread), is made once, before the counts are read.
func restartOTP(b *testing.B, r int) {
	n, top, stop := otpNode(b)
	defer stop()
	var elapsed time.Duration
	c0 := startCounts()
	for range b.N {
		elapsed += otpRun(b, n, top, r)
	}
	perRestart(b, r, elapsed, c0)
}

// otpNode makes the node the otp rows restart in, the dynamic supervisor
// their supervisors run under, and a function that stops the node.
func otpNode(b *testing.B) (*otp.Node, otp.PID, func()) {
	n := otp.NewNode(otp.Config{Logger: slog.New(slog.DiscardHandler)})
	stop := func() {
		if err := n.Stop(); err != nil {
			b.Fatal(err)
		}
	}
	top, err := otp.StartDynamicSupervisor(n, otp.DynamicSpec{})
	if err != nil {
		stop()
		b.Fatal(err)
	}
	return n, top, stop
}

// otpRun starts a supervisor of a child that fails r times under top,
// returns the time from its start to the child's last restart, and stops
// it.
func otpRun(b *testing.B, n *otp.Node, top otp.PID, r int) time.Duration {
	done := make(chan struct{})
	spec := otp.SupervisorSpec{MaxRestarts: 1 << 30, Period: time.Hour,
		Children: []otp.ChildSpec{otp.FuncWorker("child", failing(r, done))}}
	start := time.Now()
	sup, err := otp.StartChild(n, top, otp.SupervisorChild("sup", spec))
	if err != nil {
		b.Fatal(err)
	}
	<-done
	elapsed := time.Since(start)
	if err := otp.TerminateChild(n, top, sup); err != nil {
		b.Fatal(err)
	}
	return elapsed
}

// service adapts a body to suture's Service.
type service func(ctx context.Context) error

func (s service) Serve(ctx context.Context) error { return s(ctx) }

// restartSuture restarts a suture v4 service; hooked, through suturehook,
// as an application observed by this project runs it: each run a table
// record with its pprof labels, as otp's processes have.
func restartSuture(b *testing.B, r int, hooked bool) {
	var elapsed time.Duration
	c0 := startCounts()
	for range b.N {
		elapsed += sutureRun(r, hooked)
	}
	perRestart(b, r, elapsed, c0)
}

// sutureRun serves a suture supervisor of a service that fails r times,
// returns the time from its start to the service's last restart, and
// stops it.
func sutureRun(r int, hooked bool) time.Duration {
	done := make(chan struct{})
	spec := suture.Spec{
		EventHook:        func(suture.Event) {},
		FailureThreshold: 1 << 30, // never back off: restart at once, like the others
		FailureDecay:     3600,
	}
	var sup interface {
		Add(suture.Service) suture.ServiceToken
		ServeBackground(context.Context) <-chan error
	}
	if hooked {
		sup = suturehook.New(instrument.NewProcessTable(), func(suture.Event) {}).New("sup", spec)
	} else {
		sup = suture.New("sup", spec)
	}
	sup.Add(service(failing(r, done)))
	ctx, cancel := context.WithCancel(context.Background())
	start := time.Now()
	errc := sup.ServeBackground(ctx)
	<-done
	elapsed := time.Since(start)
	cancel()
	<-errc
	return elapsed
}

// restartPaired runs otp and bare suture by turns in one row, each b.N
// iteration one run of each, the first of the two alternating: both
// then run under the same conditions, which the rows above do not
// ensure (a row runs all its -count rounds before the next row starts,
// and the row that follows the bare row was 7-20 % slower, whichever it
// was). It reports each one's time per restart and their ratio.
func restartPaired(b *testing.B, r int) {
	n, top, stop := otpNode(b)
	defer stop()
	var o, s time.Duration
	for i := range b.N {
		if i%2 == 0 {
			o += otpRun(b, n, top, r)
			s += sutureRun(r, false)
		} else {
			s += sutureRun(r, false)
			o += otpRun(b, n, top, r)
		}
	}
	runs := float64(b.N * r)
	b.ReportMetric(float64(o.Nanoseconds())/runs, "otp-ns/restart")
	b.ReportMetric(float64(s.Nanoseconds())/runs, "suture-ns/restart")
	b.ReportMetric(float64(o)/float64(s), "otp/suture")
	b.ReportMetric(0, "ns/op")
}
