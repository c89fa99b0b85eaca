package peers

import (
	"context"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/go-observer/observer/otp"
)

// Every row sends the same element types: a pointer to a small struct, and
// the small struct by value. Every receiver counts what it gets and closes
// a done channel when all b.N messages have arrived; the timed region runs
// from the first send to that close. Setup (node, actor system, receiver)
// and teardown are outside it.
//
// The Ergo rows are in ergo_test.go.

// point is the small struct value message (16 bytes).
type point struct{ X, Y int64 }

var pointMsg = &point{1, 2}

// callTimeout is the timeout armed on every request: otp.Call's default.
const callTimeout = 5 * time.Second

// split runs senders goroutines that between them call send b.N times,
// and waits for them.
func split(b *testing.B, senders int, send func()) {
	var wg sync.WaitGroup
	per := b.N / senders
	for i := range senders {
		k := per
		if i == 0 {
			k += b.N - per*senders
		}
		wg.Go(func() {
			for range k {
				send()
			}
		})
	}
	wg.Wait()
}

// --- bare Go: a goroutine reading a buffered channel ---

func castChan[M any](b *testing.B, senders int, m M) {
	c := make(chan M, 1024)
	done := make(chan struct{})
	go func() {
		n := 0
		for range c {
			if n++; n == b.N {
				close(done)
				return
			}
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	split(b, senders, func() { c <- m })
	<-done
	b.StopTimer()
	close(c)
}

// callChan is the bare request/reply: a request carrying its reply channel,
// answered by a goroutine (no timeout armed).
func callChan[M any](b *testing.B, m M) {
	type req struct {
		m     M
		reply chan int
	}
	reqs := make(chan req)
	go func() {
		n := 0
		for r := range reqs {
			n++
			r.reply <- 1
		}
	}()
	defer close(reqs)
	reply := make(chan int, 1)
	b.ReportAllocs()
	for b.Loop() {
		reqs <- req{m, reply}
		<-reply
	}
}

// --- otp: a server ---

type sink[M any] struct {
	n    int
	want int
	done chan struct{}
}

func (s *sink[M]) HandleCall(ctx context.Context, m M) (int, error) {
	s.n++
	return 1, nil
}

func (s *sink[M]) HandleCast(ctx context.Context, m M) error {
	if s.n++; s.n == s.want {
		close(s.done)
	}
	return nil
}

func newNode() *otp.Node {
	return otp.NewNode(otp.Config{Logger: slog.New(slog.DiscardHandler)})
}

func castOTP[M any](b *testing.B, senders int, m M) {
	n := newNode()
	defer n.Stop()
	s := &sink[M]{want: b.N, done: make(chan struct{})}
	ref, err := otp.Start(n, s)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	split(b, senders, func() { otp.Cast(ref, m) })
	<-s.done
	b.StopTimer()
}

func callOTP[M any](b *testing.B, m M) {
	n := newNode()
	defer n.Stop()
	ref, err := otp.Start(n, &sink[M]{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := otp.Call(ctx, ref, m); err != nil { // default 5 s timeout armed
			b.Fatal(err)
		}
	}
}

// --- protoactor-go: an actor with the default (unbounded) mailbox ---

// protoSystem is one actor system for the whole run, logging discarded and
// metrics off (its defaults but for the log); each benchmark spawns its own
// actor in it and stops it afterwards.
var protoSystem = sync.OnceValue(func() *actor.ActorSystem {
	return actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
})

type protoSink[M any] struct {
	n    int
	want int
	done chan struct{}
}

func (s *protoSink[M]) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(M); !ok {
		return // *actor.Started and other system messages
	}
	s.n++
	if ctx.Sender() != nil { // a request: answer it
		ctx.Respond(1)
		return
	}
	if s.n == s.want {
		close(s.done)
	}
}

func spawnProto[M any](b *testing.B, s *protoSink[M]) (*actor.RootContext, *actor.PID) {
	sys := protoSystem()
	pid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return s }))
	b.Cleanup(func() { sys.Root.StopFuture(pid).Wait() })
	return sys.Root, pid
}

func castProto[M any](b *testing.B, senders int, m M) {
	s := &protoSink[M]{want: b.N, done: make(chan struct{})}
	root, pid := spawnProto(b, s)
	b.ReportAllocs()
	b.ResetTimer()
	split(b, senders, func() { root.Send(pid, m) })
	<-s.done
	b.StopTimer()
}

func callProto[M any](b *testing.B, m M) {
	root, pid := spawnProto(b, &protoSink[M]{want: -1})
	b.ReportAllocs()
	for b.Loop() {
		r, err := root.RequestFuture(pid, m, callTimeout).Result()
		if err != nil {
			b.Fatal(err)
		}
		if r.(int) != 1 {
			b.Fatalf("reply %v", r)
		}
	}
}

// --- the benchmarks ---

// caster is one library's cast row, for both message types.
type caster struct {
	name    string
	pointer func(b *testing.B, senders int, m *point)
	value   func(b *testing.B, senders int, m point)
}

var (
	chanCaster  = caster{"chan", castChan[*point], castChan[point]}
	otpCaster   = caster{"otp", castOTP[*point], castOTP[point]}
	protoCaster = caster{"protoactor", castProto[*point], castProto[point]}
	ergoCaster  = caster{"ergo", castErgo[*point], castErgo[point]}
)

// castRows runs the cast rows of each caster: one-to-one and many-to-one
// (4 × GOMAXPROCS senders), pointer and struct messages. Each row runs
// inside wrap, which calls it once.
func castRows(b *testing.B, wrap func(b *testing.B, row func(*testing.B)), casters ...caster) {
	many := 4 * runtime.GOMAXPROCS(0)
	for _, fan := range []struct {
		name    string
		senders int
	}{{"one-to-one", 1}, {"many-to-one", many}} {
		for _, c := range casters {
			b.Run(fan.name+"/pointer/"+c.name, func(b *testing.B) {
				wrap(b, func(b *testing.B) { c.pointer(b, fan.senders, pointMsg) })
			})
		}
		for _, c := range casters {
			b.Run(fan.name+"/struct/"+c.name, func(b *testing.B) {
				wrap(b, func(b *testing.B) { c.value(b, fan.senders, point{1, 2}) })
			})
		}
	}
}

// alone runs a row with nothing else competing for the processors.
func alone(b *testing.B, row func(*testing.B)) { row(b) }

func BenchmarkCast(b *testing.B) {
	castRows(b, alone, chanCaster, otpCaster, protoCaster, ergoCaster)
}

func BenchmarkCall(b *testing.B) {
	b.Run("pointer/chan", func(b *testing.B) { callChan(b, pointMsg) })
	b.Run("pointer/otp", func(b *testing.B) { callOTP(b, pointMsg) })
	b.Run("pointer/protoactor", func(b *testing.B) { callProto(b, pointMsg) })
	b.Run("pointer/ergo", func(b *testing.B) { callErgo(b, pointMsg) })
	b.Run("struct/chan", func(b *testing.B) { callChan(b, point{1, 2}) })
	b.Run("struct/otp", func(b *testing.B) { callOTP(b, point{1, 2}) })
	b.Run("struct/protoactor", func(b *testing.B) { callProto(b, point{1, 2}) })
	b.Run("struct/ergo", func(b *testing.B) { callErgo(b, point{1, 2}) })
}
