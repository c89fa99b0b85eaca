package observer_test

import (
	"context"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

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
	running := make(chan struct{}) // its goroutine runs, its labels set
	pid, err := otp.Go(n, func(ctx context.Context) error { close(running); <-ctx.Done(); return nil }, otp.Name("worker"))
	if err != nil {
		t.Fatal(err)
	}
	<-running
	o := start(t, n.ProcessTable(), observer.Options{})
	stop := make(chan struct{})
	defer close(stop)
	spawnStragglers(50, stop)

	c, err := o.Census(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.Unowned < 50 || c.Owned < 1 || c.Own < 1 || c.Total != c.Owned+c.Unowned+c.Own {
		t.Errorf("census: got total %d, owned %d, unowned %d, own %d; want unowned ≥ 50, owned ≥ 1, own ≥ 1 (the sampler), total = owned + unowned + own", c.Total, c.Owned, c.Unowned, c.Own)
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

// Unsupervised goroutines that grow census after census, over seconds,
// are a finding whose subject is where they are started.
func TestGoroutineLeakFinding(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		table := instrument.NewProcessTable()
		o := startBubble(t, table, observer.Options{CensusEvery: -1})
		sub := o.Subscribe()
		defer sub.Close()
		stop := make(chan struct{})
		defer close(stop)
		for range 3 {
			spawnStragglers(30, stop)
			if _, err := o.Census(context.Background()); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second) // growth spread over time, not a burst
		}
		s := await(t, sub, 2, "goroutine leak finding", has(observer.KindGoroutineLeak, 0))
		f := finding(s, observer.KindGoroutineLeak, 0)
		if !strings.HasSuffix(f.Name, ".straggler") || f.PID != 0 || !strings.Contains(f.Site, "spawnStragglers") {
			t.Errorf("leak: got name %q, pid %v, site %q; want the straggler function, no process, started in spawnStragglers", f.Name, f.PID, f.Site)
		}
		t.Logf("%s\n%s", f.Summary, f.Advice)
	})
}

// The goroutines of the observer and of a dashboard (labelled
// observer.role, as the web handler labels its connections) grow census
// after census as browsers connect, and are never a site nor a leak:
// they are counted apart, as the observer's own.
func TestCensusKeepsTheObserversOwnGoroutinesApart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		table := instrument.NewProcessTable()
		o := startBubble(t, table, observer.Options{CensusEvery: -1})
		sub := o.Subscribe()
		defer sub.Close()
		stop := make(chan struct{})
		defer close(stop)
		var last *observer.Census
		for range 4 {
			// A dashboard's connections: their goroutines are started
			// under the role label, and inherit it.
			pprof.Do(context.Background(), pprof.Labels(observer.LabelRole, "dashboard"), func(context.Context) {
				spawnStragglers(30, stop)
			})
			c, err := o.Census(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if last != nil && c.Own < last.Own+30 {
				t.Errorf("own goroutines: got %d after %d, want 30 more", c.Own, last.Own)
			}
			last = c
			time.Sleep(time.Second) // growth spread over time, as a leak's is
		}
		if last.Own < 120 || last.Total != last.Owned+last.Unowned+last.Own {
			t.Errorf("census: got own %d of total %d (owned %d, unowned %d); want own ≥ 120, total = owned + unowned + own", last.Own, last.Total, last.Owned, last.Unowned)
		}
		for _, s := range last.Sites {
			if strings.HasSuffix(s.Function, ".straggler") || strings.Contains(s.Function, "go-observer/observer/observer.") {
				t.Errorf("site %s (%d goroutines): the observer's own goroutines listed as the application's", s.Function, s.Count)
			}
		}
		// Two more ticks: a leak would have been raised by now.
		for range 2 {
			time.Sleep(time.Second)
			synctest.Wait()
		}
		if f := finding(o.Snapshot(), observer.KindGoroutineLeak, 0); f != nil {
			t.Errorf("the dashboard's goroutines flagged as a leak: %s", f.Summary)
		}
	})
}

// leaky blocks until stop closes: a goroutine nobody will ever stop, as
// far as the program it leaks from knows.
func leaky(stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	<-stop
}

// leakFrom starts about perSecond leaky goroutines a second until stop
// closes: a helper that forgets its goroutines.
func leakFrom(perSecond int, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			for range perSecond / 100 {
				wg.Add(1)
				go leaky(stop, wg)
			}
		}
	}
}

// A leak of 500 goroutines a second is found within five seconds by a
// program that only reads snapshots: the census does not wait for a
// subscriber. The finding's subject is the site that starts them.
func TestGoroutineLeakFoundWithoutSubscriber(t *testing.T) {
	o := start(t, instrument.NewProcessTable(), observer.Options{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() {
		close(stop)
		wg.Wait()
	}()
	began := time.Now()
	wg.Add(1)
	go leakFrom(500, stop, &wg)
	var f *observer.Finding
	for deadline := began.Add(5 * time.Second); f == nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		f = finding(o.Snapshot(), observer.KindGoroutineLeak, 0)
	}
	if f == nil {
		t.Fatalf("no goroutine leak found within 5s of its start; last snapshot:\n%s", dump(o.Snapshot()))
	}
	t.Logf("found after %v: %s (site %s)", time.Since(began).Round(time.Millisecond), f.Summary, f.Site)
	if f.PID != 0 || !strings.HasSuffix(f.Name, ".leaky") || !strings.Contains(f.Site, "leakFrom") || !strings.Contains(f.Site, "census_test.go:") {
		t.Errorf("leak: got pid %v, name %q, site %q; want no process, the leaky function, started by leakFrom in census_test.go", f.PID, f.Name, f.Site)
	}
}
