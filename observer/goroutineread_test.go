package observer

import (
	"bytes"
	"context"
	"fmt"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/go-observer/observer/instrument"
)

// The text form, symbolized by the reader, gives the same stacks and
// labels as the protobuf form: the runtime's innermost frames (gopark,
// chanrecv) included, runtime.goexit left out.
func TestTextReadMatchesProtobuf(t *testing.T) {
	release := make(chan struct{})
	var started, done sync.WaitGroup
	started.Add(6)
	done.Add(6)
	pprof.Do(context.Background(), pprof.Labels(instrument.LabelPID, instrument.PID(7).String(), "k", `a "quoted", value`), func(context.Context) {
		for i := range 6 {
			go benchOuter(i%3, &started, &done, release)
		}
	})
	started.Wait()
	defer func() { close(release); done.Wait() }()

	stacks := func(p *profile.Profile) map[string]int {
		out := map[string]int{}
		for _, s := range p.Sample {
			st := stackOf(s)
			if !slices.ContainsFunc(st, func(f frame) bool { return strings.HasSuffix(f.fn, ".benchInner") }) {
				continue
			}
			var b strings.Builder
			for _, f := range st {
				fmt.Fprintf(&b, "%s %s:%d\n", f.fn, f.file, f.line)
			}
			fmt.Fprintf(&b, "labels %v %v", s.Label[instrument.LabelPID], s.Label["k"])
			out[b.String()] += int(s.Value[0])
		}
		return out
	}
	// The goroutines are parked: both forms see them where they are,
	// once they all reached their receive.
	for try := 0; ; try++ {
		var buf bytes.Buffer
		if err := pprof.Lookup("goroutine").WriteTo(&buf, 0); err != nil {
			t.Fatal(err)
		}
		pb, err := profile.Parse(&buf)
		if err != nil {
			t.Fatal(err)
		}
		text, err := goroutineProfile()
		if err != nil {
			t.Fatal(err)
		}
		want, got := stacks(pb), stacks(text)
		n := 0
		for k, c := range want {
			if strings.Contains(k, "runtime.gopark") {
				n += c
			}
		}
		if n < 6 && try < 100 {
			continue // not all parked yet
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("text form:\n%v\nwant, as the protobuf form:\n%v", got, want)
		}
		for k := range got {
			if !strings.HasPrefix(k, "runtime.gopark") || strings.Contains(k, "runtime.goexit") || !strings.Contains(k, `[a "quoted", value]`) {
				t.Errorf("stack %q: want gopark first, no goexit, the labels unquoted", k)
			}
		}
		return
	}
}

// One read serves the parts that ask within its age, and a part that
// counted a read gets a newer one.
func TestReaderShares(t *testing.T) {
	var r goroutineReader
	a, err := r.read(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := r.read(1<<62, 0)
	if b != a {
		t.Errorf("a young read: got read %d, want the shared read %d", b.seq, a.seq)
	}
	c, _ := r.read(1<<62, a.seq)
	if c == a || c.seq <= a.seq {
		t.Errorf("after read %d: got read %d, want a newer one", a.seq, c.seq)
	}
	if reads, served := r.reads.Load(), r.served.Load(); reads != 2 || served != 3 {
		t.Errorf("reads %d served %d, want 2 and 3", reads, served)
	}
}

// A census and the contention look asked at the same tick share one read
// of the goroutine profile: the pause is paid once.
func TestCensusSharesTheLooksRead(t *testing.T) {
	o, err := New(instrument.NewProcessTable(), Options{Tick: MinTick, CensusEvery: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Start(); err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	sub := o.Subscribe() // no process: nothing to sample for wall time
	defer sub.Close()
	var seen []time.Time
	for range 80 {
		s := <-sub.C()
		if c := s.Census; c != nil && (len(seen) == 0 || !c.At.Equal(seen[len(seen)-1])) {
			seen = append(seen, c.At)
		}
		if len(seen) >= 4 {
			break
		}
	}
	if len(seen) < 4 {
		t.Fatalf("censuses: got %d in 80 ticks, want 4", len(seen))
	}
	reads, served := o.gr.reads.Load(), o.gr.served.Load()
	// Every census after the first (which the subscription asked for,
	// alone) took the read of the look asked with it, or gave it its own.
	if shared := served - reads; shared < uint64(len(seen)-1) {
		t.Errorf("reads %d for %d asked, with %d censuses: want at least %d shared", reads, served, len(seen), len(seen)-1)
	}
}
