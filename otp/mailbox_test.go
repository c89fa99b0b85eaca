package otp_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/otp"
)

// seqMsg is message seq of sender from.
type seqMsg struct{ from, seq int }

// orderChecker records, per sender, the last sequence number it handled,
// casts and calls alike, and the first message that came out of order.
type orderChecker struct {
	last    []int
	handled int
	bad     error
}

func (o *orderChecker) see(m seqMsg) {
	if o.bad == nil && m.seq != o.last[m.from]+1 {
		o.bad = fmt.Errorf("sender %d: message %d after %d", m.from, m.seq, o.last[m.from])
	}
	o.last[m.from] = m.seq
	o.handled++
}

func (o *orderChecker) HandleCast(ctx context.Context, m seqMsg) error { o.see(m); return nil }

// HandleCall with from < 0 reports what was seen, without counting itself.
func (o *orderChecker) HandleCall(ctx context.Context, m seqMsg) (int, error) {
	if m.from < 0 {
		return o.handled, o.bad
	}
	o.see(m)
	return o.handled, nil
}

// TestMailboxKeepsEachSendersOrder floods one server from several senders,
// each mixing casts with calls, so that messages go through the channel,
// spill into the list and come back to the channel many times over. Every
// message must arrive once, and each sender's in the order sent.
func TestMailboxKeepsEachSendersOrder(t *testing.T) {
	for _, hib := range []bool{false, true} {
		t.Run(fmt.Sprintf("hibernating=%v", hib), func(t *testing.T) {
			n := newNode(t)
			const senders, each = 6, 20000
			var opts []otp.Option
			if hib {
				opts = append(opts, otp.HibernateAfter(0))
			}
			ref, err := otp.Start(n, &orderChecker{last: make([]int, senders)}, opts...)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			var wg sync.WaitGroup
			errs := make(chan error, senders)
			for from := range senders {
				wg.Go(func() {
					for seq := 1; seq <= each; seq++ {
						m := seqMsg{from, seq}
						var err error
						// Runs of casts of varying length, then a call.
						if (seq*7+from)%23 == 0 {
							_, err = otp.Call(ctx, ref, m)
						} else {
							err = otp.Cast(ref, m)
						}
						if err != nil {
							errs <- fmt.Errorf("sender %d, message %d: %w", from, seq, err)
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			handled, err := otp.Call(ctx, ref, seqMsg{from: -1})
			if err != nil {
				t.Fatalf("out of order: %v", err)
			}
			if handled != senders*each {
				t.Fatalf("handled %d messages, want %d", handled, senders*each)
			}
			c := n.ProcessTable().Lookup(ref.PID()).Load(0)
			if c.Depth() != 0 || c.Handled != senders*each+1 {
				t.Fatalf("record: depth %d, handled %d; want 0 and %d", c.Depth(), c.Handled, senders*each+1)
			}
		})
	}
}

// stepper handles each cast only when the test lets it, one step at a time.
type stepper struct{ step chan struct{} }

func (s *stepper) HandleCall(ctx context.Context, m int) (int, error) { return m, nil }
func (s *stepper) HandleCast(ctx context.Context, m int) error {
	<-s.step
	return nil
}

// The mailbox stamps some queued messages with their enqueue time, and the
// record's head then tells how long the oldest queued message has waited.
func TestHeadStampTellsTheAgeOfTheQueue(t *testing.T) {
	n := newNode(t)
	s := &stepper{step: make(chan struct{})}
	release := sync.OnceFunc(func() { close(s.step) })
	t.Cleanup(release) // before the node stops, should the test fail
	ref, _ := otp.Start(n, s)
	pr := n.ProcessTable().Lookup(ref.PID())
	otp.Cast(ref, 0) // taken; its handler waits for a step
	eventually(t, "handler blocked", func() bool { return pr.Load(instrument.Now()).InHandler() })
	before := instrument.Now()
	const queued = 2 * instrument.HeadStampEvery
	for i := range queued {
		otp.Cast(ref, i)
	}
	after := instrument.Now()
	const coarse = int64(2 * time.Millisecond)
	// The queue must be older than the margin when it is taken, so that a
	// stamp taken then, instead of at enqueue, falls outside it.
	eventually(t, "queue older than the margin", func() bool { return instrument.Now() > after+2*coarse })
	for i := 0; pr.Load(instrument.Now()).Head == 0; i++ {
		if i == queued {
			t.Fatalf("no head stamp after %d of %d queued messages were taken", i, queued)
		}
		s.step <- struct{}{}
	}
	head := pr.Load(instrument.Now()).Head
	if head < before-coarse || head > after+coarse {
		t.Fatalf("head stamp %v after start, want between %v and %v: the messages were queued then",
			time.Duration(head), time.Duration(before), time.Duration(after))
	}
	release()
	eventually(t, "queue drained", func() bool { c := pr.Load(instrument.Now()); return c.Depth() == 0 && !c.InHandler() })
	if c := pr.Load(instrument.Now()); c.Head != 0 {
		t.Fatalf("head stamp %v with an empty queue, want 0", time.Duration(c.Head))
	}
}

// A sender to a long queue waits for the owner to take from it, not for a
// clock: in a bubble, where time passes only when every goroutine waits, a
// flood into a server that keeps handling costs no time at all.
func TestSenderToALongQueueWaitsForTheOwner(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := otp.NewNode(otp.Config{Logger: discardLogger()})
		defer n.Stop()
		ref, _ := otp.Start(n, &orderChecker{last: make([]int, 1)})
		start := time.Now()
		const casts = 20000
		for seq := 1; seq <= casts; seq++ {
			otp.Cast(ref, seqMsg{0, seq})
		}
		if waited := time.Since(start); waited != 0 {
			t.Errorf("%d casts took %v of the bubble's clock, want 0", casts, waited)
		}
		handled, err := otp.Call(context.Background(), ref, seqMsg{from: -1})
		if err != nil || handled != casts {
			t.Fatalf("handled %d, %v; want %d, nil", handled, err, casts)
		}
	})
}

// A sender to a long queue whose owner takes nothing (here stuck in a
// handler) waits a bounded time per message, and never for the handler.
func TestSenderToAStuckServerIsNotBlocked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := otp.NewNode(otp.Config{Logger: discardLogger()})
		defer n.Stop()
		s := &stepper{step: make(chan struct{})}
		defer close(s.step)
		ref, _ := otp.Start(n, s)
		otp.Cast(ref, 0) // taken; its handler waits for a step
		synctest.Wait()
		start := time.Now()
		const casts = 2000
		for i := range casts {
			if err := otp.Cast(ref, i); err != nil {
				t.Fatal(err)
			}
		}
		// Only sends past about a thousand queued messages wait, a
		// millisecond each at most.
		if waited := time.Since(start); waited == 0 || waited > casts*time.Millisecond {
			t.Errorf("%d casts to a stuck server took %v, want more than 0 and at most %v", casts, waited, casts*time.Millisecond)
		}
	})
}
