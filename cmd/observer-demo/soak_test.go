package main

import (
	"flag"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
)

var soakFor = flag.Duration("soak", 8*time.Second,
	"how long TestDemoSurvivesChaos runs the chaos monkey at ten times its default rate (the long form: -soak=60s)")

// The demo's tree survives its chaos monkey at ten times its default rate:
// hangs, panics, errors and the restart storms they cause all recover,
// and the root supervisor never gives up. Once the chaos stops (and the
// planted bottleneck is fixed, as the control panel does), every finding
// clears within 10 s.
func TestDemoSurvivesChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo under chaos")
	}
	cfg := defaultConfig()
	cfg.CrashRate *= 10
	cfg.HangFor = 2 * time.Second // hung handlers come back within the test
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := startApp(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer a.stop(log)
	root, ok := a.node.Whereis("shop")
	if !ok {
		t.Fatal("no shop supervisor")
	}
	events := a.node.ProcessTable().Subscribe(1 << 16)
	defer events.Close()

	var restarts, unresponsive, gaveUp int
	end := time.After(*soakFor)
soak:
	for {
		select {
		case ev := <-events.C():
			switch e := ev.(type) {
			case instrument.Restarted:
				restarts++
			case instrument.Unresponsive:
				unresponsive++
			case instrument.GaveUp:
				gaveUp++
				if e.PID == root {
					t.Fatalf("the root supervisor gave up: %+v", e)
				}
			}
		case <-end:
			break soak
		}
	}
	if pid, ok := a.node.Whereis("shop"); !ok || pid != root {
		t.Fatalf("the root supervisor is %v after %v of chaos, want still %v", pid, *soakFor, root)
	}
	if restarts == 0 {
		t.Fatal("the chaos monkey caused no restart: the soak tested nothing")
	}
	t.Logf("%v of chaos at %.1f faults/s: %d restarts, %d unresponsive, %d supervisors gave up (events dropped: %d)",
		*soakFor, cfg.CrashRate, restarts, unresponsive, gaveUp, events.Dropped())

	a.shop.crashRate.set(0)
	a.shop.fixed.Store(true)
	stopped := time.Now()
	deadline := stopped.Add(10 * time.Second)
	last := ""
	for {
		fs := a.obs.Snapshot().Findings
		if now := summaries(fs); now != last {
			t.Logf("%v after the chaos stopped:\n%s", time.Since(stopped).Round(100*time.Millisecond), now)
			last = now
		}
		if len(fs) == 0 {
			t.Logf("every finding cleared %v after the chaos stopped", time.Since(stopped).Round(100*time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("10s after the chaos stopped, findings remain:\n%s", summaries(fs))
		}
		time.Sleep(100 * time.Millisecond) // the next tick; polling the snapshot costs nothing
	}
}

func summaries(fs []observer.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("  " + f.Severity.String() + " " + f.Kind.String() + ": " + f.Summary + "\n")
	}
	return b.String()
}
