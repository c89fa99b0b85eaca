package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/otp"
)

// priceServer spends cost per call: with enough callers it is the
// GenServer bottleneck the advisor finds.
type priceServer struct{ cost time.Duration }

func (p *priceServer) HandleCall(ctx context.Context, item string) (int, error) {
	time.Sleep(p.cost)
	return len(item), nil
}

type idle struct{}

func (idle) HandleCall(ctx context.Context, op string) (string, error) { return op, nil }

var (
	recOnce sync.Once
	recPath string
	recOn   *observer.Snapshot // a tick the bottleneck was on
	recErr  error
)

// recording runs a small shop whose price server becomes a bottleneck,
// then recovers, and writes the observer's history to a file, once for
// the package's tests.
func recording(t *testing.T) (string, *observer.Snapshot) {
	t.Helper()
	recOnce.Do(func() { recPath, recOn, recErr = record() })
	if recErr != nil {
		t.Fatal(recErr)
	}
	return recPath, recOn
}

func record() (string, *observer.Snapshot, error) {
	node := otp.NewNode(otp.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer node.Stop()
	var sessions []otp.ChildSpec
	for _, n := range []string{"session-1", "session-2", "session-3"} {
		sessions = append(sessions, otp.Worker(n, func() otp.Server[string, string] { return idle{} }))
	}
	_, err := otp.StartSupervisor(node, otp.SupervisorSpec{
		Strategy: otp.OneForOne,
		Children: []otp.ChildSpec{
			otp.Worker("price", func() otp.Server[string, int] { return &priceServer{cost: 2 * time.Millisecond} }, otp.Name("price")),
			otp.Worker("cart", func() otp.Server[string, string] { return idle{} }),
			otp.SupervisorChild("sessions", otp.SupervisorSpec{Strategy: otp.OneForOne, Children: sessions}),
		},
	}, otp.Name("shop"))
	if err != nil {
		return "", nil, err
	}
	price := otp.Named[string, int](node, "price")
	obs, err := observer.New(node.ProcessTable(), observer.Options{Tick: observer.MinTick, FlightRecorder: true})
	if err != nil {
		return "", nil, err
	}
	defer obs.Close()
	if err := obs.Start(); err != nil {
		return "", nil, err
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		otp.Go(node, func(ctx context.Context) error {
			defer wg.Done()
			for ctx.Err() == nil && !stop.Load() {
				otp.CallTimeout(ctx, price, "widget", time.Second)
			}
			return nil
		}, otp.Name("checkout-"+string(rune('1'+i))))
	}
	sub := obs.Subscribe()
	defer sub.Close()
	var on *observer.Snapshot
	deadline := time.After(30 * time.Second)
	for cleared := false; !cleared; {
		select {
		case s := <-sub.C():
			bottleneck := false
			for _, f := range s.Findings {
				bottleneck = bottleneck || f.Kind == observer.KindBottleneck && f.PID == price.PID()
			}
			if bottleneck && on == nil {
				on = s
				stop.Store(true) // then wait for it to clear
			}
			cleared = on != nil && !bottleneck
		case <-deadline:
			return "", nil, errors.New("recording: no bottleneck came and went within 30 s")
		}
	}
	wg.Wait()
	for range 4 { // a few quiet ticks after it
		<-sub.C()
	}
	for saved := false; !saved; { // and the evidence saved when it turned on
		select {
		case <-sub.C():
			list, _ := obs.FindingTraces()
			saved = len(list) > 0
		case <-deadline:
			return "", nil, errors.New("recording: no evidence saved for the bottleneck within 30 s")
		}
	}
	rec, err := obs.Record()
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "observer-replay-test")
	if err != nil {
		return "", nil, err
	}
	path := filepath.Join(dir, "shop.obsrec")
	f, err := os.Create(path)
	if err != nil {
		return "", nil, err
	}
	if _, err := rec.WriteTo(f); err != nil {
		f.Close()
		return "", nil, err
	}
	return path, on, f.Close()
}

func TestMain(m *testing.M) {
	code := m.Run()
	if recPath != "" {
		os.RemoveAll(filepath.Dir(recPath))
	}
	os.Exit(code)
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decode: %v", url, err)
	}
	return resp.StatusCode
}

// The command's dashboard serves the recording: every page says it is
// one, the API answers at= with the recorded moment, and what needs the
// live program says why it cannot.
func TestReplayServesTheDashboard(t *testing.T) {
	path, on := recording(t)
	rp, err := open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rp.close()
	srv := httptest.NewServer(rp.mux)
	defer srv.Close()
	for _, page := range []string{"", "tree", "processes", "advisor", "events", "profile", "goroutines", "tables"} {
		resp, err := http.Get(srv.URL + "/" + page)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `data-testid="recording"`) {
			t.Errorf("GET /%s: got %d, want 200 with the recording's banner", page, resp.StatusCode)
		}
	}
	// A process of the past, gone by the recording's end: its page shows
	// it as the history last showed it.
	var caller observer.TreeNode
	for _, n := range on.Tree.Nodes {
		if n.Name == "checkout-1" {
			caller = n
		}
	}
	if _, live := rp.obs.Snapshot().Detail(caller.PID); caller.PID == 0 || live {
		t.Fatalf("checkout-1 at the bottleneck: %+v (in the last tick: %v); want one gone by the end", caller, live)
	}
	resp, err := http.Get(srv.URL + "/process/" + strconv.FormatUint(uint64(caller.PID), 10))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "checkout-1") {
		t.Errorf("GET /process/%d (checkout-1, gone by the end): got %d, want 200 with its page", caller.PID, resp.StatusCode)
	}

	// The evidence kept when the bottleneck turned on is in the file: the
	// advisor links its trace and stacks, and both are served.
	list, _ := rp.obs.FindingTraces()
	if len(list) == 0 {
		t.Fatalf("the replay's evidence: none, want the bottleneck's")
	}
	resp, err = http.Get(srv.URL + "/advisor")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	ev := list[0]
	for _, href := range []string{"api/traces/" + strconv.FormatUint(ev.Seq, 10), "api/traces/" + strconv.FormatUint(ev.Seq, 10) + "/stacks"} {
		if !strings.Contains(string(body), `href="./`+href+`"`) {
			t.Errorf("the replay's advisor: no link to %s", href)
		}
		resp, err := http.Get(srv.URL + "/" + href)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(b) == 0 || strings.HasSuffix(href, "/stacks") && !strings.Contains(string(b), "== price ") {
			t.Errorf("GET %s in the replay: %d, %d bytes; want 200 with the evidence", href, resp.StatusCode, len(b))
		}
	}

	var snap observer.Snapshot
	if code := getJSON(t, srv.URL+"/api/snapshot?at="+on.At.UTC().Format(time.RFC3339Nano), &snap); code != http.StatusOK || snap.Tick != on.Tick || len(snap.Findings) == 0 {
		t.Errorf("api/snapshot?at= the bottleneck: got %d, tick %d, %d findings; want 200, tick %d with the bottleneck", code, snap.Tick, len(snap.Findings), on.Tick)
	}
	var live observer.Snapshot
	if code := getJSON(t, srv.URL+"/api/snapshot", &live); code != http.StatusOK || !live.At.Equal(rp.info.To) {
		t.Errorf("api/snapshot: got %d at %v, want the recording's last tick %v", code, live.At, rp.info.To)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/api/profile?seconds=1", nil)
	req.Header.Set("Origin", srv.URL)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK || !strings.Contains(string(body), "recording") {
		t.Errorf("POST api/profile: got %d %s, want an error saying it is a recording", resp.StatusCode, body)
	}
}

// run listens where -addr says, prints the dashboard's address, serves
// until its context ends; a bad file or no file is an error that says so.
func TestRun(t *testing.T) {
	path, _ := recording(t)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0", path}, pw, io.Discard); pw.Close() }()
	sc := bufio.NewScanner(pr)
	var url string
	for sc.Scan() {
		if _, u, ok := strings.Cut(sc.Text(), "dashboard: "); ok {
			url = u
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("run printed %q, want the dashboard's loopback address", url)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %d, want 200", url, resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run after its context ended: %v, want nil", err)
	}

	bad := filepath.Join(t.TempDir(), "cut.obsrec")
	b, _ := os.ReadFile(path)
	os.WriteFile(bad, b[:len(b)/2], 0o600)
	err = run(context.Background(), []string{bad}, io.Discard, io.Discard)
	if !errors.Is(err, observer.ErrRecording) || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("run on a cut file: got %v, want an error naming it, saying truncated", err)
	}
	if err := run(context.Background(), nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "want one recording file") {
		t.Errorf("run with no file: got %v, want one asking for a file", err)
	}
	if err := run(context.Background(), []string{"-h"}, io.Discard, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("run -h: got %v, want flag.ErrHelp", err)
	}
}
