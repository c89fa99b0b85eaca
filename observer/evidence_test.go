package observer_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/otp"
)

// With the flight recorder on, a finding that turns on gets the
// execution trace of the seconds before it, a file go tool trace opens;
// a second observer cannot have a flight recorder too, and says why.
func TestFindingTurnsOnWithATrace(t *testing.T) {
	n := node(t)
	ref, err := otp.Start[int, int](n, &sleeper{d: 5 * time.Millisecond}, otp.Name("price"))
	if err != nil {
		t.Fatal(err)
	}
	o := start(t, n.ProcessTable(), observer.Options{Tick: observer.MinTick, FlightRecorder: true})
	if list, why := o.FindingTraces(); len(list) != 0 || why != "" {
		t.Fatalf("before any finding: %d traces, %q; want none, no reason", len(list), why)
	}
	other := start(t, instrument.NewProcessTable(), observer.Options{FlightRecorder: true})
	if _, why := other.FindingTraces(); !strings.Contains(why, "flight recorder") {
		t.Errorf("a second observer's flight recorder: got %q, want it to say there is none", why)
	}
	sub := o.Subscribe()
	defer sub.Close()
	stop := load(8, func(ctx context.Context) { otp.Call(ctx, ref, 1) })
	defer stop()
	await(t, sub, 40, "bottleneck found", has(observer.KindBottleneck, ref.PID()))
	var ev observer.TraceEvidence
	await(t, sub, 40, "its trace saved", func(*observer.Snapshot) bool {
		list, _ := o.FindingTraces()
		for _, e := range list {
			if e.Kind == observer.KindBottleneck && e.PID == ref.PID() {
				ev = e
				return true
			}
		}
		return false
	})
	if ev.Err != "" || ev.TraceBytes == 0 || ev.Name != "price" {
		t.Fatalf("the bottleneck's evidence: got %+v, want a trace", ev)
	}
	got, tr, ok := o.FindingTrace(ev.Seq)
	if !ok || got != ev || len(tr) != ev.TraceBytes || !bytes.HasPrefix(tr, []byte("go 1.")) {
		t.Errorf("FindingTrace(%d): %v, %d bytes starting %q; want the trace file (\"go 1.xx trace\")", ev.Seq, ok, len(tr), tr[:min(len(tr), 16)])
	}
	if _, _, ok := o.FindingTrace(ev.Seq + 100); ok {
		t.Errorf("FindingTrace of a number never saved: got true, want false")
	}
	// With it, the stack of the server it names: its loop (in its
	// handler's sleep, nearly always: it is busy).
	got, stacks, ok := o.FindingStacks(ev.Seq)
	if !ok || got != ev || len(stacks) != 1 || ev.Stacks != 1 || ev.StackBytes != len(stacks[0].Stack) {
		t.Fatalf("FindingStacks(%d): %v, %+v, %d stacks; want the one server's", ev.Seq, ok, got, len(stacks))
	}
	if st := stacks[0]; st.PID != ref.PID() || st.Name != "price" || st.Err != "" || !strings.Contains(st.Stack, "otp.(*server[") {
		t.Errorf("the server's stack: got %+v, want price's, in its server loop", st)
	}
	if _, _, ok := o.FindingStacks(ev.Seq + 100); ok {
		t.Errorf("FindingStacks of a number never saved: got true, want false")
	}
}

// With Options.FindingStacks alone, a finding that turns on keeps the
// stacks of the processes it names, and no execution trace, saying why.
func TestFindingStacksWithoutTheFlightRecorder(t *testing.T) {
	n := node(t)
	ref, err := otp.Start[int, int](n, &sleeper{d: 5 * time.Millisecond}, otp.Name("price"))
	if err != nil {
		t.Fatal(err)
	}
	o := start(t, n.ProcessTable(), observer.Options{Tick: observer.MinTick, FindingStacks: true})
	sub := o.Subscribe()
	defer sub.Close()
	stop := load(8, func(ctx context.Context) { otp.Call(ctx, ref, 1) })
	defer stop()
	var ev observer.TraceEvidence
	await(t, sub, 40, "the bottleneck's stacks saved", func(*observer.Snapshot) bool {
		list, _ := o.FindingTraces()
		for _, e := range list {
			if e.Kind == observer.KindBottleneck && e.PID == ref.PID() {
				ev = e
				return true
			}
		}
		return false
	})
	if _, why := o.FindingTraces(); ev.TraceBytes != 0 || !strings.Contains(ev.Err, "flight recorder is off") || why != ev.Err {
		t.Errorf("the evidence: %+v, why %q; want no trace, saying the flight recorder is off", ev, why)
	}
	if _, _, ok := o.FindingTrace(ev.Seq); ok {
		t.Errorf("FindingTrace(%d): got a trace, want none", ev.Seq)
	}
	if _, stacks, ok := o.FindingStacks(ev.Seq); !ok || len(stacks) != 1 || stacks[0].PID != ref.PID() || !strings.Contains(stacks[0].Stack, "otp.(*server[") {
		t.Errorf("FindingStacks(%d): %v, %+v; want price's stack", ev.Seq, ok, stacks)
	}
}
