package observer

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// A dump as Go 1.27 prints it for a module at go 1.27 (labels after the
// header's bracket, quoted where needed), with the waits and thread locks the runtime adds, a creator
// whose goroutine exited, and a last goroutine cut short.
const dump127 = `goroutine 1 [running]:
main.main()
	/app/main.go:25 +0x1b1

goroutine 19 [sync.Mutex.Lock, 3 minutes]:
internal/sync.runtime_SemacquireMutex(0x0?, 0x0?, 0x0?)
	/usr/local/go/src/runtime/sema.go:95 +0x25
sync.(*Mutex).Lock(...)
	/usr/local/go/src/sync/mutex.go:46
main.worker()
	/app/main.go:17 +0x2d
created by main.main in goroutine 1
	/app/main.go:16 +0x65

goroutine 20 [sync.Mutex.Lock, 7 minutes, locked to thread] {otp.pid: "<0.42.0>", note: "a \"quoted\" b"}:
internal/sync.runtime_SemacquireMutex(0x0?, 0x0?, 0x0?)
	/usr/local/go/src/runtime/sema.go:95 +0x25
sync.(*Mutex).Lock(...)
	/usr/local/go/src/sync/mutex.go:46
main.worker()
	/app/main.go:17 +0x2d
created by main.main in goroutine 1
	/app/main.go:16 +0x65

goroutine 33 [chan send, synctest bubble 3] {observer.role: dashboard}:
main.child()
	/app/main.go:40 +0x1e
created by main.worker in goroutine 20
	/app/main.go:30 +0x56

goroutine 34 [select]:
main.orphan()
	/app/main.go:50 +0x1e
created by main.gone in goroutine 7
	/app/main.go:60 +0x56

goroutine 35 [chan receive]:
main.cut(`

func TestParseDumpHeadersAndFrames(t *testing.T) {
	var gs []*rawGoroutine
	labels, err := parseDump(strings.NewReader(dump127), func(g *rawGoroutine) { gs = append(gs, g) })
	if err != nil || !labels {
		t.Fatalf("parseDump: labels %v, err %v; want labels, no error", labels, err)
	}
	if len(gs) != 6 {
		t.Fatalf("goroutines: got %d, want 6", len(gs))
	}
	g := gs[2]
	if g.id != 20 || g.state != "sync.Mutex.Lock" || g.waited != 7*time.Minute || !g.locked {
		t.Errorf("header: got id %d state %q waited %v locked %v, want 20 sync.Mutex.Lock 7m true", g.id, g.state, g.waited, g.locked)
	}
	if g.labels["otp.pid"] != "<0.42.0>" || g.labels["note"] != `a "quoted" b` {
		t.Errorf("labels: got %q, want otp.pid and the unquoted note", g.labels)
	}
	if len(g.frames) != 3 || g.frames[1] != (Frame{"sync.(*Mutex).Lock", "/usr/local/go/src/sync/mutex.go", 46}) || g.frames[2] != (Frame{"main.worker", "/app/main.go", 17}) {
		t.Errorf("frames: got %+v", g.frames)
	}
	if g.created == nil || *g.created != (Frame{"main.main", "/app/main.go", 16}) || g.parent != 1 {
		t.Errorf("created: got %+v in goroutine %d, want main.main /app/main.go:16 in 1", g.created, g.parent)
	}
	if gs[1].labels != nil || gs[1].waited != 3*time.Minute {
		t.Errorf("goroutine 19: labels %v waited %v, want none and 3m", gs[1].labels, gs[1].waited)
	}
	if last := gs[5]; last.id != 35 || len(last.frames) != 1 || last.frames[0].Function != "main.cut(" {
		t.Errorf("cut goroutine: got %+v", last)
	}
}

func TestParseHeaderGo126Labels(t *testing.T) {
	g := parseHeader(`goroutine 21 [chan send, 2 minutes labels:{"otp.pid": "<0.7.0>", "x": "a b\"c"}]:`)
	if g == nil || g.id != 21 || g.state != "chan send" || g.waited != 2*time.Minute {
		t.Fatalf("header: got %+v", g)
	}
	if g.labels["otp.pid"] != "<0.7.0>" || g.labels["x"] != `a b"c` {
		t.Errorf("labels: got %q", g.labels)
	}
	g = parseHeader(`goroutine 5 [select]:`)
	if g.state != "select" || g.labels != nil {
		t.Errorf("plain header: got %+v", g)
	}
}

func TestGroupDumpTreeAndOwnership(t *testing.T) {
	d, err := groupDump(bytes.NewReader([]byte(dump127)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Total != 6 || d.Own != 1 || d.Labels != "traceback" {
		t.Fatalf("total %d own %d labels %q, want 6, 1, traceback", d.Total, d.Own, d.Labels)
	}
	w := d.Groups[0]
	if w.Count != 2 || w.LongestWait != 7*time.Minute || w.Locked != 1 || w.Function().Function != "main.worker" {
		t.Errorf("worker group: got %+v", w)
	}
	if len(w.Owners) != 1 || w.Owners[0].PID != 42 || w.Owners[0].Count != 1 || w.OwnerCount != 1 {
		t.Errorf("worker owners: got %+v, want <0.42.0> × 1", w.Owners)
	}
	main := d.Group(w.Parent)
	if main == nil || main.Function().Function != "main.main" || !contains(main.Children, w.ID) {
		t.Errorf("worker's parent: got %+v", main)
	}
	if len(d.OwnGroups) != 1 || d.OwnGroups[0].Role != "dashboard" || d.OwnGroups[0].Parent != -1 || !contains(d.OwnGroups[0].Parents, w.ID) {
		t.Errorf("own group: got %+v, want the dashboard's, a root of its own side whose parent is the worker group", d.OwnGroups)
	}
	for _, g := range d.Groups {
		if g.Function().Function == "main.orphan" && g.Parent != -1 {
			t.Errorf("orphan (creator exited) hangs under %d, want a root", g.Parent)
		}
	}
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestShapelessMatchesDumpAndProfileNames(t *testing.T) {
	dump := shapeless("github.com/x/otp.(*server[...]).loop")
	prof := shapeless("github.com/x/otp.(*server[go.shape.string,go.shape.int]).loop")
	if dump != prof || dump != "github.com/x/otp.(*server[]).loop" {
		t.Errorf("shapeless: got %q and %q, want both github.com/x/otp.(*server[]).loop", dump, prof)
	}
}

// deep blocks n calls deep.
func deep(n int, release <-chan struct{}, ready chan<- struct{}) {
	if n == 0 {
		ready <- struct{}{}
		<-release
		return
	}
	deep(n-1, release, ready)
}

func TestGroupDumpCutsDeepStacks(t *testing.T) {
	release, ready := make(chan struct{}), make(chan struct{})
	defer close(release)
	go deep(80, release, ready)
	<-ready
	d, err := readGoroutines(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range append(d.Groups, d.OwnGroups...) { // this package's functions are the observer's own
		if g.Function().Function == ownPrefix+"deep" && g.States[0].State == "chan receive" {
			if len(g.Frames) != maxDumpFrames || g.Dropped < 80-maxDumpFrames {
				t.Fatalf("deep stack: kept %d frames and dropped %d, want %d kept and at least %d dropped", len(g.Frames), g.Dropped, maxDumpFrames, 80-maxDumpFrames)
			}
			return
		}
	}
	t.Fatalf("no group blocked in deep")
}

func TestArrangeKeepsTheLargestGroups(t *testing.T) {
	var all []*GoroutineGroup
	for i := range maxDumpGroups + 10 {
		g := &GoroutineGroup{ID: i, Count: i + 1, Parents: []int{}}
		if i > 0 {
			g.Parents = []int{i - 1} // a chain: each group started by the one before
		}
		all = append(all, g)
	}
	d := &GoroutineDump{}
	arrange(d, all)
	if len(d.Groups) != maxDumpGroups || d.DroppedGroups != 10 {
		t.Fatalf("kept %d groups, dropped %d; want %d and 10", len(d.Groups), d.DroppedGroups, maxDumpGroups)
	}
	if d.Groups[0].Count != maxDumpGroups+10 || d.Groups[len(d.Groups)-1].Count != 11 {
		t.Errorf("kept counts %d…%d, want the largest: %d…11", d.Groups[0].Count, d.Groups[len(d.Groups)-1].Count, maxDumpGroups+10)
	}
	// The chain is renumbered: the largest group's parent (the next
	// largest) is ID 1, and the smallest kept lost its dropped parent.
	if d.Groups[0].Parent != 1 || d.Groups[len(d.Groups)-1].Parent != -1 || len(d.Roots) != 1 {
		t.Errorf("parents: first %d, last %d, roots %v; want 1, -1 and one root", d.Groups[0].Parent, d.Groups[len(d.Groups)-1].Parent, d.Roots)
	}
}
