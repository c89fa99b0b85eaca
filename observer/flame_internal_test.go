package observer

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/pprof/profile"

	"github.com/go-observer/observer/instrument"
)

// synth builds profiles from stacks written outermost call first.
type synth struct {
	p     *profile.Profile
	funcs map[string]*profile.Function
}

func newSynth(typ, unit string) *synth {
	return &synth{p: &profile.Profile{SampleType: []*profile.ValueType{{Type: typ, Unit: unit}}}, funcs: map[string]*profile.Function{}}
}

func (s *synth) add(v int64, labels map[string][]string, stack ...string) {
	var locs []*profile.Location
	for i := len(stack) - 1; i >= 0; i-- {
		f := s.funcs[stack[i]]
		if f == nil {
			f = &profile.Function{ID: uint64(len(s.funcs) + 1), Name: stack[i], Filename: "/src/" + stack[i] + ".go"}
			s.funcs[stack[i]] = f
			s.p.Function = append(s.p.Function, f)
		}
		l := &profile.Location{ID: uint64(len(s.p.Location) + 1), Line: []profile.Line{{Function: f, Line: 10}}}
		s.p.Location = append(s.p.Location, l)
		locs = append(locs, l)
	}
	s.p.Sample = append(s.p.Sample, &profile.Sample{Value: []int64{v}, Location: locs, Label: labels})
}

func procLabels(pid instrument.PID, name string) map[string][]string {
	return map[string][]string{instrument.LabelPID: {pid.String()}, instrument.LabelName: {name}}
}

// find returns the node reached by following names from n.
func find(n *FlameNode, names ...string) *FlameNode {
	for _, name := range names {
		var next *FlameNode
		for i := range n.Children {
			if n.Children[i].Name == name {
				next = &n.Children[i]
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return n
}

// checkSums fails when a node's children sum to more than the node.
func checkSums(t *testing.T, n *FlameNode) int {
	t.Helper()
	var sum int64
	count := 1
	for i := range n.Children {
		sum += n.Children[i].Value
		count += checkSums(t, &n.Children[i])
	}
	if sum > n.Value {
		t.Errorf("%s: children sum to %d, more than its %d", n.Name, sum, n.Value)
	}
	return count
}

// A CPU profile folds into one node per process (by label) and one for
// goroutines outside processes; frames under half a percent merge into
// "other"; every value is kept.
func TestFoldCPUByProcess(t *testing.T) {
	s := newSynth("cpu", "nanoseconds")
	prices := procLabels(7, "prices")
	s.add(600, prices, "otp.loop", "example.com/shop.(*priceServer).HandleCall", "example.com/shop.price")
	s.add(300, prices, "otp.loop", "example.com/shop.(*priceServer).HandleCall", "runtime.mallocgc")
	s.add(98, nil, "runtime.gcBgMarkWorker")
	s.add(2, nil, "example.com/shop.tiny")
	f := foldCPU(s.p, time.Unix(0, 0), 5*time.Second)
	if f.Total != 1000 || f.Root.Value != 1000 {
		t.Fatalf("total %d, root %d; want 1000", f.Total, f.Root.Value)
	}
	p := find(&f.Root, "prices <0.7.0>")
	if p == nil || p.Class != FlameProcess || p.PID != "<0.7.0>" || p.Value != 900 {
		t.Fatalf("process node %+v; want prices <0.7.0>, class proc, 900", p)
	}
	hc := find(p, "otp.loop", "(*priceServer).HandleCall")
	if hc == nil || hc.Value != 900 || hc.Class != FlameApp || hc.Func != "example.com/shop.(*priceServer).HandleCall" || hc.File != "shop.(*priceServer).HandleCall.go" {
		t.Fatalf("HandleCall node %+v; want 900, class app, its full name and file", hc)
	}
	if m := find(hc, "runtime.mallocgc"); m == nil || m.Class != FlameStd || m.Value != 300 {
		t.Errorf("mallocgc %+v; want class std, 300", m)
	}
	out := find(&f.Root, "outside processes")
	if out == nil || out.Value != 100 || out.Class != FlameOutside {
		t.Fatalf("outside %+v; want 100", out)
	}
	if o := find(out, "other"); o == nil || o.Value != 2 || o.Class != FlameOther {
		t.Errorf("other under outside: %+v; want the 2 of shop.tiny", o)
	}
	if n := checkSums(t, &f.Root); n != f.Nodes {
		t.Errorf("counted %d nodes, Nodes says %d", n, f.Nodes)
	}
}

// A profile with more distinct frames than a graph may hold is cut to
// FlameMaxNodes by raising the share frames need.
func TestFoldCPUBounded(t *testing.T) {
	s := newSynth("cpu", "nanoseconds")
	for i := range 150 {
		stack := make([]string, 20)
		for d := range stack {
			stack[d] = fmt.Sprintf("app.f%d_%d", i, d)
		}
		s.add(10, nil, stack...)
	}
	f := foldCPU(s.p, time.Time{}, time.Second)
	n := checkSums(t, &f.Root)
	if n > FlameMaxNodes || f.Nodes != n {
		t.Fatalf("%d nodes (Nodes %d); want at most %d", n, f.Nodes, FlameMaxNodes)
	}
	if f.MinShare <= FlameMinShare || f.Root.Value != 1500 {
		t.Errorf("min share %v, root %d; want more than %v, 1500", f.MinShare, f.Root.Value, FlameMinShare)
	}
	// The widest frames are kept: every stack's outer frames, not "other" alone.
	if out := find(&f.Root, "outside processes"); out == nil || len(out.Children) != 150 || n < FlameMaxNodes*9/10 {
		t.Errorf("outside processes %+v, %d nodes: want its 150 stacks' outer frames kept, near %d nodes", out, n, FlameMaxNodes)
	}
}

// A process's wall-time stacks fold with their state at the tip: on CPU,
// or off CPU and why.
func TestWallFlameStates(t *testing.T) {
	s := newSynth("goroutine", "count")
	l := procLabels(3, "prices")
	for range 9 {
		s.add(1, l, "example.com/otp.loop", "example.com/shop.(*priceServer).HandleCall", "time.Sleep", "runtime.gopark")
	}
	s.add(1, l, "example.com/otp.loop", "example.com/shop.(*priceServer).HandleCall", "example.com/shop.price")
	s.add(5, procLabels(4, "other"), "example.com/shop.elsewhere")
	var w wallStacks
	now := time.Unix(100, 0)
	w.record(s.p, []instrument.PID{3}, now)
	f, ok := w.flame(3, "prices", now.Add(time.Second))
	if !ok {
		t.Fatal("no flame for a sampled process")
	}
	if f.Root.Name != "prices <0.3.0>" || f.Root.Value != 10 || f.Kind != "wall" || f.Span != time.Second {
		t.Fatalf("root %q %d, kind %s, span %v; want prices <0.3.0>, 10, wall, 1s", f.Root.Name, f.Root.Value, f.Kind, f.Span)
	}
	hc := find(&f.Root, "otp.loop", "(*priceServer).HandleCall")
	if hc == nil {
		t.Fatalf("no HandleCall under the root: %+v", f.Root)
	}
	if off := find(hc, "time.Sleep", "runtime.gopark", "off CPU: sleep"); off == nil || off.Value != 9 || off.Class != FlameOffCPU {
		t.Errorf("sleep tip %+v; want 9 off CPU", off)
	}
	if on := find(hc, "shop.price", "on CPU"); on == nil || on.Value != 1 || on.Class != FlameOnCPU {
		t.Errorf("running tip %+v; want 1 on CPU", on)
	}
	if _, ok := w.flame(4, "other", now); ok {
		t.Error("a process not sampled has a flame graph")
	}
	w.record(s.p, nil, now)
	if _, ok := w.flame(3, "prices", now); ok {
		t.Error("a process no longer sampled still has a flame graph")
	}
}

func TestNoShapes(t *testing.T) {
	for in, want := range map[string]string{
		"(*server[go.shape.struct { Amount int },go.shape.int]).loop": "(*server[…]).loop",
		"shop.handle":  "shop.handle",
		"f[a[b]].g[c]": "f[…].g[…]",
		"broken[x":     "broken[x",
	} {
		if got := noShapes(in); got != want {
			t.Errorf("noShapes(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCutName(t *testing.T) {
	long := strings.Repeat("é", 500)
	if got := cutName(long, 160); utf8.RuneCountInString(got) != 160 || !strings.HasSuffix(got, "…") || !utf8.ValidString(got) {
		t.Errorf("cutName: %d runes, valid %v, want 160 ending in …", utf8.RuneCountInString(got), utf8.ValidString(got))
	}
	if got := cutName("short", 160); got != "short" {
		t.Errorf("cutName(short) = %q", got)
	}
}
