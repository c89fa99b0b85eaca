package otp

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-observer/observer/instrument"
)

// PID identifies a process. It is the instrument package's ID, so the
// observer and the runtime speak of the same process.
type PID = instrument.PID

// Config configures a [Node]. Zero fields take the defaults listed.
type Config struct {
	// ProcessTable is the process table the node reports to; nil creates
	// one. Several nodes (and adapters) may share a table.
	ProcessTable *instrument.ProcessTable
	// Logger receives crash reports and supervisor reports, one line
	// each, repeated identical lines rate-limited; nil uses
	// slog.Default().
	Logger *slog.Logger
	// StopTimeout bounds how long Stop waits for processes outside any
	// supervisor; 0 means 5 s.
	StopTimeout time.Duration
}

// Node is one runtime: a process table and a name space. Processes live on
// a node; Stop stops them all. Every method is safe for concurrent use.
//
// Its fields are grouped by who writes them, with a cache line between
// the groups: every process reads the first group as it starts and
// exits; each spawn and each exit counts itself in wg; spawns lock mu
// for reading. A supervisor restarting a child spawns on one core while
// the last incarnation exits on another.
type Node struct {
	table  *instrument.ProcessTable
	logger *slog.Logger
	stopTO time.Duration
	wd     *watchdog
	// slotPools holds a *slotPool[R] per reply type R.
	slotPools sync.Map
	// chanPools holds a *sync.Pool of mailbox channels per envelope type
	// (see chanPoolFor).
	chanPools sync.Map
	// tables holds the named owned tables: name → *Table[K, V].
	tables sync.Map
	// names maps registered names to processes: read without a lock
	// (Whereis, Named refs), written under mu at spawn and without it at
	// exit (a CompareAndDelete of the process's own entry).
	names sync.Map
	// stopped is set, under mu, when Stop begins; read without it.
	stopped atomic.Bool
	_       [64]byte

	wg sync.WaitGroup
	_  [64]byte

	mu    sync.RWMutex
	roots []*process // processes without a parent, in start order
	limit logLimiter
}

// NewNode returns a running node.
func NewNode(cfg Config) *Node {
	n := &Node{
		table:  cfg.ProcessTable,
		logger: cfg.Logger,
		stopTO: cfg.StopTimeout,
	}
	if n.table == nil {
		n.table = instrument.NewProcessTable()
	}
	if n.logger == nil {
		n.logger = slog.Default()
	}
	if n.stopTO <= 0 {
		n.stopTO = 5 * time.Second
	}
	n.wd = newWatchdog()
	return n
}

// ProcessTable returns the process table the node reports to: the
// record of every live process that the observer reads (not an owned
// [Table], which holds a process's data).
func (n *Node) ProcessTable() *instrument.ProcessTable { return n.table }

// Stop stops every process: top-level processes in reverse start order
// (supervisors stop their trees in order), each within the node's
// StopTimeout, then anything left. It returns an error wrapping
// [ErrUnresponsive] when processes did not return: they were detached (see
// [UnresponsiveError]) and stay in the table marked unresponsive until
// their goroutines return. Stop returns within the shutdown timeouts it
// waits for, whatever the processes do meanwhile: a stopping supervisor
// restarts nothing. Stop is idempotent.
func (n *Node) Stop() error {
	n.mu.Lock()
	n.stopped.Store(true)
	roots := append([]*process(nil), n.roots...)
	n.mu.Unlock()

	stuck := 0
	for i := len(roots) - 1; i >= 0; i-- {
		// A supervisor bounds its children's shutdown itself.
		timeout := n.stopTO
		if roots[i].proc.Kind().IsSupervisor() {
			timeout = Infinity
		}
		if !roots[i].shutdown(ErrShutdown, timeout) {
			stuck++
		}
	}
	// Processes started under a plain process, or whose parent is stuck.
	var rest []*process
	n.table.Range(func(pr *instrument.Proc) bool {
		if p := n.owned(pr); p != nil {
			rest = append(rest, p)
		}
		return true
	})
	for _, p := range rest {
		p.requestStop(ErrShutdown)
	}
	// They stop together: one StopTimeout for all of them.
	deadline := time.Now().Add(n.stopTO)
	for _, p := range rest {
		if p.proc.Status() == instrument.StatusUnresponsive {
			stuck++ // detached already: a ghost whose goroutine has not returned
			continue
		}
		if !p.awaitExit(max(time.Until(deadline), 0)) && p.detach(n.stopTO) {
			stuck++
		}
	}
	n.wd.stop()
	n.flushLog()
	if stuck > 0 {
		return fmt.Errorf("stop node: %d %w", stuck, ErrUnresponsive)
	}
	n.wg.Wait()
	return nil
}

// isStopped reports whether Stop was called.
func (n *Node) isStopped() bool { return n.stopped.Load() }

// owned returns the process of this node behind a table record, or nil:
// the table may be shared with other nodes and runtimes.
func (n *Node) owned(pr *instrument.Proc) *process {
	if pr == nil {
		return nil
	}
	if p, ok := pr.Owner().(*process); ok && p.node == n {
		return p
	}
	return nil
}

// lookup returns the live process with the ID, or nil.
func (n *Node) lookup(pid PID) *process { return n.owned(n.table.Lookup(pid)) }

// whereis returns the process registered under name, or nil.
func (n *Node) whereis(name string) *process {
	p, _ := n.names.Load(name)
	q, _ := p.(*process)
	return q
}

// Whereis returns the PID registered under name.
func (n *Node) Whereis(name string) (PID, bool) {
	if p := n.whereis(name); p != nil {
		return p.id, true
	}
	return 0, false
}

// unregister removes p from the node when it exits: the name it
// registered at spawn (name, if any; see regName), without
// the node's lock (a crash storm exits thousands of processes a second,
// and every Whereis would queue behind them), and, for a root, its place
// in the roots under the lock.
func (n *Node) unregister(p *process, name string) {
	if name != "" {
		n.names.CompareAndDelete(name, p)
	}
	if p.parent != 0 {
		return
	}
	n.mu.Lock()
	for i, q := range n.roots {
		if q == p {
			n.roots = append(n.roots[:i], n.roots[i+1:]...)
			break
		}
	}
	n.mu.Unlock()
}
