package observer_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/otp"
)

// straggler is a goroutine nobody supervises.
func straggler(started *sync.WaitGroup, stop <-chan struct{}) {
	started.Done()
	<-stop
}

// spawnStragglers starts n unsupervised goroutines and waits until they run.
func spawnStragglers(n int, stop <-chan struct{}) {
	var started sync.WaitGroup
	started.Add(n)
	for range n {
		go straggler(&started, stop)
	}
	started.Wait()
}

// Goroutines started outside any process are counted, grouped by the
// function they run and where they were started; process goroutines are
// counted per process, and a process's stack can be read.
func TestCensusCountsUnownedGoroutines(t *testing.T) {
	n := node(t)
	pid, err := otp.Go(n, func(ctx context.Context) error { <-ctx.Done(); return nil }, otp.Name("worker"))
	if err != nil {
		t.Fatal(err)
	}
	o := start(t, n.Table(), observer.Options{})
	stop := make(chan struct{})
	defer close(stop)
	spawnStragglers(50, stop)

	c, err := o.Census(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.Unowned < 50 || c.Owned < 1 || c.Total != c.Owned+c.Unowned {
		t.Errorf("census: got total %d, owned %d, unowned %d; want unowned ≥ 50, owned ≥ 1, total = owned + unowned", c.Total, c.Owned, c.Unowned)
	}
	var site *observer.Site
	for i, s := range c.Sites {
		if strings.HasSuffix(s.Function, ".straggler") {
			site = &c.Sites[i]
		}
	}
	if site == nil || site.Count != 50 || !strings.Contains(site.CreatedBy, "spawnStragglers") || !strings.Contains(site.CreatedBy, "census_test.go:") {
		t.Fatalf("straggler site: got %+v, want 50 goroutines created by spawnStragglers in census_test.go (sites: %+v)", site, c.Sites)
	}
	if d, ok := o.Process(pid); !ok || d.Goroutines != 1 {
		t.Errorf("Process(worker).Goroutines: got %d (found %v), want 1", d.Goroutines, ok)
	}
	stack, err := o.Stack(pid)
	if err != nil || !strings.Contains(stack, "TestCensusCountsUnownedGoroutines") {
		t.Errorf("Stack(worker): got %q, %v; want the worker's stack", stack, err)
	}
}

// Unsupervised goroutines that grow census after census are a finding.
func TestGoroutineLeakFinding(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		table := instrument.NewTable()
		o := startBubble(t, table, observer.Options{CensusEvery: -1})
		sub := o.Subscribe()
		defer sub.Close()
		stop := make(chan struct{})
		defer close(stop)
		for range 4 {
			spawnStragglers(30, stop)
			if _, err := o.Census(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		s := await(t, sub, 2, "goroutine leak finding", has(observer.KindGoroutineLeak, 0))
		f := finding(s, observer.KindGoroutineLeak, 0)
		if !strings.HasSuffix(f.Name, ".straggler") {
			t.Errorf("leak site: got %q, want the straggler function", f.Name)
		}
		t.Logf("%s\n%s", f.Summary, f.Advice)
	})
}
