package otp_test

import (
	"errors"
	"runtime"
	"testing"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/otp"
)

// session is a dynamic child: a server that exits with what it is sent.
func session(rec *recorder, id string) otp.ChildSpec {
	return worker(rec, id)
}

func TestDynamicSupervisorMaxChildren(t *testing.T) {
	n := newNode(t)
	rec := newRecorder()
	sup, err := otp.StartDynamicSupervisor(n, otp.DynamicSpec{MaxChildren: 2})
	if err != nil {
		t.Fatal(err)
	}
	a, err := otp.StartChild(n, sup, session(rec, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := otp.StartChild(n, sup, session(rec, "b")); err != nil {
		t.Fatal(err)
	}
	_, err = otp.StartChild(n, sup, session(rec, "c"))
	if !errors.Is(err, otp.ErrMaxChildren) {
		t.Fatalf("third child: got %v, want ErrMaxChildren", err)
	}
	if cc, _ := otp.CountChildren(n, sup); cc.Active != 2 || cc.Workers != 2 || cc.Specs != 2 {
		t.Fatalf("count %+v, want 2 active workers", cc)
	}
	if err := otp.TerminateChild(n, sup, a); err != nil {
		t.Fatal(err)
	}
	if n.ProcessTable().Lookup(a) != nil {
		t.Fatal("terminated child still alive")
	}
	if err := otp.TerminateChild(n, sup, a); !errors.Is(err, otp.ErrNotChild) {
		t.Fatalf("terminating it again: got %v, want ErrNotChild", err)
	}
	c, err := otp.StartChild(n, sup, session(rec, "c"))
	if err != nil {
		t.Fatalf("after a terminate there is room: %v", err)
	}
	children, _ := otp.WhichChildren(n, sup)
	if len(children) != 2 || children[1].PID != c || children[1].ID != "c" {
		t.Fatalf("children %+v, want b then c", children)
	}
	pr := n.ProcessTable().Lookup(sup)
	if pr.Kind() != instrument.KindDynamicSupervisor || pr.Supervisor().MaxChildren != 2 || pr.Supervisor().Strategy != "one_for_one" {
		t.Fatalf("record: kind %v policy %+v", pr.Kind(), pr.Supervisor())
	}
	if cp := n.ProcessTable().Lookup(c); cp.Parent() != sup {
		t.Fatalf("child's parent %v, want %v", cp.Parent(), sup)
	}
}

func TestDynamicChildrenRestartOneForOneByType(t *testing.T) {
	n := newNode(t)
	wait := events(t, n)
	rec := newRecorder()
	sup, _ := otp.StartDynamicSupervisor(n, otp.DynamicSpec{})
	perm, _ := otp.StartChild(n, sup, session(rec, "perm"))
	other, _ := otp.StartChild(n, sup, session(rec, "other"))
	tmpSpec := session(rec, "tmp")
	tmpSpec.Restart = otp.Temporary
	tmp, _ := otp.StartChild(n, sup, tmpSpec)

	n.Send(perm, exitWith{errCrash})
	ev := wait(func(ev instrument.Event) bool { return ev.Kind() == instrument.EventRestarted }).(instrument.Restarted)
	if ev.Supervisor != sup || ev.Old != perm || ev.Child != "perm" || ev.Count != 1 {
		t.Fatalf("restart %+v, want perm %v restarted by %v", ev, perm, sup)
	}
	if n.ProcessTable().Lookup(other) == nil {
		t.Fatal("one_for_one: a sibling was stopped")
	}
	n.Send(tmp, exitWith{errCrash})
	eventually(t, "temporary child forgotten", func() bool {
		cc, _ := otp.CountChildren(n, sup)
		return cc.Active == 2
	})
	children, _ := otp.WhichChildren(n, sup)
	for _, c := range children {
		if c.ID == "tmp" {
			t.Fatalf("temporary child restarted: %+v", children)
		}
	}
}

func TestDynamicSupervisorStopsAllChildren(t *testing.T) {
	n := otp.NewNode(otp.Config{Logger: discardLogger()})
	rec := newRecorder()
	sup, _ := otp.StartDynamicSupervisor(n, otp.DynamicSpec{})
	for range 50 {
		if _, err := otp.StartChild(n, sup, session(rec, "s")); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	if got := len(rec.all()); got != 100 {
		t.Fatalf("%d notes, want 50 starts and 50 stops", got)
	}
	if live := n.ProcessTable().Len(); live != 0 {
		t.Fatalf("%d processes left", live)
	}
}

func TestPartitionSupervisorRoutesByKey(t *testing.T) {
	n := newNode(t)
	rec := newRecorder()
	ps, err := otp.StartPartitionSupervisor(n, otp.PartitionSpec{Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	if ps.Partitions() != 4 {
		t.Fatalf("%d partitions, want 4", ps.Partitions())
	}
	if pr := n.ProcessTable().Lookup(ps.PID()); pr.Kind() != instrument.KindPartitionSupervisor {
		t.Fatalf("kind %v, want partition_supervisor", pr.Kind())
	}
	seen := map[otp.PID]bool{}
	for i := range 4 {
		p := ps.Partition(i)
		if pr := n.ProcessTable().Lookup(p); pr == nil || pr.Kind() != instrument.KindDynamicSupervisor || pr.Parent() != ps.PID() {
			t.Fatalf("partition %d: %v, want a dynamic supervisor under %v", i, pr, ps.PID())
		}
		seen[p] = true
	}
	if len(seen) != 4 || ps.Partition(5) != ps.Partition(1) || ps.Partition("user:42") != ps.Partition("user:42") {
		t.Fatal("integer keys route by modulo, other keys the same way every time")
	}
	pid, err := ps.StartChild("user:42", session(rec, "s"))
	if err != nil {
		t.Fatal(err)
	}
	if got := n.ProcessTable().Lookup(pid).Parent(); got != ps.Partition("user:42") {
		t.Fatalf("child under %v, want the key's partition %v", got, ps.Partition("user:42"))
	}
	if cc, _ := ps.Count(); cc.Active != 1 {
		t.Fatalf("count %+v, want 1", cc)
	}

	// A partition that dies comes back empty, and keys route to it again.
	old := ps.Partition("user:42")
	n.Kill(old)
	eventually(t, "partition restarted", func() bool {
		p := ps.Partition("user:42")
		return p != old && n.ProcessTable().Lookup(p) != nil
	})
	if _, err := ps.StartChild("user:42", session(rec, "s")); err != nil {
		t.Fatal(err)
	}

	def, _ := otp.StartPartitionSupervisor(n, otp.PartitionSpec{})
	if def.Partitions() != runtime.GOMAXPROCS(0) {
		t.Fatalf("default %d partitions, want GOMAXPROCS %d", def.Partitions(), runtime.GOMAXPROCS(0))
	}
}

func TestStartChildOnStaticSupervisor(t *testing.T) {
	n := newNode(t)
	rec := newRecorder()
	sup := startTree(t, n, rec, otp.OneForOne, "a")
	pid, err := otp.StartChild(n, sup, worker(rec, "b"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := otp.StartChild(n, sup, worker(rec, "b")); !errors.Is(err, otp.ErrAlreadyRegistered) {
		t.Fatalf("duplicate child ID: got %v, want ErrAlreadyRegistered", err)
	}
	if got := childPID(t, n, sup, "b"); got != pid {
		t.Fatalf("child b is %v, want %v", got, pid)
	}
	if err := otp.TerminateChild(n, sup, pid); err != nil {
		t.Fatal(err)
	}
	if children, _ := otp.WhichChildren(n, sup); len(children) != 1 {
		t.Fatalf("children %+v after terminating b, want only a", children)
	}
}
