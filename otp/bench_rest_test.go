package otp_test

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-observer/observer/otp"
)

// kv is a server that answers reads of its map: the read-heavy server the
// iron law is about.
type kv struct{ m map[string]int }

func (s *kv) HandleCall(ctx context.Context, key string) (int, error) { return s.m[key], nil }

// rwShards is the other design for an owned table, measured beside it:
// a map split over RWMutex-guarded shards.
type rwShards struct {
	s [64]struct {
		mu sync.RWMutex
		m  map[string]int
		_  [32]byte
	}
}

func (r *rwShards) get(k string) (int, bool) {
	sh := &r.s[len(k)%64]
	sh.mu.RLock()
	v, ok := sh.m[k]
	sh.mu.RUnlock()
	return v, ok
}

// readers runs total reads spread over n goroutines and waits for them.
func readers(b *testing.B, n int, read func()) {
	var wg sync.WaitGroup
	per := b.N / n
	for i := range n {
		k := per
		if i == 0 {
			k += b.N - per*n
		}
		wg.Go(func() {
			for range k {
				read()
			}
		})
	}
	wg.Wait()
}

// BenchmarkIronLaw: N concurrent readers getting one value through a
// server call, against the same through an owned table (and a sharded
// RWMutex map, the table design not taken). ns/op is wall time per read,
// all readers together:
//
//	go test -run '^$' -bench IronLaw -benchmem -count 5 ./otp/
func BenchmarkIronLaw(b *testing.B) {
	n := otp.NewNode(otp.Config{Logger: discardLogger()})
	defer n.Stop()
	keys := make(map[string]int)
	for i := range 1000 {
		keys["key"+strconv.Itoa(i)] = i
	}
	srv, _ := otp.Start(n, otp.Server[string, int](&kv{m: keys}))
	table, _ := otp.StartTable[string, int](n, "iron")
	rw := &rwShards{}
	for i := range rw.s {
		rw.s[i].m = map[string]int{}
	}
	ctx := context.Background()
	for k, v := range keys {
		table.Insert(ctx, k, v)
		rw.s[len(k)%64].m[k] = v
	}
	const key = "key500"
	for _, readersN := range []int{1, 2, 8, 64} {
		b.Run(fmt.Sprintf("readers=%d/server-call", readersN), func(b *testing.B) {
			b.ReportAllocs()
			readers(b, readersN, func() {
				if v, err := otp.Call(ctx, srv, key); err != nil || v != 500 {
					b.Fatal(v, err)
				}
			})
		})
		b.Run(fmt.Sprintf("readers=%d/table", readersN), func(b *testing.B) {
			b.ReportAllocs()
			readers(b, readersN, func() {
				if v, ok := table.Lookup(key); !ok || v != 500 {
					b.Fatal(v, ok)
				}
			})
		})
		b.Run(fmt.Sprintf("readers=%d/rwmutex-shards", readersN), func(b *testing.B) {
			b.ReportAllocs()
			readers(b, readersN, func() {
				if v, ok := rw.get(key); !ok || v != 500 {
					b.Fatal(v, ok)
				}
			})
		})
	}
}

var children = flag.Int("children", 1_000_000, "children BenchmarkPartitionChildren starts")

// BenchmarkPartitionChildren starts -children idle servers under a
// partition supervisor (GOMAXPROCS partitions, one starter goroutine per
// partition) and reports the time and the memory each child holds: its
// server, record, mailbox, pprof labels, its entry in its supervisor, and
// (awake) its goroutine and stack. "hibernated" children are started with
// HibernateAfter(0): they give their goroutine and mailbox back once idle;
// bytes/child-woken is what they hold after each was woken by a call and
// went back to sleep. Run it once:
//
//	go test -run '^$' -bench PartitionChildren -benchtime 1x ./otp/
func BenchmarkPartitionChildren(b *testing.B) {
	b.Run("awake", func(b *testing.B) { benchPartition(b) })
	b.Run("hibernated", func(b *testing.B) { benchPartition(b, otp.HibernateAfter(0)) })
}

func benchPartition(b *testing.B, opts ...otp.Option) {
	count := *children
	for b.Loop() {
		n := otp.NewNode(otp.Config{Logger: discardLogger()})
		ps, err := otp.StartPartitionSupervisor(n, otp.PartitionSpec{})
		if err != nil {
			b.Fatal(err)
		}
		spec := otp.Worker("session", func() otp.Server[int, int] { return &sink[int]{} }, opts...)
		hibernating := len(opts) > 0
		var pids []otp.PID // made before the count: they are the benchmark's, not the children's
		if hibernating {
			pids = make([]otp.PID, count)
		}
		before := inUse()
		start := time.Now()
		var wg sync.WaitGroup
		var last otp.PID
		parts := ps.Partitions()
		for p := range parts {
			wg.Go(func() {
				for i := p; i < count; i += parts {
					pid, err := ps.StartChild(i, spec)
					if err != nil {
						b.Error(err)
						return
					}
					if pids != nil {
						pids[i] = pid
					}
					if p == 0 {
						last = pid
					}
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		if hibernating {
			// Let the last children hibernate.
			for runtime.NumGoroutine() > 1000 {
				time.Sleep(10 * time.Millisecond)
			}
		}
		after := inUse()
		b.ReportMetric(float64(elapsed.Nanoseconds())/float64(count), "ns/child")
		b.ReportMetric(float64(after-before)/float64(count), "bytes/child")
		if hibernating {
			// Wake every child once with a call, and let it sleep again:
			// what it holds then is what a server that has worked holds.
			for p := range parts {
				wg.Go(func() {
					for i := p; i < count; i += parts {
						ref, err := otp.RefOf[int, int](n, pids[i])
						if err == nil {
							_, err = otp.Call(context.Background(), ref, 0)
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			for runtime.NumGoroutine() > 1000 {
				time.Sleep(10 * time.Millisecond)
			}
			b.ReportMetric(float64(inUse()-before)/float64(count), "bytes/child-woken")
		}
		b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
		if cc, _ := ps.Count(); cc.Active != count {
			b.Fatalf("%d children running, want %d", cc.Active, count)
		}
		// A child still answers (a hibernated one wakes for it).
		ref, err := otp.RefOf[int, int](n, last)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := otp.Call(context.Background(), ref, 0); err != nil {
			b.Fatal(err)
		}
		stopStart := time.Now()
		if err := n.Stop(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(stopStart).Seconds(), "stop-s")
	}
}

// BenchmarkHibernatedCall is a call to a server that hibernates as soon as
// its mailbox is empty, so that every call wakes it: the price of
// HibernateAfter(0) for a server that is not idle after all. The third
// row is a call to a server that may hibernate but is kept awake by the
// calls: what HibernateAfter costs a busy server.
//
//	go test -run '^$' -bench 'HibernatedCall' -benchmem -count 5 ./otp/
func BenchmarkHibernatedCall(b *testing.B) {
	for _, mode := range []struct {
		name string
		opts []otp.Option
	}{{"awake", nil}, {"hibernate_after=0", []otp.Option{otp.HibernateAfter(0)}},
		{"hibernate_after=1s", []otp.Option{otp.HibernateAfter(time.Second)}}} {
		b.Run(mode.name, func(b *testing.B) {
			n := otp.NewNode(otp.Config{Logger: discardLogger()})
			defer n.Stop()
			ref, _ := otp.Start(n, &sink[point]{}, mode.opts...)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := otp.Call(ctx, ref, point{1, 2}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
