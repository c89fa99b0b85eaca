package otp

import (
	"context"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-observer/observer/instrument"
)

// tally counts what it is sent (calls answer the count so far), and the
// casts and plain sends that come out of order: a message is its sender's
// number times seqs plus its sequence number.
type tally struct {
	casts, calls, infos, disorder atomic.Int64
	lastCast, lastInfo            [16]int // the owner's alone
}

const seqs = 1 << 20

func (t *tally) HandleCall(_ context.Context, _ int) (int, error) {
	return int(t.calls.Add(1)), nil
}

func (t *tally) HandleCast(_ context.Context, m int) error {
	t.casts.Add(1)
	t.inOrder(&t.lastCast, m)
	return nil
}

func (t *tally) HandleInfo(_ context.Context, m any) error {
	t.infos.Add(1)
	if v, ok := m.(int); ok {
		t.inOrder(&t.lastInfo, v)
	}
	return nil
}

func (t *tally) inOrder(last *[16]int, m int) {
	g, seq := m/seqs, m%seqs
	if seq <= last[g] {
		t.disorder.Add(1)
	}
	last[g] = seq
}

// waitAsleep waits until s has hibernated: no goroutine, and its mailbox
// given back.
func waitAsleep[M, R any](t *testing.T, s *server[M, R], what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.mb.hib.Load() != hibAsleep || s.proc.Status() != instrument.StatusHibernated {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not hibernated after 10 s (state %d, status %v)", what, s.mb.hib.Load(), s.proc.Status())
		}
		runtime.Gosched()
	}
}

// A hibernated server holds no channel and no senders' side: they are
// made when a message comes, and given back each time it sleeps again.
func TestHibernatedServerGivesBackItsMailbox(t *testing.T) {
	n := NewNode(Config{Logger: slog.New(slog.DiscardHandler)})
	defer n.Stop()
	ref, err := Start[int, int](n, &tally{}, HibernateAfter(0))
	if err != nil {
		t.Fatal(err)
	}
	s := ref.s
	for i := range 3 {
		waitAsleep(t, s, "before a call")
		if s.mb.channel() != nil || s.mb.side.Load() != nil {
			t.Fatalf("round %d: hibernated with channel %v and senders' side %v; want neither", i, s.mb.channel(), s.mb.side.Load())
		}
		if got, err := Call(context.Background(), ref, 0); err != nil || got != i+1 {
			t.Fatalf("round %d: call answered %d, %v; want %d", i, got, err, i+1)
		}
	}
}

// Senders racing servers that hibernate whenever their mailbox is empty
// (casts, calls and plain sends, from many goroutines, in bursts with
// pauses in which they fall asleep) lose nothing, and each sender's casts,
// and its plain sends, arrive in order. The two servers are of one type:
// the channels one gives back, the other takes when it wakes.
func TestHibernatingServerLosesNoMessageToGivingBackItsChannel(t *testing.T) {
	n := NewNode(Config{Logger: slog.New(slog.DiscardHandler)})
	defer n.Stop()
	const servers, senders, rounds, burst = 2, 4, 200, 5
	srvs := make([]*tally, servers)
	refs := make([]Ref[int, int], servers)
	for i := range servers {
		srvs[i] = &tally{}
		ref, err := Start[int, int](n, srvs[i], HibernateAfter(0))
		if err != nil {
			t.Fatal(err)
		}
		refs[i] = ref
	}
	var wg sync.WaitGroup
	for k, ref := range refs {
		for g := range senders {
			wg.Go(func() {
				for r := range rounds {
					for i := range burst {
						m := g*seqs + r*burst + i + 1
						switch (g + i + k) % 3 {
						case 0:
							if err := Cast(ref, m); err != nil {
								t.Error(err)
								return
							}
						case 1:
							// A lost call would hang: it fails instead.
							ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
							_, err := Call(ctx, ref, m)
							cancel()
							if err != nil {
								t.Errorf("call %d: %v", m, err)
								return
							}
						default:
							n.Send(ref.PID(), m)
						}
					}
					if r%4 == 0 {
						waitAsleepOrBusy(ref.s)
					}
				}
			})
		}
	}
	wg.Wait()
	for k, srv := range srvs {
		total := func() int64 { return srv.casts.Load() + srv.calls.Load() + srv.infos.Load() }
		deadline := time.Now().Add(10 * time.Second)
		for total() != senders*rounds*burst {
			if time.Now().After(deadline) {
				t.Fatalf("server %d handled %d casts, %d calls and %d infos: %d in all, want %d", k,
					srv.casts.Load(), srv.calls.Load(), srv.infos.Load(), total(), senders*rounds*burst)
			}
			runtime.Gosched()
		}
		if d := srv.disorder.Load(); d != 0 {
			t.Errorf("server %d: %d casts or plain sends came after a later one from the same sender", k, d)
		}
		waitAsleep(t, refs[k].s, "after the senders")
	}
}

// waitAsleepOrBusy gives a server a moment to fall asleep: it returns once
// it has, or after a few yields if others keep it awake.
func waitAsleepOrBusy[M, R any](s *server[M, R]) {
	for range 100 {
		if s.mb.hib.Load() == hibAsleep {
			return
		}
		runtime.Gosched()
	}
}
