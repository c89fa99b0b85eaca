package otp_test

import (
	"context"
	"errors"
	"testing"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/otp"
)

// prices is a server that owns a table: it writes, anyone reads.
type prices struct {
	table *otp.Table[string, int]
	gate  chan struct{}
}

func (p *prices) Init(ctx context.Context) error {
	t, err := otp.NewTable[string, int](ctx, "prices")
	p.table = t
	return err
}

func (p *prices) HandleCall(ctx context.Context, m msg) (int, error) {
	switch m.op {
	case "set":
		return 0, p.table.Insert(ctx, "apple", m.arg)
	case "del":
		return 0, p.table.Delete(ctx, "apple")
	case "block":
		<-p.gate
	}
	return 0, nil
}

func TestTableReadsNeverWaitForTheOwner(t *testing.T) {
	n := newNode(t)
	ctx := context.Background()
	gate := make(chan struct{})
	srv := &prices{gate: gate}
	ref, err := otp.Start(n, srv)
	if err != nil {
		t.Fatal(err)
	}
	otp.Call(ctx, ref, msg{op: "set", arg: 3})
	// Stick the owner in a handler.
	stuck := make(chan error, 1)
	go func() { _, err := otp.Call(ctx, ref, msg{op: "block"}); stuck <- err }()
	owner := n.ProcessTable().Lookup(ref.PID())
	eventually(t, "owner stuck in a handler", func() bool { return owner.Load(instrument.Now()).InHandler() })

	// A reader on another goroutine finishes while the owner is stuck.
	got := make(chan int, 1)
	go func() {
		tab, err := otp.FindTable[string, int](n, "prices")
		if err != nil {
			got <- -1
			return
		}
		v, _ := tab.Lookup("apple")
		got <- v
	}()
	if v := <-got; v != 3 {
		t.Fatalf("read %d, want 3", v)
	}
	if !owner.Load(instrument.Now()).InHandler() {
		t.Fatal("the owner left its handler before the read finished: the test proves nothing")
	}
	close(gate)
	if err := <-stuck; err != nil {
		t.Fatal(err)
	}

	// Writes come from the owner only.
	if err := srv.table.Insert(ctx, "pear", 1); !errors.Is(err, otp.ErrNotOwner) {
		t.Fatalf("write from outside: got %v, want ErrNotOwner", err)
	}
	st := n.ProcessTable().Tables(ref.PID())
	if len(st) != 1 || st[0].Name != "prices" || st[0].Size != 1 || st[0].Writes != 1 || st[0].Reads < 1 {
		t.Fatalf("stats %+v, want prices with 1 entry, 1 write, reads", st)
	}
}

func TestTableGoesWithItsOwner(t *testing.T) {
	n := newNode(t)
	wait := events(t, n)
	ctx := context.Background()
	ref, _ := otp.Start(n, &prices{})
	otp.Call(ctx, ref, msg{op: "set", arg: 3})
	tab, _ := otp.FindTable[string, int](n, "prices")
	if _, err := otp.FindTable[int, int](n, "prices"); !errors.Is(err, otp.ErrWrongType) {
		t.Fatalf("find with other types: got %v, want ErrWrongType", err)
	}
	n.Kill(ref.PID())
	wait(func(ev instrument.Event) bool {
		return ev.Kind() == instrument.EventExited && ev.Subject() == ref.PID()
	})
	if _, err := otp.FindTable[string, int](n, "prices"); !errors.Is(err, otp.ErrNoTable) {
		t.Fatalf("find after the owner exited: got %v, want ErrNoTable", err)
	}
	if v, ok := tab.Lookup("apple"); ok || !tab.Closed() || tab.Len() != 0 {
		t.Fatalf("lookup after the owner exited: %v %v, closed %v", v, ok, tab.Closed())
	}
	if err := tab.Insert(ctx, "apple", 1); !errors.Is(err, otp.ErrNoTable) {
		t.Fatalf("write after: got %v, want ErrNoTable", err)
	}
	if st := n.ProcessTable().Tables(0); len(st) != 0 {
		t.Fatalf("tables listed after the owner exited: %+v", st)
	}
	// The name is free again.
	if _, err := otp.Start(n, &prices{}); err != nil {
		t.Fatal(err)
	}
}

func TestStartTableTakesWritesFromAnyone(t *testing.T) {
	n := newNode(t)
	ctx := context.Background()
	tab, err := otp.StartTable[int, string](n, "names")
	if err != nil {
		t.Fatal(err)
	}
	if pr := n.ProcessTable().Lookup(tab.Owner()); pr.Kind() != instrument.KindTableOwner {
		t.Fatalf("owner kind %v, want table_owner", pr.Kind())
	}
	for i := range 10 {
		if err := tab.Insert(ctx, i, "x"); err != nil {
			t.Fatal(err)
		}
	}
	tab.Delete(ctx, 3)
	tab.Delete(ctx, 99)
	seen := 0
	tab.Range(func(k int, v string) bool { seen++; return true })
	if tab.Len() != 9 || seen != 9 {
		t.Fatalf("len %d, ranged %d; want 9", tab.Len(), seen)
	}
	if _, err := otp.StartTable[int, string](n, "names"); !errors.Is(err, otp.ErrAlreadyRegistered) {
		t.Fatalf("second table with the name: got %v, want ErrAlreadyRegistered", err)
	}
	if _, err := otp.NewTable[int, int](ctx, "x"); !errors.Is(err, otp.ErrNotProcess) {
		t.Fatalf("new table outside a process: got %v", err)
	}
}
