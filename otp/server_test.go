package otp_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/otp"
)

func TestCallAndCast(t *testing.T) {
	n := newNode(t)
	ref, err := otp.Start(n, &counter{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 3 {
		if err := otp.Cast(ref, msg{arg: 10}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := otp.Call(ctx, ref, msg{op: "add", arg: 1})
	if err != nil || got != 31 {
		t.Fatalf("add: got %d, %v; want 31, nil", got, err)
	}
	if _, err := otp.Call(ctx, ref, msg{op: "nope"}); err == nil || err.Error() != "unknown op nope" {
		t.Fatalf("handler error: got %v, want it returned to the caller", err)
	}
	if got, _ := otp.Call(ctx, ref, msg{op: "get"}); got != 31 {
		t.Fatalf("server must survive a handler error: got %d, want 31", got)
	}
}

func TestCallTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNode(t)
		gate := make(chan struct{})
		ref, _ := otp.Start(n, &counter{gate: gate})
		start := time.Now()
		_, err := otp.Call(context.Background(), ref, msg{op: "block"})
		if !errors.Is(err, otp.ErrTimeout) {
			t.Fatalf("got %v, want ErrTimeout", err)
		}
		if waited := time.Since(start); waited < otp.DefaultCallTimeout || waited > otp.DefaultCallTimeout+50*time.Millisecond {
			t.Fatalf("timed out after %v, want the default %v", waited, otp.DefaultCallTimeout)
		}
		_, err = otp.CallTimeout(context.Background(), ref, msg{op: "get"}, 100*time.Millisecond)
		if !errors.Is(err, otp.ErrTimeout) {
			t.Fatalf("queued behind a blocked handler: got %v, want ErrTimeout", err)
		}
		close(gate)
		// The server goes on; the late replies are dropped.
		if got, err := otp.Call(context.Background(), ref, msg{op: "add", arg: 2}); err != nil || got != 2 {
			t.Fatalf("after timeouts: got %d, %v; want 2, nil", got, err)
		}
	})
}

// TestCallTimeoutOnTheRealClock runs timeouts outside a synctest bubble,
// where the watchdog ticks on the kernel's timer (on Linux) instead of the
// runtime's: a timeout fires, never early, and again after the watchdog
// has parked with no call waiting.
func TestCallTimeoutOnTheRealClock(t *testing.T) {
	n := newNode(t)
	gate := make(chan struct{})
	defer close(gate)
	ref, _ := otp.Start(n, &counter{})
	blocked, _ := otp.Start(n, &counter{gate: gate})
	otp.Cast(blocked, msg{arg: 1}) // its handler waits for the gate; calls queue behind it
	const timeout = 30 * time.Millisecond
	for i := range 3 {
		start := time.Now()
		_, err := otp.CallTimeout(context.Background(), blocked, msg{op: "get"}, timeout)
		if waited := time.Since(start); !errors.Is(err, otp.ErrTimeout) || waited < timeout {
			t.Fatalf("call %d: got %v after %v; want ErrTimeout after at least %v", i, err, waited, timeout)
		}
		// A call that is answered leaves no call waiting: the watchdog
		// parks until the next one.
		if _, err := otp.Call(context.Background(), ref, msg{op: "get"}); err != nil {
			t.Fatalf("call %d to a free server: %v", i, err)
		}
	}
}

func TestCallDeadProcess(t *testing.T) {
	n := newNode(t)
	ref, _ := otp.Start(n, &counter{})
	if _, err := otp.Call(context.Background(), ref, msg{op: "stop"}); err != nil {
		t.Fatalf("stop: %v", err)
	}
	waitExit(t, n, ref.PID())
	if _, err := otp.Call(context.Background(), ref, msg{op: "get"}); !errors.Is(err, otp.ErrNoProc) {
		t.Fatalf("call to an exited server: got %v, want ErrNoProc", err)
	}
	if err := otp.Cast(ref, msg{}); !errors.Is(err, otp.ErrNoProc) {
		t.Fatalf("cast to an exited server: got %v, want ErrNoProc", err)
	}
	if _, err := otp.Call(context.Background(), otp.Named[msg, int](n, "nobody"), msg{}); !errors.Is(err, otp.ErrNoProc) {
		t.Fatalf("call to an unknown name: got %v, want ErrNoProc", err)
	}
}

// waitExit waits until pid has left the table.
func waitExit(t *testing.T, n *otp.Node, pid otp.PID) {
	t.Helper()
	eventually(t, pid.String()+" exits", func() bool { return n.ProcessTable().Lookup(pid) == nil })
}

func TestCalleePanics(t *testing.T) {
	n := newNode(t)
	wait := events(t, n)
	ref, _ := otp.Start(n, &counter{})
	queued := make(chan error, 1)
	// One call panics; a second, queued behind it, must not hang either.
	_, err := otp.Call(context.Background(), ref, msg{op: "panic"})
	var exit *otp.ExitError
	var pe *otp.PanicError
	if !errors.As(err, &exit) || exit.PID != ref.PID() || !errors.As(err, &pe) || pe.Value != "boom" {
		t.Fatalf("got %v, want an ExitError from %v carrying panic boom", err, ref.PID())
	}
	if len(pe.Stack) == 0 {
		t.Fatal("panic error carries no stack")
	}
	go func() { _, err := otp.Call(context.Background(), ref, msg{op: "get"}); queued <- err }()
	if err := <-queued; !errors.Is(err, otp.ErrNoProc) {
		t.Fatalf("call after the panic: got %v, want ErrNoProc", err)
	}
	ev := wait(func(ev instrument.Event) bool { return ev.Kind() == instrument.EventExited }).(instrument.Exited)
	if ev.Reason != instrument.ReasonPanic || ev.Stack == "" {
		t.Fatalf("exit event: got reason %v with stack %d bytes, want panic with a stack", ev.Reason, len(ev.Stack))
	}
}

func TestQueuedCallsFailWhenServerExits(t *testing.T) {
	n := newNode(t)
	gate := make(chan struct{})
	ref, _ := otp.Start(n, &counter{gate: gate})
	blocked := make(chan error, 1)
	go func() { _, err := otp.Call(context.Background(), ref, msg{op: "block"}); blocked <- err }()
	queued := make(chan error, 1)
	waitDepth(t, n, ref.PID(), 0, 1)
	go func() { _, err := otp.Call(context.Background(), ref, msg{op: "get"}); queued <- err }()
	waitDepth(t, n, ref.PID(), 1, 2)
	if err := n.Kill(ref.PID()); err != nil {
		t.Fatal(err)
	}
	close(gate)
	if err := <-blocked; err != nil {
		t.Fatalf("the call being handled: got %v, want its reply", err)
	}
	var exit *otp.ExitError
	if err := <-queued; !errors.As(err, &exit) || !errors.Is(err, otp.ErrKilled) {
		t.Fatalf("queued call: got %v, want an ExitError with reason killed", err)
	}
}

// waitDepth waits until pid's mailbox holds depth messages and waiting callers.
func waitDepth(t *testing.T, n *otp.Node, pid otp.PID, depth, waiting uint64) {
	t.Helper()
	pr := n.ProcessTable().Lookup(pid)
	eventually(t, fmt.Sprintf("depth %d with %d waiting", depth, waiting), func() bool {
		c := pr.Load(instrument.Now())
		return c.Depth() == depth && c.Waiting() == waiting
	})
}

func TestMailboxDepthCountsCastsBehindBlockedHandler(t *testing.T) {
	n := newNode(t)
	gate := make(chan struct{})
	ref, _ := otp.Start(n, &counter{gate: gate})
	otp.Cast(ref, msg{arg: 1}) // taken, blocks the handler
	waitDepth(t, n, ref.PID(), 0, 0)
	pr := n.ProcessTable().Lookup(ref.PID())
	eventually(t, "handler blocked", func() bool { return pr.Load(instrument.Now()).InHandler() })
	const queued = 25
	for i := range queued {
		otp.Cast(ref, msg{arg: i})
	}
	c := pr.Load(instrument.Now())
	if c.Depth() != queued || !c.InHandler() {
		t.Fatalf("depth %d (in handler %v), want %d behind the blocked handler", c.Depth(), c.InHandler(), queued)
	}
	close(gate)
	if got, _ := otp.Call(context.Background(), ref, msg{op: "get"}); got != 1+queued*(queued-1)/2 {
		t.Fatalf("sum after release: got %d, want %d", got, 1+queued*(queued-1)/2)
	}
	if c := pr.Load(instrument.Now()); c.Depth() != 0 || c.Handled != queued+2 {
		t.Fatalf("after draining: depth %d handled %d, want 0 and %d", c.Depth(), c.Handled, queued+2)
	}
}

// infoBlocker's info handler waits for its gate: a server stuck in
// HandleInfo, as a hung or slow info message leaves it.
type infoBlocker struct {
	counter
	entered chan struct{}
}

func (b *infoBlocker) HandleInfo(ctx context.Context, m any) error {
	b.entered <- struct{}{}
	<-b.gate
	return nil
}

// A server stuck in HandleInfo is busy all along, as one stuck in a call
// is: a dashboard must not show it idle while its queue grows.
func TestServerInInfoHandlerIsBusy(t *testing.T) {
	n := newNode(t)
	b := &infoBlocker{counter: counter{gate: make(chan struct{})}, entered: make(chan struct{})}
	ref, _ := otp.Start(n, b)
	pr := n.ProcessTable().Lookup(ref.PID())
	n.Send(ref.PID(), "hang")
	<-b.entered
	otp.Cast(ref, msg{op: "add", arg: 1}) // queued behind the info handler
	from := pr.Load(instrument.Now()).BusyNanos
	eventually(t, "busy time growing in the info handler", func() bool {
		return pr.Load(instrument.Now()).BusyNanos-from >= int64(10*time.Millisecond)
	})
	if c := pr.Load(instrument.Now()); c.Depth() != 1 || c.Handled != 0 {
		t.Fatalf("depth %d, handled %d; want 1 queued and none handled", c.Depth(), c.Handled)
	}
	close(b.gate)
	if got, err := otp.Call(context.Background(), ref, msg{op: "get"}); err != nil || got != 1 {
		t.Fatalf("after the info handler: got %d, %v; want 1", got, err)
	}
	// Busy until the server waits for mail again, a moment after it
	// answered: then a reading a second later adds nothing.
	eventually(t, "busy time steady once the server waits for mail", func() bool {
		now := instrument.Now()
		return pr.Load(now).BusyNanos == pr.Load(now+int64(time.Second)).BusyNanos
	})
}

// relay forwards each call to the next server: a wait-for chain.
type relay struct{ next otp.Ref[msg, int] }

func (r *relay) HandleCall(ctx context.Context, m msg) (int, error) {
	return otp.Call(ctx, r.next, m)
}

func TestCallerRecordedAsWaitingOnCallee(t *testing.T) {
	n := newNode(t)
	gate := make(chan struct{})
	back, _ := otp.Start(n, &counter{gate: gate})
	front, _ := otp.Start(n, &relay{next: back})
	done := make(chan error, 1)
	go func() { _, err := otp.Call(context.Background(), front, msg{op: "block"}); done <- err }()
	waitDepth(t, n, back.PID(), 0, 1)
	fc := n.ProcessTable().Lookup(front.PID()).Load(instrument.Now())
	if fc.BlockedOn != back.PID() || fc.Waiting() != 1 {
		t.Fatalf("front blocked on %v with %d waiting; want %v and 1", fc.BlockedOn, fc.Waiting(), back.PID())
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if fc := n.ProcessTable().Lookup(front.PID()).Load(instrument.Now()); fc.BlockedOn != 0 {
		t.Fatalf("after the reply: front blocked on %v, want 0", fc.BlockedOn)
	}
}

func TestNamesFreedOnExit(t *testing.T) {
	n := newNode(t)
	ref, err := otp.Start(n, &counter{}, otp.Name("price"))
	if err != nil {
		t.Fatal(err)
	}
	if pid, ok := n.Whereis("price"); !ok || pid != ref.PID() {
		t.Fatalf("whereis: got %v %v, want %v", pid, ok, ref.PID())
	}
	if _, err := otp.Start(n, &counter{}, otp.Name("price")); !errors.Is(err, otp.ErrAlreadyRegistered) {
		t.Fatalf("second registration: got %v, want ErrAlreadyRegistered", err)
	}
	byName := otp.Named[msg, int](n, "price")
	if got, err := otp.Call(context.Background(), byName, msg{op: "add", arg: 4}); err != nil || got != 4 {
		t.Fatalf("call by name: got %d, %v", got, err)
	}
	otp.Call(context.Background(), byName, msg{op: "stop"})
	waitExit(t, n, ref.PID())
	if _, ok := n.Whereis("price"); ok {
		t.Fatal("name still registered after exit")
	}
	again, err := otp.Start(n, &counter{}, otp.Name("price"))
	if err != nil {
		t.Fatalf("name not reusable after exit: %v", err)
	}
	if byName.PID() != again.PID() {
		t.Fatalf("named ref resolves to %v, want the new process %v", byName.PID(), again.PID())
	}
}

func TestCallSelf(t *testing.T) {
	n := newNode(t)
	var self otp.Ref[msg, int]
	s := &selfCaller{ref: &self}
	self, _ = otp.Start(n, s)
	if _, err := otp.Call(context.Background(), self, msg{}); !errors.Is(err, otp.ErrCallSelf) {
		t.Fatalf("got %v, want ErrCallSelf", err)
	}
}

type selfCaller struct{ ref *otp.Ref[msg, int] }

func (s *selfCaller) HandleCall(ctx context.Context, m msg) (int, error) {
	return otp.Call(ctx, *s.ref, m)
}

// lifecycle records Init, Continue and Terminate.
type lifecycle struct {
	rec     *recorder
	initErr error
}

func (l *lifecycle) Init(ctx context.Context) error { l.rec.note("init"); return l.initErr }
func (l *lifecycle) Continue(ctx context.Context) error {
	l.rec.note("continue")
	return nil
}
func (l *lifecycle) HandleCall(ctx context.Context, m msg) (int, error) { return 0, nil }
func (l *lifecycle) HandleInfo(ctx context.Context, m any) error {
	l.rec.note("info")
	return nil
}
func (l *lifecycle) Terminate(ctx context.Context, reason error) {
	l.rec.note("terminate: " + otpReason(reason))
}

func otpReason(err error) string {
	if err == nil {
		return "normal"
	}
	return err.Error()
}

func TestServerLifecycle(t *testing.T) {
	n := newNode(t)
	rec := newRecorder()
	ref, err := otp.Start(n, &lifecycle{rec: rec})
	if err != nil {
		t.Fatal(err)
	}
	n.Send(ref.PID(), "hello")
	rec.waitFor(t, 3)
	n.Exit(ref.PID(), otp.ErrShutdown)
	got := rec.waitFor(t, 4)
	want := []string{"init", "continue", "info", "terminate: shutdown"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Fatalf("got %v, want %v", got, want)
	}
	boom := errors.New("no database")
	if _, err := otp.Start(n, &lifecycle{rec: newRecorder(), initErr: boom}, otp.Name("db")); !errors.Is(err, boom) {
		t.Fatalf("failed init: got %v, want it returned", err)
	}
	if _, ok := n.Whereis("db"); ok {
		t.Fatal("failed init left its name registered")
	}
}
