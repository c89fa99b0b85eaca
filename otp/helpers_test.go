package otp_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/otp"
)

// newNode returns a node that is stopped, and checked for clean stopping,
// when the test ends.
func newNode(t testing.TB) *otp.Node {
	t.Helper()
	n := otp.NewNode(otp.Config{Logger: discardLogger()})
	t.Cleanup(func() {
		if err := n.Stop(); err != nil && !errors.Is(err, otp.ErrUnresponsive) {
			t.Errorf("stop node: %v", err)
		}
	})
	return n
}

// counter is a small server used across tests.
type counter struct {
	n     int
	gate  chan struct{} // when set, casts wait for it
	calls int
}

type msg struct {
	op  string
	arg int
}

func (c *counter) HandleCall(ctx context.Context, m msg) (int, error) {
	c.calls++
	switch m.op {
	case "get":
		return c.n, nil
	case "add":
		c.n += m.arg
		return c.n, nil
	case "panic":
		panic("boom")
	case "sleep":
		<-ctx.Done()
		return 0, ctx.Err()
	case "block":
		<-c.gate
		return c.n, nil
	case "stop":
		return c.n, otp.Stop(nil)
	}
	return 0, errors.New("unknown op " + m.op)
}

func (c *counter) HandleCast(ctx context.Context, m msg) error {
	if c.gate != nil {
		<-c.gate
	}
	c.n += m.arg
	return nil
}

// recorder collects lifecycle notes from many goroutines in order.
type recorder struct {
	mu    sync.Mutex
	notes []string
	added chan struct{}
}

func newRecorder() *recorder { return &recorder{added: make(chan struct{}, 1024)} }

func (r *recorder) note(s string) {
	r.mu.Lock()
	r.notes = append(r.notes, s)
	r.mu.Unlock()
	select {
	case r.added <- struct{}{}:
	default:
	}
}

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.notes...)
}

// waitFor blocks until the recorder holds n notes, or fails the test.
func (r *recorder) waitFor(t testing.TB, n int) []string {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		if got := r.all(); len(got) >= n {
			return got
		}
		select {
		case <-r.added:
		case <-deadline.C:
			t.Fatalf("waited for %d notes, got %v", n, r.all())
		}
	}
}

// events subscribes to a node's table and returns a function that waits
// for the first event matching f.
func events(t testing.TB, n *otp.Node) func(f func(instrument.Event) bool) instrument.Event {
	t.Helper()
	sub := n.ProcessTable().Subscribe(4096)
	t.Cleanup(sub.Close)
	return func(f func(instrument.Event) bool) instrument.Event {
		t.Helper()
		deadline := time.NewTimer(10 * time.Second)
		defer deadline.Stop()
		for {
			select {
			case ev := <-sub.C():
				if f(ev) {
					return ev
				}
			case <-deadline.C:
				t.Fatalf("event not seen within 10s")
				return nil
			}
		}
	}
}

// eventually waits until cond holds, checking every millisecond for up to
// 10 s: for state another goroutine is about to reach, with no event to wait on.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
