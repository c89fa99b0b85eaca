package instrument_test

import (
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/go-observer/observer/instrument"
)

func TestCountersDeriveDepthAndWaiting(t *testing.T) {
	tab := instrument.NewProcessTable()
	p := tab.Spawn(instrument.Info{Name: "price", Kind: instrument.KindServer})
	for range 3 {
		p.CallEnqueued()
	}
	p.HandedOff(true)
	p.Enqueued()
	p.HandlerStart(false)
	c := p.Load(instrument.Now())
	if c.Depth() != 4 || c.Waiting() != 4 || !c.InHandler() {
		t.Fatalf("depth %d waiting %d in handler %v; want 4, 4, true", c.Depth(), c.Waiting(), c.InHandler())
	}
	// A cast counts as handled once the next message is taken.
	p.HandlerEnd(false)
	if c := p.Load(instrument.Now()); c.Handled != 0 || !c.InHandler() {
		t.Fatalf("after the cast's handler: handled %d, in handler %v; want 0, true until the next message", c.Handled, c.InHandler())
	}
	const calls = instrument.BusySampleEvery + 2
	for range calls {
		p.CallEnqueued()
		p.HandlerStart(true)
		p.HandlerEnd(true)
	}
	c = p.Load(instrument.Now())
	if c.CallsDone != calls || c.Handled != calls+1 || c.InHandler() || c.Depth() != 4 || c.Waiting() != 4 {
		t.Fatalf("handled %d, calls done %d, in handler %v, depth %d, waiting %d; want %d, %d, false, 4, 4",
			c.Handled, c.CallsDone, c.InHandler(), c.Depth(), c.Waiting(), calls+1, calls)
	}
	if p.Pending() != 4 {
		t.Fatalf("pending %d, want 4", p.Pending())
	}
}

// Work outside the mailbox (a server's info message) is busy time while it
// runs and after, and is not a handled message.
func TestOtherWorkCountsAsBusy(t *testing.T) {
	tab := instrument.NewProcessTable()
	p := tab.Spawn(instrument.Info{Name: "price", Kind: instrument.KindServer})
	p.Enqueued()
	const d = 20 * time.Millisecond
	start := p.OtherStart(instrument.WorkInfo)
	time.Sleep(d) // the work whose time is measured
	c := p.Load(instrument.Now())
	if c.BusyNanos < int64(d) || c.Handled != 0 || c.Depth() != 1 {
		t.Fatalf("during the work: busy %v, handled %d, depth %d; want at least %v, 0, 1", time.Duration(c.BusyNanos), c.Handled, c.Depth(), d)
	}
	p.OtherEnd(start)
	p.Idle() // waiting for mail again
	done := p.Load(instrument.Now()).BusyNanos
	time.Sleep(d) // idle now: busy must not grow
	if c := p.Load(instrument.Now()); c.BusyNanos != done || done < int64(d) || c.Handled != 0 {
		t.Fatalf("after the work: busy %v then %v, handled %d; want a steady %v or more, 0", time.Duration(done), time.Duration(c.BusyNanos), c.Handled, d)
	}
}

func TestExitEventsCarryReasonAndStack(t *testing.T) {
	tab := instrument.NewProcessTable()
	sub := tab.Subscribe(8)
	defer sub.Close()
	g := tab.Go(context.Background(), "indexer", 0, func(ctx context.Context) error {
		if _, ok := pprof.Label(ctx, instrument.LabelName); !ok {
			return errors.New("no otp.name label")
		}
		panic("index corrupt")
	})
	var pe *instrument.PanicError
	if err := g.Wait(); !errors.As(err, &pe) || pe.Value != "index corrupt" {
		t.Fatalf("wait: got %v, want the panic", err)
	}
	spawned := (<-sub.C()).(instrument.Spawned)
	exited := (<-sub.C()).(instrument.Exited)
	if spawned.PID != g.PID() || spawned.Name != "indexer" || exited.PID != g.PID() {
		t.Fatalf("events %+v %+v for %v", spawned, exited, g.PID())
	}
	if exited.Reason != instrument.ReasonPanic || exited.Stack == "" || exited.Err != "panic: index corrupt" {
		t.Fatalf("exit %v %q with %d bytes of stack; want a panic with its stack", exited.Reason, exited.Err, len(exited.Stack))
	}
	if tab.Lookup(g.PID()) != nil || tab.Len() != 0 {
		t.Fatal("exited goroutine still in the table")
	}
}

// isKilled matches ErrKilled through an Is method, as otp's
// UnresponsiveError does.
type isKilled struct{}

func (isKilled) Error() string        { return "unresponsive" }
func (isKilled) Is(target error) bool { return target == instrument.ErrKilled }

func TestClassify(t *testing.T) {
	cases := []struct {
		err  error
		want instrument.Reason
	}{
		{nil, instrument.ReasonNormal},
		{fmt.Errorf("stop: %w", instrument.ErrShutdown), instrument.ReasonShutdown},
		{context.Canceled, instrument.ReasonShutdown},
		{instrument.ErrKilled, instrument.ReasonKilled},
		{&instrument.PanicError{Value: 1}, instrument.ReasonPanic},
		{errors.New("disk full"), instrument.ReasonError},
		{fmt.Errorf("call: %w", &instrument.PanicError{Value: instrument.ErrKilled}), instrument.ReasonPanic},
		{errors.Join(errors.New("a"), fmt.Errorf("b: %w", instrument.ErrKilled)), instrument.ReasonKilled},
		{errors.Join(instrument.ErrShutdown, instrument.ErrKilled), instrument.ReasonKilled},
		{isKilled{}, instrument.ReasonKilled},
		{fmt.Errorf("x: %w", fmt.Errorf("y: %w", context.Canceled)), instrument.ReasonShutdown},
	}
	for _, c := range cases {
		if got := instrument.Classify(c.err); got != c.want {
			t.Errorf("Classify(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestRangeAndLookup(t *testing.T) {
	tab := instrument.NewProcessTable()
	var ids []instrument.PID
	for i := range 100 {
		ids = append(ids, tab.Spawn(instrument.Info{Name: fmt.Sprint(i)}).ID())
	}
	seen := 0
	tab.Range(func(p *instrument.Proc) bool { seen++; return true })
	if seen != 100 || tab.Len() != 100 {
		t.Fatalf("range saw %d of %d", seen, tab.Len())
	}
	p := tab.Lookup(ids[42])
	if p == nil || p.Name() != "42" {
		t.Fatalf("lookup: %v", p)
	}
	tab.Exit(p, instrument.ReasonNormal, nil)
	tab.Exit(p, instrument.ReasonNormal, nil) // idempotent
	if tab.Lookup(ids[42]) != nil || tab.Len() != 99 || tab.Stats().Exited != 1 {
		t.Fatalf("after exit: len %d stats %+v", tab.Len(), tab.Stats())
	}
}

func ExampleProcessTable_Go() {
	tab := instrument.NewProcessTable()
	g := tab.Go(context.Background(), "worker", 0, func(ctx context.Context) error {
		return errors.New("disk full")
	})
	err := g.Wait()
	fmt.Println(g.PID(), err, instrument.Classify(err))
	// Output: <0.1.0> disk full error
}

//go:noinline
func panicsHere() { panic("here") }

// A panic's stack names the function that panicked, under the panic, one
// frame a line pair.
func TestPanicStackNamesThePanickingFunction(t *testing.T) {
	var pe *instrument.PanicError
	func() {
		defer func() { pe = instrument.NewPanicError(recover()) }()
		panicsHere()
	}()
	stack := string(pe.Stack)
	at := strings.Index(stack, "instrument_test.panicsHere\n\t")
	if at < 0 || !strings.Contains(stack[:at], "runtime.gopanic") || !strings.Contains(stack, "instrument_test.go:") {
		t.Fatalf("stack:\n%s\nwant runtime.gopanic above instrument_test.panicsHere, with file:line", stack)
	}
}
