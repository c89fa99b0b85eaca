package web

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/pprof/profile"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
)

// flameBytes folds the CPU profile in file and returns the flame graph
// as the browser gets it: its JSON, and that JSON gzipped.
func flameBytes(tb testing.TB, file string) (f *observer.Flame, raw, gz int) {
	tb.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	f, err = observer.FoldCPUProfile(data)
	if err != nil {
		tb.Fatal(err)
	}
	js, err := json.Marshal(cpuFlameReply(f, true))
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(js)
	zw.Close()
	return f, len(js), buf.Len()
}

// The demo's CPU profile (10 s, testdata/demo-cpu.pb.gz, taken from
// api/pprof/cpu) folds into a flame graph of a few dozen kilobytes, within
// the node bound.
func TestFlameBytesOfTheDemoProfile(t *testing.T) {
	f, raw, gz := flameBytes(t, "testdata/demo-cpu.pb.gz")
	t.Logf("demo CPU profile: %d nodes, %d bytes of JSON, %d gzipped", f.Nodes, raw, gz)
	if f.Nodes == 0 || f.Nodes > observer.FlameMaxNodes || raw > 200<<10 {
		t.Errorf("%d nodes, %d bytes; want 1 to %d nodes, at most 200 KiB", f.Nodes, raw, observer.FlameMaxNodes)
	}
}

// wideProfile writes a CPU profile with more distinct stacks than a
// flame graph keeps: 150 processes, each with a stack 40 frames deep, of
// equal weight (6,000 frames, each above the 0.5 % a frame needs);
// returns its file.
func wideProfile(tb testing.TB) string {
	tb.Helper()
	p := &profile.Profile{SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"}, Period: 10_000_000}
	fn := func(name string) *profile.Location {
		f := &profile.Function{ID: uint64(len(p.Function) + 1), Name: name, SystemName: name, Filename: "/src/app/" + name + ".go"}
		p.Function = append(p.Function, f)
		l := &profile.Location{ID: uint64(len(p.Location) + 1), Line: []profile.Line{{Function: f, Line: 1}}}
		p.Location = append(p.Location, l)
		return l
	}
	for proc := range 150 {
		for s := range 1 {
			var locs []*profile.Location
			for d := range 40 {
				locs = append([]*profile.Location{fn(fmt.Sprintf("example.com/app.f%d_%d_%d", proc, s, d))}, locs...)
			}
			p.Sample = append(p.Sample, &profile.Sample{Value: []int64{1, 10_000_000}, Location: locs,
				Label: map[string][]string{instrument.LabelPID: {instrument.PID(proc + 1).String()}, instrument.LabelName: {fmt.Sprintf("worker-%d", proc)}}})
		}
	}
	file := filepath.Join(tb.TempDir(), "wide.pb.gz")
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
	return file
}

// A profile with far more distinct frames than a graph keeps is cut to
// the node bound.
func TestFlameBytesBounded(t *testing.T) {
	f, raw, gz := flameBytes(t, wideProfile(t))
	t.Logf("wide CPU profile: %d nodes, %d bytes of JSON, %d gzipped", f.Nodes, raw, gz)
	if f.Nodes > observer.FlameMaxNodes || f.Nodes < observer.FlameMaxNodes*9/10 || raw > 300<<10 {
		t.Errorf("%d nodes, %d bytes; want near %d nodes, at most 300 KiB", f.Nodes, raw, observer.FlameMaxNodes)
	}
}

// BenchmarkFlameBytes reports what a flame graph costs to fold and to
// send: B/flame is its JSON, gzB/flame the same gzipped (the dashboard's
// API does not compress; a proxy may), for the demo's CPU profile and for
// one with 6,000 distinct frames, cut to the node bound.
func BenchmarkFlameBytes(b *testing.B) {
	for _, c := range []struct{ name, file string }{{"demo", "testdata/demo-cpu.pb.gz"}, {"wide", wideProfile(b)}} {
		b.Run(c.name, func(b *testing.B) {
			var f *observer.Flame
			var raw, gz int
			for b.Loop() {
				f, raw, gz = flameBytes(b, c.file)
			}
			b.ReportMetric(float64(raw), "B/flame")
			b.ReportMetric(float64(gz), "gzB/flame")
			b.ReportMetric(float64(f.Nodes), "nodes")
		})
	}
}
