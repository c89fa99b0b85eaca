package otp_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/otp"
)

// stages is a server whose init, continue and terminate each wait for the
// test: a slow or hung set-up or clean-up.
type stages struct {
	counter
	entered chan instrument.Work
	release chan struct{}
}

func (s *stages) wait(w instrument.Work) {
	s.entered <- w
	<-s.release
}

func (s *stages) Init(ctx context.Context) error         { s.wait(instrument.WorkInit); return nil }
func (s *stages) Continue(ctx context.Context) error     { s.wait(instrument.WorkContinue); return nil }
func (s *stages) Terminate(ctx context.Context, _ error) { s.wait(instrument.WorkTerminate) }

// A server in init, continue or terminate is busy in that work since it
// began, as it would be seen if it hung there, and is in no work between
// messages.
func TestServerShowsItsWorkOutsideMessages(t *testing.T) {
	n := newNode(t)
	s := &stages{entered: make(chan instrument.Work), release: make(chan struct{})}
	started := make(chan error, 1)
	var ref otp.Ref[msg, int]
	go func() {
		var err error
		ref, err = otp.Start(n, s)
		started <- err
	}()
	var pr *instrument.Proc
	inWork := func(want instrument.Work) {
		t.Helper()
		if got := <-s.entered; got != want {
			t.Fatalf("server entered %v, want %v", got, want)
		}
		if pr == nil {
			n.ProcessTable().Range(func(p *instrument.Proc) bool {
				if p.Behaviour() == "*otp_test.stages" {
					pr = p
				}
				return pr == nil
			})
		}
		now := instrument.Now()
		c := pr.Load(now)
		if c.Work != want || c.WorkSince == 0 || c.WorkSince > now {
			t.Fatalf("in %v: work %v since %d (now %d); want %v since it began", want, c.Work, c.WorkSince, now, want)
		}
		// Busy all along, though no message was handled: a reading a
		// second on counts that second too.
		if d := pr.Load(now+int64(time.Second)).BusyNanos - c.BusyNanos; d != int64(time.Second) {
			t.Fatalf("in %v: busy grew by %v over a second, want 1s", want, time.Duration(d))
		}
		s.release <- struct{}{}
	}
	inWork(instrument.WorkInit)
	if err := <-started; err != nil {
		t.Fatalf("start: %v", err)
	}
	inWork(instrument.WorkContinue)
	if got, err := otp.Call(context.Background(), ref, msg{op: "add", arg: 2}); err != nil || got != 2 {
		t.Fatalf("call: got %d, %v; want 2", got, err)
	}
	if c := pr.Load(instrument.Now()); c.Work != instrument.WorkNone || c.WorkSince != 0 {
		t.Fatalf("between messages: work %v since %d; want none since 0", c.Work, c.WorkSince)
	}
	if err := n.Exit(ref.PID(), otp.ErrShutdown); err != nil {
		t.Fatal(err)
	}
	inWork(instrument.WorkTerminate)
	eventually(t, "server gone after terminate", func() bool { return n.ProcessTable().Lookup(ref.PID()) == nil })
}
