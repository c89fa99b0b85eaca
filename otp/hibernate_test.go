package otp_test

import (
	"bytes"
	"context"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/otp"
)

// goroutinesOf counts the goroutines labelled with pid.
func goroutinesOf(pid otp.PID) int {
	var buf bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&buf, 1)
	return strings.Count(buf.String(), `"otp.pid":"`+pid.String()+`"`)
}

func TestHibernatedServerWakesOnEveryKindOfMessage(t *testing.T) {
	n := newNode(t)
	rec := newRecorder()
	ctx := context.Background()
	ref, err := otp.Start(n, &lifecycle{rec: rec}, otp.HibernateAfter(0))
	if err != nil {
		t.Fatal(err)
	}
	pid := ref.PID()
	pr := n.ProcessTable().Lookup(pid)
	asleep := func(what string) {
		t.Helper()
		eventually(t, what, func() bool {
			return goroutinesOf(pid) == 0 && pr.Status() == instrument.StatusHibernated
		})
	}
	asleep("hibernated after start")
	if _, err := otp.Call(ctx, ref, msg{}); err != nil {
		t.Fatal(err)
	}
	asleep("hibernated after a call")
	n.Send(pid, "hello") // a system message wakes it too
	rec.waitFor(t, 3)
	asleep("hibernated after an info")
	n.Exit(pid, otp.ErrShutdown) // and a stop request
	got := rec.waitFor(t, 4)
	if got[1] != "continue" || got[3] != "terminate: shutdown" {
		t.Fatalf("notes %v: continue once, terminate on stop", got)
	}
	waitExit(t, n, pid)
}

func TestHibernatingServerUnderConcurrentLoad(t *testing.T) {
	n := newNode(t)
	ctx := context.Background()
	for _, after := range []time.Duration{0, time.Microsecond} {
		ref, _ := otp.Start(n, &counter{}, otp.HibernateAfter(after))
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for i := range 500 {
					if i%2 == 0 {
						otp.Cast(ref, msg{arg: 1})
					} else if _, err := otp.Call(ctx, ref, msg{op: "add", arg: 1}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if got, _ := otp.Call(ctx, ref, msg{op: "get"}); got != 8*500 {
			t.Fatalf("hibernate after %v: sum %d, want %d: a message was lost", after, got, 8*500)
		}
		pid := ref.PID()
		eventually(t, "idle again", func() bool { return goroutinesOf(pid) == 0 })
	}
}

// A server waiting to hibernate still takes system messages at once.
func TestServerWaitingToHibernateTakesSystemMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := otp.NewNode(otp.Config{Logger: discardLogger()})
		defer n.Stop()
		rec := newRecorder()
		ref, _ := otp.Start(n, &lifecycle{rec: rec}, otp.HibernateAfter(time.Hour))
		synctest.Wait()
		start := time.Now()
		n.Send(ref.PID(), "hello")
		synctest.Wait()
		if got := rec.all(); len(got) != 3 || got[2] != "info" || time.Since(start) != 0 {
			t.Fatalf("notes %v after %v, want the info handled at once", got, time.Since(start))
		}
	})
}

// labelServer answers a call with the pprof pid label its handler's
// context carries.
type labelServer struct{}

func (labelServer) HandleCall(ctx context.Context, _ int) (string, error) {
	v, _ := pprof.Label(ctx, instrument.LabelPID)
	return v, nil
}

// A hibernated server gives back its pprof labels with its goroutine, and
// the goroutine that wakes it carries them again, however often it sleeps
// (and, with a delay, makes its hibernation timer again).
func TestHibernatedServerWakesWithItsLabels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := otp.NewNode(otp.Config{Logger: discardLogger()})
		defer n.Stop()
		ref, err := otp.Start[int, string](n, labelServer{}, otp.HibernateAfter(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		pr := n.ProcessTable().Lookup(ref.PID())
		for i := range 3 {
			got, err := otp.Call(context.Background(), ref, 0)
			if err != nil || got != ref.PID().String() {
				t.Fatalf("wake %d: the handler's pid label is %q, %v; want %q", i, got, err, ref.PID().String())
			}
			time.Sleep(2 * time.Second)
			synctest.Wait()
			if s := pr.Status(); s != instrument.StatusHibernated {
				t.Fatalf("wake %d: status %v after the idle delay; want hibernated", i, s)
			}
		}
	})
}
