package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/otp"
)

// spin burns CPU until ctx ends.
func spin(ctx context.Context) error {
	x := 1
	for ctx.Err() == nil {
		for i := range 10000 {
			x = x*31 + i
		}
	}
	if x == 42 {
		println()
	}
	return nil
}

// getProfile fetches a profile and returns its status, headers and body.
func getProfile(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// findNode returns the first node, depth first, whose name has prefix.
func findNode(n *observer.FlameNode, prefix string) *observer.FlameNode {
	if strings.HasPrefix(n.Name, prefix) {
		return n
	}
	for i := range n.Children {
		if f := findNode(&n.Children[i], prefix); f != nil {
			return f
		}
	}
	return nil
}

// The CPU profile downloads in pprof format, carrying the processes'
// labels, and go tool pprof reads it; without seconds the same window is
// served again, and its flame graph puts the busy process under the
// root.
func TestCPUProfileDownloadAndFlame(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	s := newSystem(t, sysOpts{})
	if _, err := otp.Go(s.node, spin, otp.Name("spinner")); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, s.base+"api/flame/cpu"); code != http.StatusOK || !strings.Contains(body, `"empty":"No CPU profile yet`) || strings.Contains(body, `"root"`) {
		t.Fatalf("flame before a profile: got %d %s, want 200 and the empty state", code, body)
	}
	resp, body := getProfile(t, s.base+"api/pprof/cpu?seconds=1")
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Disposition"), ".pb.gz") {
		t.Fatalf("download: got %d %q %.300s, want 200 and a .pb.gz attachment", resp.StatusCode, resp.Header.Get("Content-Disposition"), body)
	}
	start := resp.Header.Get("X-Profile-Start")
	if _, err := time.Parse(time.RFC3339Nano, start); err != nil || resp.Header.Get("X-Profile-Seconds") == "" {
		t.Errorf("window headers: start %q seconds %q, want the window it covers", start, resp.Header.Get("X-Profile-Seconds"))
	}
	path := filepath.Join(t.TempDir(), "cpu.pb.gz")
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(gobin, "tool", "pprof", "-top", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "web.spin") {
		t.Fatalf("go tool pprof -top: %v\n%s\nwant web.spin in it", err, out)
	}
	out, err = exec.Command(gobin, "tool", "pprof", "-tags", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "otp.pid") || !strings.Contains(string(out), "spinner") {
		t.Fatalf("go tool pprof -tags: %v\n%s\nwant the otp.pid and otp.name labels", err, out)
	}

	waitFor(t, 5*time.Second, "the Profile page with the download and the window it covers", func() bool {
		_, page := get(t, s.base+"profile")
		return strings.Contains(page, `data-testid="cpu-download"`) && strings.Contains(page, `api/pprof/cpu"`) &&
			strings.Contains(page, " UTC)") && strings.Contains(page, `api/pprof/heap"`) && strings.Contains(page, `api/flame/cpu"`)
	})
	again, body2 := getProfile(t, s.base+"api/pprof/cpu")
	if again.StatusCode != http.StatusOK || again.Header.Get("X-Profile-Start") != start || len(body2) != len(body) {
		t.Errorf("without seconds: got %d, start %q, %d bytes; want the same window %q, %d bytes", again.StatusCode, again.Header.Get("X-Profile-Start"), len(body2), start, len(body))
	}

	code, js := get(t, s.base+"api/flame/cpu")
	var f flameReply
	if err := json.Unmarshal([]byte(js), &f); code != http.StatusOK || err != nil || f.Flame == nil {
		t.Fatalf("flame: got %d %v %.300s", code, err, js)
	}
	if !coversOneSecond(f.Caption) || f.Empty != "" {
		t.Errorf("caption %q empty %q, want the window it covers", f.Caption, f.Empty)
	}
	if f.Kind != "cpu" || f.Unit != "ns" || f.Total <= 0 || f.Root.Value != f.Total || f.Nodes > observer.FlameMaxNodes {
		t.Fatalf("flame: kind %q unit %q total %d root %d nodes %d", f.Kind, f.Unit, f.Total, f.Root.Value, f.Nodes)
	}
	sp := findNode(&f.Root, "spinner <0.")
	if sp == nil || sp.Class != observer.FlameProcess || sp.PID != s.pidOf(t, "spinner").String() {
		t.Fatalf("flame: process node %+v, want spinner with its PID", sp)
	}
	if n := findNode(sp, "web.spin"); n == nil || n.Class != observer.FlameApp {
		t.Errorf("flame: web.spin under the spinner: %+v", n)
	}
}

// When a CPU profile already runs elsewhere, a fresh one is refused with
// 409 and a message that says so; the window taken before is still
// served.
func TestCPUProfileBusy(t *testing.T) {
	s := newSystem(t, sysOpts{})
	first, body := getProfile(t, s.base+"api/pprof/cpu?seconds=1")
	if first.StatusCode != http.StatusOK {
		t.Fatalf("first profile: got %d %s", first.StatusCode, body)
	}
	if err := pprof.StartCPUProfile(io.Discard); err != nil {
		t.Skipf("cannot hold the profiler: %v", err)
	}
	defer pprof.StopCPUProfile()
	code, msg := get(t, s.base+"api/pprof/cpu?seconds=1")
	if code != http.StatusConflict || !strings.Contains(msg, "already running") || !strings.Contains(msg, "api/pprof/cpu, without seconds") {
		t.Fatalf("busy: got %d %s, want 409 saying another profile runs and where the newest is", code, msg)
	}
	kept, _ := getProfile(t, s.base+"api/pprof/cpu")
	if kept.StatusCode != http.StatusOK || kept.Header.Get("X-Profile-Start") != first.Header.Get("X-Profile-Start") {
		t.Errorf("kept: got %d start %q, want 200 and the first window %q", kept.StatusCode, kept.Header.Get("X-Profile-Start"), first.Header.Get("X-Profile-Start"))
	}
	if code, _ := get(t, s.base+"api/pprof/cpu?seconds=0"); code != http.StatusBadRequest {
		t.Errorf("seconds=0: got %d, want 400", code)
	}
}

// A busy server's wall-time flame graph, while somebody looks, ends in the
// sleep of its handler, off CPU.
func TestWallFlameOfABusyServer(t *testing.T) {
	s := newSystem(t, sysOpts{bottleneck: true})
	sub := s.obs.Subscribe() // somebody looks
	defer sub.Close()
	pid := s.pidOf(t, "price")
	url := s.base + "api/process/" + pid.String() + "/flame"
	var f flameReply
	var size int
	waitFor(t, 15*time.Second, "the price server's wall-time flame graph with the sleep in its handler", func() bool {
		code, js := get(t, url)
		size = len(js)
		if code != http.StatusOK {
			t.Fatalf("flame: got %d %s", code, js)
		}
		f = flameReply{}
		if json.Unmarshal([]byte(js), &f) != nil || f.Flame == nil || f.Total < 10 {
			return false
		}
		hc := findNode(&f.Root, "(*price).HandleCall")
		return hc != nil && findNode(hc, "off CPU: sleep") != nil
	})
	t.Logf("wall-time flame graph: %d nodes, %d bytes of JSON", f.Nodes, size)
	if f.Kind != "wall" || f.Unit != "samples" || f.Root.PID != pid.String() || f.Root.Class != observer.FlameProcess {
		t.Errorf("flame: kind %q unit %q root %+v", f.Kind, f.Unit, f.Root.Name)
	}
	if !strings.Contains(f.Caption, " goroutine samples over the last ") {
		t.Errorf("caption %q, want the samples and window", f.Caption)
	}
	if code, js := get(t, s.base+"api/process/<0.999999.0>/flame"); code != http.StatusOK || !strings.Contains(js, `"empty":"No wall-time samples yet`) {
		t.Errorf("a process not sampled: got %d %s, want 200 and the empty state", code, js)
	}
}

// cpuCaption is the start of a CPU flame graph's caption: the profile's
// span (rounded to 100 ms) and its window in UTC.
var cpuCaption = regexp.MustCompile(`^The (\d+(?:\.\d)?)s CPU profile taken \d\d:\d\d:\d\d–\d\d:\d\d:\d\d UTC`)

// coversOneSecond reports whether a caption names the window of a profile
// asked for one second: a loaded machine may stop it a little late, never
// early.
func coversOneSecond(caption string) bool {
	m := cpuCaption.FindStringSubmatch(caption)
	if m == nil {
		return false
	}
	secs, err := strconv.ParseFloat(m[1], 64)
	return err == nil && secs >= 1 && secs < 3
}
