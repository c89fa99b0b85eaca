package peers

import (
	"sync"
	"testing"

	"ergo.services/ergo"
	"ergo.services/ergo/act"
	"ergo.services/ergo/gen"
)

// --- Ergo: an act.Actor ---
//
// Ergo is ergo.services/ergo at v1.999.320 (February 2026). The Go module
// proxy refuses the module's own path, ergo.services/ergo, but serves the
// same tagged source under its repository's path, and go.mod points the
// one at the other with a replace directive. See docs/BENCHMARKS.md,
// "Peers".
//
// Both rows use the node's own API, callable from any goroutine, as otp's
// Cast and Call are: Node.Send (the sender is the node's core process)
// and Node.Call, whose default timeout is 5 s like otp's. The actor's
// mailbox is Ergo's default, unbounded.

// ergoNode is one node for the whole run, its network and logging off;
// each benchmark spawns its own actor in it and kills it afterwards.
var ergoNode = sync.OnceValues(func() (gen.Node, error) {
	return ergo.StartNode("peers@localhost", gen.NodeOptions{
		Network: gen.NetworkOptions{Mode: gen.NetworkModeDisabled},
		Log:     gen.LogOptions{Level: gen.LogLevelDisabled},
	})
})

// ergoSink counts the messages of type M it gets and answers every call
// with 1.
type ergoSink[M any] struct {
	act.Actor
	n    int
	want int
	done chan struct{}
}

func (s *ergoSink[M]) HandleMessage(from gen.PID, m any) error {
	if _, ok := m.(M); ok {
		if s.n++; s.n == s.want {
			close(s.done)
		}
	}
	return nil
}

func (s *ergoSink[M]) HandleCall(from gen.PID, ref gen.Ref, m any) (any, error) {
	s.n++
	return 1, nil
}

// spawnErgo starts the sink in the shared node; it is killed when the
// benchmark ends.
func spawnErgo[M any](b *testing.B, s *ergoSink[M]) (gen.Node, gen.PID) {
	nd, err := ergoNode()
	if err != nil {
		b.Fatal(err)
	}
	pid, err := nd.Spawn(func() gen.ProcessBehavior { return s }, gen.ProcessOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nd.Kill(pid) })
	return nd, pid
}

func castErgo[M any](b *testing.B, senders int, m M) {
	s := &ergoSink[M]{want: b.N, done: make(chan struct{})}
	nd, pid := spawnErgo(b, s)
	b.ReportAllocs()
	b.ResetTimer()
	split(b, senders, func() {
		if err := nd.Send(pid, m); err != nil {
			b.Error(err)
		}
	})
	<-s.done
	b.StopTimer()
}

func callErgo[M any](b *testing.B, m M) {
	nd, pid := spawnErgo(b, &ergoSink[M]{want: -1})
	b.ReportAllocs()
	for b.Loop() {
		r, err := nd.Call(pid, m) // default 5 s timeout armed
		if err != nil {
			b.Fatal(err)
		}
		if r != 1 {
			b.Fatalf("reply %v", r)
		}
	}
}
