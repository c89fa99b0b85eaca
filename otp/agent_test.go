package otp_test

import (
	"context"
	"testing"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/otp"
)

func TestAgent(t *testing.T) {
	n := newNode(t)
	ctx := context.Background()
	a, err := otp.StartAgent(n, func() map[string]int { return map[string]int{"apples": 1} }, otp.Name("stock"))
	if err != nil {
		t.Fatal(err)
	}
	if pr := n.ProcessTable().Lookup(a.PID()); pr.Kind() != instrument.KindAgent || pr.Name() != "stock" {
		t.Fatalf("record: kind %v name %q, want agent stock", pr.Kind(), pr.Name())
	}
	if err := a.Update(ctx, func(m map[string]int) map[string]int { m["pears"] = 2; return m }); err != nil {
		t.Fatal(err)
	}
	a.Cast(func(m map[string]int) map[string]int { m["apples"] += 10; return m })
	apples, err := otp.AgentGet(ctx, a, func(m map[string]int) int { return m["apples"] })
	if err != nil || apples != 11 {
		t.Fatalf("get after cast: got %d, %v; want 11", apples, err)
	}
	old, err := otp.GetAndUpdate(ctx, a, func(m map[string]int) (int, map[string]int) {
		p := m["pears"]
		m["pears"] = 0
		return p, m
	})
	if err != nil || old != 2 {
		t.Fatalf("get and update: got %d, %v; want 2", old, err)
	}
	if m, _ := a.Get(ctx); m["pears"] != 0 || len(m) != 2 {
		t.Fatalf("state %v", m)
	}

	counter, _ := otp.StartAgent[int](n, nil)
	for range 5 {
		counter.Cast(func(i int) int { return i + 1 })
	}
	if got, _ := counter.Get(ctx); got != 5 {
		t.Fatalf("counter %d, want 5", got)
	}
}
