// Command plaingo is a plain Go program — no otp process anywhere — with
// the dashboard mounted in a few lines, and three problems planted for the
// Goroutines page to show:
//
//   - a mutex everybody waits on: 16 workers call (*cache).get, which
//     holds the lock for 20 ms;
//   - a channel with one slow consumer: 8 producers send jobs that one
//     consumer takes every 50 ms;
//   - a goroutine leak: fetch gives up waiting after 5 ms, and the
//     goroutine it started stays blocked sending its result forever.
//
// Run it and open the dashboard's Goroutines page:
//
//	go run ./examples/plaingo -addr 127.0.0.1:8090
//	open http://127.0.0.1:8090/debug/observer/goroutines
//
// The Advisor page names the first two by their lines within seconds,
// with nothing to press: "15 goroutines wait on the mutex at main.go:145
// (sync.(*Mutex).Lock ← (*cache).get); … held at main.go:149
// ((*cache).get, the Unlock's caller)" and "8 goroutines blocked sending
// on the channel at main.go:169 (in (*app).producer) that one goroutine at
// main.go:182 drains (select ← (*app).consumer); 20.0 blocked sends a
// second get through: it is drained, slower than it is fed"; the leak
// follows from the goroutine census, every 10 s.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/web"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "address to listen on")
	maxLeak := flag.Int("leak", 2000, "stop leaking goroutines after this many")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *addr, *maxLeak); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, addr string, maxLeak int) error {
	// The dashboard, mounted in five lines, with the contention options
	// on (see options).
	obs, err := observer.New(instrument.NewProcessTable(), options)
	if err != nil {
		return err
	}
	if err := obs.Start(); err != nil {
		return err
	}
	defer obs.Close()
	dash, err := web.New(obs, web.Options{Title: "plaingo"})
	if err != nil {
		return err
	}
	defer dash.Close()
	mux := http.NewServeMux()
	dash.Register(mux, "/debug/observer/")

	app := start(maxLeak)
	defer app.stop()

	srv := &http.Server{Addr: addr, Handler: mux}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	fmt.Printf("dashboard: http://%s/debug/observer/goroutines\n", addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// options turn the runtime's mutex profile on for one contention in 100,
// and its block profile for about one event per 100 µs blocked: cheap,
// and enough for the findings to name where the lock is held and how fast
// the channel drains; and they let a short execution trace name who
// drains it.
var options = observer.Options{MutexProfileFraction: 100, BlockProfileRate: 100_000, DrainerTraces: true}

// app is the planted program: its goroutines stop when stop is called,
// except the leaked ones, which nothing can reach (that is the leak).
type app struct {
	done   chan struct{}
	jobs   chan int
	wg     sync.WaitGroup
	leaked atomic.Int64
}

func start(maxLeak int) *app {
	a := &app{done: make(chan struct{})}
	c := &cache{m: map[int]int{}}
	a.wg.Add(16 + 8 + 2)
	for range 16 {
		go a.worker(c)
	}
	jobs := make(chan int)
	a.jobs = jobs
	for range 8 {
		go a.producer(jobs)
	}
	go a.consumer(jobs)
	go a.requests(maxLeak)
	return a
}

func (a *app) stop() {
	close(a.done)
	finished := make(chan struct{})
	go func() {
		a.wg.Wait()
		close(finished)
	}()
	for { // take the producers' last jobs, now that the consumer is gone
		select {
		case <-a.jobs:
		case <-finished:
			return
		}
	}
}

// cache is guarded by one mutex, held for the whole (slow) lookup.
type cache struct {
	mu sync.Mutex
	m  map[int]int
}

func (c *cache) get(k int) int {
	c.mu.Lock()
	time.Sleep(20 * time.Millisecond) // the slow critical section
	c.m[k]++
	n := c.m[k]
	c.mu.Unlock()
	return n
}

func (a *app) worker(c *cache) {
	defer a.wg.Done()
	for i := 0; ; i++ {
		select {
		case <-a.done:
			return
		default:
		}
		c.get(i % 10)
	}
}

// producer sends jobs to the one consumer.
func (a *app) producer(jobs chan<- int) {
	defer a.wg.Done()
	for i := 0; ; i++ {
		jobs <- i // blocks: one slow consumer takes them
		select {
		case <-a.done:
			return
		default:
		}
	}
}

// consumer is the only reader of jobs, and slow.
func (a *app) consumer(jobs <-chan int) {
	defer a.wg.Done()
	for {
		select { // takes one job at a time
		case <-jobs:
			time.Sleep(50 * time.Millisecond)
		case <-a.done:
			return
		}
	}
}

// requests calls fetch a few times a second, as a server would per request.
func (a *app) requests(maxLeak int) {
	defer a.wg.Done()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if a.leaked.Load() < int64(maxLeak) {
				if _, ok := fetch(); !ok {
					a.leaked.Add(1)
				}
			}
		case <-a.done:
			return
		}
	}
}

// fetch waits 5 ms for a lookup that takes 10 ms: when it gives up, the
// goroutine it started blocks forever sending to a channel nobody reads.
func fetch() (int, bool) {
	res := make(chan int) // unbuffered: the leak
	go func() {
		time.Sleep(10 * time.Millisecond)
		res <- 42
	}()
	select {
	case v := <-res:
		return v, true
	case <-time.After(5 * time.Millisecond):
		return 0, false
	}
}
