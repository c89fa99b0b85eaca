package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/otp"
)

// fault is what the chaos monkey sends a victim, as a plain message.
type fault int

const (
	faultPanic fault = iota // the handler panics
	faultError              // the server stops with an error
	faultHang               // the handler ignores everything, its context included, for a while
	faultSlow               // one handler takes two seconds
)

var faultNames = [...]string{"panic", "error", "hang", "slow"}

func (f fault) String() string { return faultNames[f] }

// chaotic is embedded by the demo's servers: it makes them obey faults.
type chaotic struct {
	release <-chan struct{} // closed when the demo exits: frees hung handlers
	hangFor time.Duration   // how long a hung handler stays hung
}

var errInjected = errors.New("chaos monkey: injected error")

// HandleInfo implements otp.InfoHandler.
func (c chaotic) HandleInfo(ctx context.Context, msg any) error {
	f, ok := msg.(fault)
	if !ok {
		return nil
	}
	switch f {
	case faultPanic:
		panic("chaos monkey: injected panic")
	case faultError:
		return otp.Stop(errInjected)
	case faultHang:
		// Ignores ctx on purpose, like a call without a deadline to a
		// service that went silent: the advisor reports it stuck, and a
		// supervisor that stops it meanwhile reports it unresponsive and
		// replaces it.
		t := time.NewTimer(c.hangFor)
		defer t.Stop()
		select {
		case <-t.C:
		case <-c.release:
		}
	case faultSlow:
		select {
		case <-time.After(2 * time.Second):
		case <-ctx.Done():
		}
	}
	return nil
}

// chaosMonkey injects faults into random servers of the shop at the knob's
// rate per second. Hangs are rare: each one leaves a process stuck for
// a while, unresponsive if its supervisor tries to stop it meanwhile.
func chaosMonkey(n *otp.Node, rate *knob) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		return paced(ctx, rate, func() {
			vs := servers(n.ProcessTable())
			if len(vs) == 0 {
				return
			}
			f := faultPanic
			switch r := rand.IntN(100); {
			case r < 2:
				f = faultHang
			case r < 20:
				f = faultSlow
			case r < 60:
				f = faultError
			}
			n.Send(vs[rand.IntN(len(vs))], f)
		})
	}
}

// paced calls f at the knob's rate per second until ctx is done. A rate
// of zero pauses it; a new rate applies after the current interval.
func paced(ctx context.Context, rate *knob, f func()) error {
	first, ok := every(rate.get())
	if !ok {
		first = 250 * time.Millisecond
	}
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		d, ok := every(rate.get())
		if !ok {
			t.Reset(250 * time.Millisecond)
			continue
		}
		f()
		t.Reset(d)
	}
}

// servers lists the live servers of a table: the chaos monkey's victims.
func servers(t *instrument.ProcessTable) []otp.PID {
	var out []otp.PID
	t.Range(func(p *instrument.Proc) bool {
		if p.Kind() == instrument.KindServer && p.Status() == instrument.StatusRunning {
			out = append(out, p.ID())
		}
		return true
	})
	return out
}

// storm crashes the payments stage again as soon as each restart is done,
// until its supervisor gives up: more restarts than its intensity allows,
// so checkout exits and the shop restarts the whole pipeline.
func (s *shop) storm(ctx context.Context) error {
	var last otp.PID
	for range 6 {
		if ctx.Err() != nil {
			return nil
		}
		pid := s.awaitRestart("payments", last)
		if pid == 0 {
			return nil
		}
		s.node.Send(pid, faultError)
		last = pid
	}
	return nil
}

// awaitRestart waits up to a second for name to belong to a process other
// than old, and returns it (0 if none came).
func (s *shop) awaitRestart(name string, old otp.PID) otp.PID {
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if pid, ok := s.node.Whereis(name); ok && pid != old {
			return pid
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0
}
