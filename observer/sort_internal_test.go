package observer

import (
	"math/rand/v2"
	"testing"
)

// ranked is the sampler's shortcut past idle processes: it must hold
// exactly when some ranked key is above zero, or a top-N would miss a
// process (or rank one it need not).
func TestRankedIsAnyPositiveRankedKey(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pick := func(vals ...float32) float32 { return vals[r.IntN(len(vals))] }
	for range 10_000 {
		st := procState{
			depth: uint32(r.IntN(2)), waiting: uint32(r.IntN(2)), restarts: uint32(r.IntN(2)),
			growth: pick(-3, 0, 0, 0, 2), handling: pick(0, 0, 0, 5), busyFrac: pick(0, 0, 0, 0.1), headAge: pick(0, 0, 0, 1.5),
		}
		if r.IntN(3) > 0 { // mostly idle, as in a big program
			st.depth, st.waiting, st.restarts = 0, 0, 0
		}
		v := st.sortValues()
		want := false
		for _, k := range topKeys {
			want = want || v[k] > 0
		}
		if got := st.ranked(); got != want {
			t.Fatalf("ranked() = %v for %+v (sort values %v); want %v", got, st, v, want)
		}
	}
}
