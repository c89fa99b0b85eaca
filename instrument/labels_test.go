package instrument

import (
	"bytes"
	"context"
	"runtime/pprof"
	"strings"
	"testing"
)

// labelled is a context carrying a ProcLabels, as a runtime's process
// context does.
type labelled struct {
	context.Context
	l *ProcLabels
}

func (c labelled) Value(key any) any {
	if v, ok := c.l.Lookup(key); ok {
		return v
	}
	return c.Context.Value(key)
}

func TestProcLabelsUseRuntimePprofLayout(t *testing.T) {
	// On the Go releases this module supports, the labels are kept in
	// place; the fallback is for a release that changes pprof's layout.
	if labelLayout().typ == nil {
		t.Fatal("runtime/pprof's label layout is not the one ProcLabels expects: labels fall back to allocating")
	}
}

func TestProcLabelsCarryPIDAndName(t *testing.T) {
	tab := NewProcessTable()
	p := tab.Spawn(Info{Name: "checkout", Kind: KindServer})
	var l ProcLabels
	ctx := labelled{context.Background(), &l}
	if _, ok := pprof.Label(ctx, LabelPID); ok {
		t.Fatal("the zero ProcLabels carries a pid label; want none")
	}
	l.Set(p)
	for key, want := range map[string]string{LabelPID: p.ID().String(), LabelName: "checkout"} {
		if got, ok := pprof.Label(ctx, key); !ok || got != want {
			t.Errorf("label %s = %q, %v; want %q", key, got, ok, want)
		}
	}
	// pprof.Do adds to them without changing them.
	pprof.Do(ctx, pprof.Labels("extra", "1"), func(c context.Context) {
		if got, _ := pprof.Label(c, LabelPID); got != p.ID().String() {
			t.Errorf("inside pprof.Do, pid label = %q; want %q", got, p.ID().String())
		}
		if got, _ := pprof.Label(c, "extra"); got != "1" {
			t.Errorf("inside pprof.Do, extra label = %q; want 1", got)
		}
	})
	if _, ok := pprof.Label(ctx, "extra"); ok {
		t.Error("pprof.Do's label leaked into the process's labels")
	}

	// A goroutine labelled with them shows them in the goroutine profile.
	release := make(chan struct{})
	started := make(chan struct{})
	go func() {
		pprof.SetGoroutineLabels(ctx)
		close(started)
		<-release
	}()
	<-started
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		t.Fatal(err)
	}
	close(release)
	want := `labels: {"otp.name":"checkout", "otp.pid":"` + p.ID().String() + `"}`
	if !strings.Contains(buf.String(), want) {
		t.Errorf("goroutine profile has no %s", want)
	}
}

func TestProcLabelsAllocateNothing(t *testing.T) {
	tab := NewProcessTable()
	p := tab.Spawn(Info{Name: "checkout", Kind: KindServer})
	l := new(ProcLabels)
	var ctx context.Context = &labelled{context.Background(), l}
	labelLayout()
	if n := testing.AllocsPerRun(100, func() {
		l.Set(p)
		pprof.SetGoroutineLabels(ctx)
	}); n != 0 {
		t.Errorf("Set and SetGoroutineLabels allocate %v times; want 0", n)
	}
	pprof.SetGoroutineLabels(context.Background())
}

// Should a Go release change pprof's label key or layout, the labels are
// built through pprof instead: still right, allocating.
func TestProcLabelsFallBackToPprof(t *testing.T) {
	saved := labelLayout
	labelLayout = func() pprofLayout { return pprofLayout{} }
	defer func() { labelLayout = saved }()
	tab := NewProcessTable()
	p := tab.Spawn(Info{Name: "checkout", Kind: KindServer})
	var l ProcLabels
	l.Set(p)
	ctx := labelled{context.Background(), &l}
	if got, ok := pprof.Label(ctx, LabelPID); !ok || got != p.ID().String() {
		t.Errorf("pid label = %q, %v; want %q", got, ok, p.ID().String())
	}
	type otherKey struct{}
	if v, ok := l.Lookup(otherKey{}); ok || v != nil {
		t.Errorf("Lookup(another key) = %v, %v; want nil, false", v, ok)
	}
}
