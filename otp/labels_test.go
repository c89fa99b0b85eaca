package otp_test

import (
	"context"
	"errors"
	"runtime/pprof"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/otp"
)

// Each incarnation of a restarted child carries its own pid label and its
// child ID as its name label, on its goroutine and in its context.
func TestRestartedChildCarriesItsOwnLabels(t *testing.T) {
	n := newNode(t)
	type seen struct {
		self      otp.PID
		pid, name string
	}
	runs := make(chan seen, 3)
	var count atomic.Int32
	body := func(ctx context.Context) error {
		pid, _ := pprof.Label(ctx, instrument.LabelPID)
		name, _ := pprof.Label(ctx, instrument.LabelName)
		runs <- seen{otp.Self(ctx), pid, name}
		if count.Add(1) < 3 {
			return errors.New("fail")
		}
		<-ctx.Done()
		return nil
	}
	_, err := otp.StartSupervisor(n, otp.SupervisorSpec{MaxRestarts: 10, Period: time.Hour,
		Children: []otp.ChildSpec{otp.FuncWorker("flaky", body)}})
	if err != nil {
		t.Fatal(err)
	}
	pids := map[otp.PID]bool{}
	for range 3 {
		s := <-runs
		if s.pid != s.self.String() || s.name != "flaky" {
			t.Errorf("process %v carries labels pid %q, name %q; want %q, flaky", s.self, s.pid, s.name, s.self.String())
		}
		pids[s.self] = true
	}
	if len(pids) != 3 {
		t.Errorf("%d distinct incarnations; want 3", len(pids))
	}
}
