package observer_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/otp"
)

// A watched process that is killed stays in the snapshot as an exited
// process: its reason, its last numbers, and the live process its
// supervisor started in its place. The API says the same.
func TestWatchedExit(t *testing.T) {
	n := node(t)
	o := start(t, n.ProcessTable(), observer.Options{Tick: observer.MinTick})
	sub := o.Subscribe()
	defer sub.Close()
	_, err := otp.StartSupervisor(n, otp.SupervisorSpec{
		Strategy: otp.OneForOne, MaxRestarts: 10, Period: 5 * time.Second,
		Children: []otp.ChildSpec{otp.Worker("cache", func() otp.Server[int, int] { return echo{} }, otp.Name("cache"))},
	}, otp.Name("app"))
	if err != nil {
		t.Fatal(err)
	}
	old, ok := n.Whereis("cache")
	if !ok {
		t.Fatal("cache is not registered")
	}
	if err := o.Watch(old); err != nil {
		t.Fatal(err)
	}
	s := await(t, sub, 20, "watched live", func(s *observer.Snapshot) bool { _, ok := s.Detail(old); return ok })
	if d, _ := s.Detail(old); d.Exit != nil || d.Status != "running" {
		t.Fatalf("live detail: status %q exit %+v; want running, no exit", d.Status, d.Exit)
	}
	a, _ := o.Actions(old)
	if err := a.Kill(); err != nil {
		t.Fatal(err)
	}
	s = await(t, sub, 20, "exit with successor", func(s *observer.Snapshot) bool {
		d, ok := s.Detail(old)
		return ok && d.Exit != nil && d.Exit.Successor != 0
	})
	d, _ := s.Detail(old)
	if d.Status != "exited" || d.Exit.Reason != "killed" || d.Exit.At.IsZero() || d.Kind != "server" || d.Name != "cache" {
		t.Errorf("exited detail: status %q, exit %+v, kind %q, name %q; want exited, killed at a time, server cache", d.Status, *d.Exit, d.Kind, d.Name)
	}
	succ := d.Exit.Successor
	if n.ProcessTable().Lookup(succ) == nil || succ == old || d.Exit.SuccessorName != "cache" {
		t.Errorf("successor %v %q: want the live new incarnation, named cache", succ, d.Exit.SuccessorName)
	}
	if api, ok := o.Process(old); !ok || api.Exit == nil || api.Exit.Successor != succ {
		t.Errorf("Process(%v): ok=%v exit=%+v; want the exit with successor %v", old, ok, api.Exit, succ)
	}
	// The new incarnation exits too: the old one leads to the third.
	a, _ = o.Actions(succ)
	if err := a.Kill(); err != nil {
		t.Fatal(err)
	}
	s = await(t, sub, 20, "successor followed", func(s *observer.Snapshot) bool {
		d, ok := s.Detail(old)
		return ok && d.Exit.Successor != succ && d.Exit.Successor != 0
	})
	d, _ = s.Detail(old)
	if third := d.Exit.Successor; n.ProcessTable().Lookup(third) == nil {
		t.Errorf("successor after two kills: %v, want a live process", third)
	}
	o.Unwatch(old)
	next(t, sub)
	s = next(t, sub)
	if _, ok := s.Detail(old); ok {
		t.Error("unwatched process still in the snapshot")
	}
}

// The observer remembers a bounded number of exits, the newest, and the
// watched ones whatever their age; Watch refuses a process it neither
// sees nor remembers.
func TestExitsBounded(t *testing.T) {
	table := instrument.NewProcessTable()
	o := start(t, table, observer.Options{Tick: observer.MinTick})
	sub := o.Subscribe()
	defer sub.Close()
	keep := table.Spawn(instrument.Info{Name: "keep", Kind: instrument.KindServer})
	if err := o.Watch(keep.ID()); err != nil {
		t.Fatal(err)
	}
	table.Exit(keep, instrument.ReasonNormal, nil)
	// A server that crashed and was restarted twice, before the churn.
	sup := table.Spawn(instrument.Info{Name: "shop", Kind: instrument.KindSupervisor})
	pay := table.Spawn(instrument.Info{Name: "payments", Kind: instrument.KindServer, Parent: sup.ID()})
	oldest := pay.ID()
	for range 2 {
		table.Exit(pay, instrument.ReasonPanic, errors.New("card declined"))
		next := table.Spawn(instrument.Info{Name: "payments", Kind: instrument.KindServer, Parent: sup.ID()})
		table.Restarted(sup, instrument.Restarted{Child: "payments", Old: pay.ID(), New: next.ID(), Reason: instrument.ReasonPanic, Cause: pay.ID()})
		pay = next
	}
	var last instrument.PID
	var first instrument.PID
	for i := range 600 {
		p := table.Spawn(instrument.Info{Name: "job-" + strconv.Itoa(i), Kind: instrument.KindTask})
		table.Exit(p, instrument.ReasonError, errors.New("boom"))
		if i == 0 {
			first = p.ID()
		}
		last = p.ID()
	}
	// A churn of tasks that return does not push out the failures.
	for range 600 {
		table.Exit(table.Spawn(instrument.Info{Kind: instrument.KindTask}), instrument.ReasonNormal, nil)
	}
	done := table.Spawn(instrument.Info{Kind: instrument.KindTask})
	table.Exit(done, instrument.ReasonNormal, nil)
	await(t, sub, 20, "every exit read", func(*observer.Snapshot) bool { _, ok := o.Process(done.ID()); return ok })
	if d, _ := o.Process(last); d.Exit == nil || d.Exit.Reason != "error" || d.Exit.Error != "boom" || d.Kind != "task" {
		t.Errorf("last exit: %+v; want a task that exited with error boom", d.Exit)
	}
	// Forgotten by the exits, the first is still in the event log: its
	// page says how it ended, without numbers it no longer has.
	if d, ok := o.Process(first); !ok || d.Exit == nil || d.Exit.Reason != "error" || d.Exit.Error != "boom" || !d.Exit.Logged || d.Watched || len(d.History) != 0 {
		t.Errorf("the first of 600 exits: ok=%v %+v; want its end from the event log, no history", ok, d)
	}
	// The crashed server's page points at the incarnation doing its job
	// now, through the restarts the log recorded.
	if d, ok := o.Process(oldest); !ok || d.Exit == nil || d.Exit.Reason != "panic" || d.Exit.Child != "payments" || d.Exit.Successor != pay.ID() || d.Exit.SuccessorName != "payments" || d.Name != "payments" {
		t.Errorf("payments' first incarnation: ok=%v %+v; want a panic and its live successor %v", ok, d.Exit, pay.ID())
	}
	if d, ok := o.Process(keep.ID()); !ok || d.Exit == nil || d.Exit.Reason != "normal" {
		t.Errorf("watched exit: ok=%v %+v; want remembered while watched", ok, d.Exit)
	}
	if err := o.Watch(first); err == nil {
		t.Error("Watch of a forgotten process succeeded")
	}
}

// Standing queries and the catalog are answered in the snapshot while
// followed, and not after.
func TestFollow(t *testing.T) {
	table := instrument.NewProcessTable()
	for i := range 30 {
		table.Spawn(instrument.Info{Name: "conn-" + strconv.Itoa(i), Kind: instrument.KindServer})
	}
	o := start(t, table, observer.Options{Tick: observer.MinTick})
	sub := o.Subscribe()
	defer sub.Close()
	q := observer.Query{Sort: observer.SortName, Match: "conn-1", Limit: 5}
	if err := o.Follow(q); err != nil {
		t.Fatal(err)
	}
	if err := o.Follow(observer.Query{Limit: 0}); err == nil {
		t.Error("Follow with limit 0 succeeded")
	}
	o.WatchCatalog()
	s := await(t, sub, 10, "answer", func(s *observer.Snapshot) bool { return len(s.Answers) == 1 })
	a := s.Answer(q)
	if !a.Scanned || a.Partial || a.Tick != s.Tick || len(a.Processes) != 5 || a.Processes[0].Name != "conn-1" {
		t.Errorf("answer: scanned %v partial %v tick %d of %d, %d processes; want a scan of this tick, 5 rows from conn-1", a.Scanned, a.Partial, a.Tick, s.Tick, len(a.Processes))
	}
	if s.Catalog == nil || s.Catalog.Tables == nil || s.Catalog.Registries == nil {
		t.Errorf("catalog: %+v; want one, empty", s.Catalog)
	}
	// Not followed: the snapshot answers from its hot processes, partly.
	if b := s.Answer(observer.Query{Match: "conn-2", Limit: 5}); !b.Partial {
		t.Errorf("an unfollowed search: %+v; want a partial answer", b)
	}
	o.Unfollow(q)
	o.UnwatchCatalog()
	next(t, sub)
	s = next(t, sub)
	if len(s.Answers) != 0 || s.Catalog != nil {
		t.Errorf("after Unfollow: %d answers, catalog %v; want none", len(s.Answers), s.Catalog != nil)
	}
}
