package otp_test

import (
	"context"
	"testing"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/otp"
)

// The hot path allocates nothing: a cast, a call and the handling of each,
// instrumentation included, with pointer messages and with small struct
// values (the typed API never boxes them).
func TestHotPathAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's sync.Pool drops items at random; run without -race")
	}
	n := newNode(t)
	ctx := context.Background()
	ptr, _ := otp.Start(n, &sink[*point]{})
	val, _ := otp.Start(n, &sink[point]{})
	p := &point{1, 2}
	// Warm the pools and the mailbox's buffers first.
	for range 1000 {
		otp.Cast(ptr, p)
		otp.Cast(val, point{1, 2})
		otp.Call(ctx, ptr, p)
		otp.Call(ctx, val, point{})
	}
	cases := map[string]func(){
		"cast pointer": func() { otp.Cast(ptr, p) },
		"cast struct":  func() { otp.Cast(val, point{3, 4}) },
		"call pointer": func() { otp.Call(ctx, ptr, p) },
		"call struct":  func() { otp.Call(ctx, val, point{3, 4}) },
	}
	for name, f := range cases {
		// A call waits for its handling, so a call's count covers the
		// server's side too; let casts drain before measuring the next.
		if got := testing.AllocsPerRun(1000, func() { f(); otp.Call(ctx, ptr, p) }); got != 0 {
			t.Errorf("%s: %v allocations per message, want 0", name, got)
		}
	}
}

func TestEventSubscriberNeverReadingBlocksNothing(t *testing.T) {
	n := newNode(t)
	sub := n.ProcessTable().Subscribe(4) // never read
	defer sub.Close()
	const procs = 200
	for range procs {
		pid, err := otp.Go(n, func(ctx context.Context) error { return nil })
		if err != nil || pid == 0 {
			t.Fatalf("spawn: %v", err)
		}
	}
	eventually(t, "every spawn and exit emitted", func() bool {
		return sub.Dropped()+uint64(len(sub.C())) == 2*procs
	})
	// 200 spawned and 200 exited events went to a buffer of 4.
	if got, want := sub.Dropped(), uint64(2*procs-4); got != want {
		t.Fatalf("dropped %d events, want %d", got, want)
	}
	if st := n.ProcessTable().Stats(); st.Dropped != sub.Dropped() || st.Exited != procs {
		t.Fatalf("stats %+v: want the drops and %d exits counted", st, procs)
	}
	if got := len(sub.C()); got != 4 {
		t.Fatalf("buffer holds %d events, want 4", got)
	}
	first := (<-sub.C()).(instrument.Spawned)
	if first.ProcKind != instrument.KindGoroutine {
		t.Fatalf("first event %+v", first)
	}
}
