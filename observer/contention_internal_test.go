package observer

import (
	"testing"
	"time"

	"github.com/go-observer/observer/instrument"
)

// The contention rules keep the advisor's hysteresis: a mutex finding
// turns on after two ticks of waiting and goes three ticks after the
// waiting stops; a channel finding needs its group in two looks in a
// row. Time is the test's: ticks are numbered, the metric is a counter the
// test moves.
func TestContentionHysteresis(t *testing.T) {
	opts, err := Options{Tick: MinTick}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	m := newModel(instrument.NewProcessTable(), &opts)
	var waited float64
	m.cont.readWait = func() (float64, bool) { return waited, true }
	t0 := time.Unix(1_000_000, 0)
	tick := 0
	step := func(grow float64) []Finding {
		t.Helper()
		waited += grow
		w := t0.Add(time.Duration(tick) * MinTick)
		tick++
		m.adv.begin(w)
		m.adviseContention(w)
		return m.adv.end(w, func(instrument.PID) bool { return false })
	}
	kinds := func(fs []Finding) map[FindingKind]string {
		out := map[FindingKind]string{}
		for _, f := range fs {
			out[f.Kind] = f.Site
		}
		return out
	}
	step(0)
	if !m.cont.takeLook() {
		t.Fatal("no look asked at the first tick")
	}
	mutex := contGroup{kind: KindMutexContention, site: "(*cache).get cache.go:42", what: "sync.(*Mutex).Lock", caller: "(*cache).get", file: "cache.go", line: 42, n: 5}
	send := contGroup{kind: KindChannelBlocked, site: "(*queue).push queue.go:17", what: "chan send", caller: "(*queue).push", file: "queue.go", line: 17, n: 6}
	m.cont.setGroups([]contGroup{mutex, send}, t0)

	// 0.5 s of waiting per 250 ms tick: 2 s/s.
	if got := kinds(step(0.5)); len(got) != 0 {
		t.Fatalf("tick 1: got %v, want nothing yet (two ticks on; one look of the channel)", got)
	}
	if got := kinds(step(0.5)); got[KindMutexContention] != mutex.site || got[KindChannelBlocked] != "" {
		t.Fatalf("tick 2: got %v, want the mutex at %s and no channel finding yet", got, mutex.site)
	}
	m.cont.setGroups([]contGroup{mutex, send}, t0.Add(time.Second))
	if got := kinds(step(0.5)); got[KindChannelBlocked] != send.site {
		t.Fatalf("second look: got %v, want the channel at %s", got, send.site)
	}
	// Waiting stops, the groups go: three ticks off each.
	m.cont.setGroups(nil, t0.Add(2*time.Second))
	for i := range 2 {
		if got := kinds(step(0)); len(got) != 2 {
			t.Fatalf("off tick %d: got %v, want both findings held", i+1, got)
		}
	}
	if got := kinds(step(0)); len(got) != 0 {
		t.Fatalf("third off tick: got %v, want none", got)
	}
}
