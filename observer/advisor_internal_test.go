package observer

import (
	"testing"
	"time"

	"github.com/go-observer/observer/instrument"
)

// A finding turns on at the on level, holds between the levels and clears
// only after enough ticks below the off level: it does not flap.
func TestHysteresis(t *testing.T) {
	a := newAdvisor()
	k := fkey{kind: KindBottleneck, pid: 7}
	at := time.Unix(0, 0)
	steps := []struct {
		lvl  level
		want bool
	}{
		{levelHold, false}, // between the levels, never on: nothing
		{levelOn, true},    // on at once (debounce on: 1)
		{levelHold, true},  // stays on between the levels
		{levelOff, true},   // one tick below the off level: still on
		{levelHold, true},  // back between: the count of off ticks restarts
		{levelOff, true},
		{levelOff, false}, // two ticks in a row below: off
		{levelHold, false},
	}
	for i, s := range steps {
		at = at.Add(time.Second)
		a.begin(at)
		a.eval(k, s.lvl, func() Finding { return Finding{Severity: SeverityWarning} })
		got := len(a.end(at, alive)) == 1
		if got != s.want {
			t.Errorf("step %d (%v): got on=%v, want %v", i, s.lvl, got, s.want)
		}
	}
}

// A finding whose subject is no longer evaluated (it exited, or cooled
// below every threshold) reads as off; a raised one is held until its
// hold passes.
func TestUnevaluatedAndHeld(t *testing.T) {
	a := newAdvisor()
	at := time.Unix(0, 0)
	k := fkey{kind: KindBottleneck, pid: 1}
	a.begin(at)
	a.eval(k, levelOn, func() Finding { return Finding{} })
	held := fkey{kind: KindLinkedTask, pid: 2}
	a.raise(held, Finding{}, at.Add(3*time.Second))
	if got := len(a.end(at, alive)); got != 2 {
		t.Fatalf("findings: got %d, want 2", got)
	}
	for i := range 2 {
		at = at.Add(time.Second)
		a.begin(at)
		a.end(at, alive)
		if a.active(k) != (i == 0) {
			t.Errorf("tick %d: bottleneck active %v, want %v", i, a.active(k), i == 0)
		}
	}
	if !a.active(held) {
		t.Error("held finding cleared before its hold")
	}
	at = at.Add(2 * time.Second)
	a.begin(at)
	a.end(at, alive)
	if a.active(held) {
		t.Error("held finding kept after its hold")
	}
}

// alive says no process has exited.
func alive(instrument.PID) bool { return false }

// A finding whose subject has exited goes at once, without waiting out
// the ticks that keep a cooling one from flapping.
func TestFindingOfExitedProcessGoesAtOnce(t *testing.T) {
	a := newAdvisor()
	at := time.Unix(0, 0)
	k := fkey{kind: KindBottleneck, pid: 9}
	a.begin(at)
	a.eval(k, levelOn, func() Finding { return Finding{} })
	if got := len(a.end(at, alive)); got != 1 {
		t.Fatalf("findings: got %d, want 1", got)
	}
	at = at.Add(time.Second)
	a.begin(at)
	if got := len(a.end(at, func(pid instrument.PID) bool { return pid == 9 })); got != 0 {
		t.Fatalf("a tick after its subject exited: %d findings, want 0", got)
	}
}
