package peers

import (
	"errors"
	"flag"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ergo-services/ergo"
	"github.com/ergo-services/ergo/etf"
	"github.com/ergo-services/ergo/gen"
	"github.com/ergo-services/ergo/lib"
	"github.com/ergo-services/ergo/node"
)

// --- Ergo: a gen.Server ---
//
// Ergo is github.com/ergo-services/ergo v1.999.224 (Ergo 2.2.4), the newest
// version the Go module proxy serves here: the module proxy refuses the
// newer path ergo.services/ergo. See docs/BENCHMARKS.md, "Peers".
//
// Ergo's mailbox is a bounded channel that drops a message when full and
// returns lib.ErrProcessMailboxFull. Its rows use the largest mailbox it
// allows (65,535) and a sender that yields and retries on that error, so
// every message is delivered, as in the other rows; "full/op" reports the
// refused sends per message.
//
// Ergo makes calls from inside a process only (ServerProcess.Call waits on
// the process's own loop). Its call row therefore runs the b.N calls in a
// client process, started by one Direct request; the extra hop is paid
// once per run, not per call.

// ergoNode is one node for the whole run, its warnings off; each benchmark
// spawns its own processes in it and kills them afterwards.
var ergoNode = sync.OnceValues(func() (node.Node, error) {
	if err := flag.Set("ergo.warning", "false"); err != nil {
		return nil, err
	}
	return ergo.StartNode("peers@localhost", "peers", node.Options{})
})

// ergoSink counts the casts of type M it handles and answers every call
// with 1.
type ergoSink[M any] struct {
	gen.Server
	n    int
	want int
	done chan struct{}
}

func (s *ergoSink[M]) HandleCast(p *gen.ServerProcess, m etf.Term) gen.ServerStatus {
	if _, ok := m.(M); ok {
		if s.n++; s.n == s.want {
			close(s.done)
		}
	}
	return gen.ServerStatusOK
}

func (s *ergoSink[M]) HandleCall(p *gen.ServerProcess, from gen.ServerFrom, m etf.Term) (etf.Term, gen.ServerStatus) {
	s.n++
	return 1, gen.ServerStatusOK
}

// ergoClient is the process the benchmark sends and calls from. A
// callLoop sent to it as a Direct request makes its calls one after
// another from inside the process.
type ergoClient struct{ gen.Server }

type callLoop struct {
	to etf.Pid
	m  etf.Term
	n  int
}

func (ergoClient) HandleDirect(p *gen.ServerProcess, ref etf.Ref, req any) (any, gen.DirectStatus) {
	l, ok := req.(callLoop)
	if !ok {
		return nil, lib.ErrUnsupportedRequest
	}
	for range l.n {
		r, err := p.CallWithTimeout(l.to, l.m, int(callTimeout.Seconds()))
		if err != nil {
			return nil, err
		}
		if r != 1 {
			return nil, errors.New("wrong reply")
		}
	}
	return nil, gen.DirectStatusOK
}

// spawnErgo starts the sink and a client in the shared node; both are
// killed when the benchmark ends.
func spawnErgo(b *testing.B, sink gen.ServerBehavior) (client, server gen.Process) {
	nd, err := ergoNode()
	if err != nil {
		b.Fatal(err)
	}
	server, err = nd.Spawn("", gen.ProcessOptions{MailboxSize: 65535}, sink)
	if err != nil {
		b.Fatal(err)
	}
	client, err = nd.Spawn("", gen.ProcessOptions{}, &ergoClient{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		client.Kill()
		server.Kill()
	})
	return client, server
}

func castErgo[M any](b *testing.B, senders int, m M) {
	s := &ergoSink[M]{want: b.N, done: make(chan struct{})}
	client, server := spawnErgo(b, s)
	to := server.Self()
	var full atomic.Int64 // sends refused by a full mailbox, and retried
	b.ReportAllocs()
	b.ResetTimer()
	split(b, senders, func() {
		// What ServerProcess.Cast sends; it lands in HandleCast. A retry
		// sends the same message again.
		cast := etf.Tuple{etf.Atom("$gen_cast"), m}
		for {
			err := client.Send(to, cast)
			if err == nil {
				return
			}
			if !errors.Is(err, lib.ErrProcessMailboxFull) {
				b.Error(err)
				return
			}
			full.Add(1)
			runtime.Gosched()
		}
	})
	<-s.done
	b.StopTimer()
	b.ReportMetric(float64(full.Load())/float64(b.N), "full/op")
}

func callErgo[M any](b *testing.B, m M) {
	client, server := spawnErgo(b, &ergoSink[M]{want: -1})
	b.ReportAllocs()
	b.ResetTimer()
	if _, err := client.DirectWithTimeout(callLoop{server.Self(), m, b.N}, 3600); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
}
