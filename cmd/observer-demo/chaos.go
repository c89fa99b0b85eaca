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
	faultHang               // the handler never returns (until the demo exits)
	faultSlow               // one handler takes two seconds
)

var faultNames = [...]string{"panic", "error", "hang", "slow"}

func (f fault) String() string { return faultNames[f] }

// chaotic is embedded by the demo's servers: it makes them obey faults.
type chaotic struct {
	release <-chan struct{} // closed when the demo exits: frees hung handlers
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
		<-c.release // ignores ctx on purpose: an unresponsive process
	case faultSlow:
		select {
		case <-time.After(2 * time.Second):
		case <-ctx.Done():
		}
	}
	return nil
}

// chaosMonkey injects faults into random processes of the shop at rate
// per second. Hangs are rare: each one leaves a process unresponsive.
func chaosMonkey(n *otp.Node, rate float64, victims func() []otp.PID) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if rate <= 0 {
			<-ctx.Done()
			return nil
		}
		tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
			vs := victims()
			if len(vs) == 0 {
				continue
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
		}
	}
}

// servers lists the live servers of a table: the chaos monkey's victims.
func servers(t *instrument.Table) []otp.PID {
	var out []otp.PID
	t.Range(func(p *instrument.Proc) bool {
		if p.Kind() == instrument.KindServer && p.Status() == instrument.StatusRunning {
			out = append(out, p.ID())
		}
		return true
	})
	return out
}
