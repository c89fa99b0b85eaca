package otp

import (
	"sync"
	"time"

	"github.com/go-observer/observer/instrument"
)

// Option configures a process at start.
type Option func(*spawnOptions)

type spawnOptions struct {
	name     string
	parent   PID
	link     PID
	trap     bool
	childID  string
	restarts uint32
	kind     instrument.Kind
	kindSet  bool
	// childLink: the link to the parent is recorded on the child's side
	// only (children of dynamic supervisors; see childLink).
	hibAfter  time.Duration
	hibSet    bool
	childLink bool
	link2     PID // a second link: an async task's caller
	via       []viaKey
	// spawned, when set, receives the process once it is registered: a
	// supervisor learns its child without looking its PID up.
	spawned **process
	// linkProc, when set, is the process behind link: a supervisor
	// linking its child spares a lookup.
	linkProc *process
	// started, when set, is the spawn time (an instrument.Now
	// timestamp): a supervisor restarting a child has just read it.
	started int64
}

type viaKey struct {
	reg *Registry
	key string
}

// Via registers the process under key in r before it runs, as OTP's
// {via, Registry, Key} names do: start fails with an error wrapping
// [ErrAlreadyRegistered] when another live process holds the key, and the
// key is freed when the process exits. [ViaRef] addresses a server by it.
// With r's keys [Duplicate], the process joins the others under key.
func Via(r *Registry, key string) Option {
	return func(o *spawnOptions) { o.via = append(o.via, viaKey{r, key}) }
}

// Name registers the process under a unique name, usable with [Whereis] and
// [Named] wherever its PID is. The name is freed when the process exits.
func Name(name string) Option { return func(o *spawnOptions) { o.name = name } }

// Parent records pid as the process's parent in the supervision tree.
// Supervisors set it; spawning from a process, pass [Self].
func Parent(pid PID) Option { return func(o *spawnOptions) { o.parent = pid } }

// LinkTo links the new process to pid before it runs, like spawn_link: if
// either exits abnormally the other gets the exit signal. A dead pid sends
// the new process an exit signal with reason [ErrNoProc].
func LinkTo(pid PID) Option { return func(o *spawnOptions) { o.link = pid } }

// Trap makes the process trap exits from the start: exit signals from
// linked processes arrive as [Exit] messages instead of killing it.
func Trap() Option { return func(o *spawnOptions) { o.trap = true } }

// AsKind reports the process as another kind to the observer, for runtimes
// built on servers (agents, table owners, tasks).
func AsKind(k instrument.Kind) Option {
	return func(o *spawnOptions) { o.kind, o.kindSet = k, true }
}

// HibernateAfter makes a server hibernate once it has been idle for d (0:
// as soon as its mailbox is empty), as OTP's hibernate_after: its
// goroutine returns and its mailbox gives back its channel, so an idle
// server holds no goroutine, no stack and no channel, only its state,
// record and mailbox fields. The next message, system message or stop
// request starts a new goroutine for it, which carries the same pprof
// labels; it takes a channel another hibernated server gave back. Waking
// costs a goroutine start: a call to a hibernated server takes about
// 0.5 µs and 128 B more than to an awake one, and a message to a server
// that may hibernate but is awake pays two atomic adds more
// (BenchmarkHibernatedCall). Use it for the many servers that sit idle.
// Other processes ignore it.
func HibernateAfter(d time.Duration) Option {
	return func(o *spawnOptions) { o.hibAfter, o.hibSet = max(d, 0), true }
}

// withOpts returns a spec's own options followed by those its supervisor
// adds, copying only when there are both (a restart pays for no copy of a
// spec that has none).
func withOpts(own, sup []Option) []Option {
	if len(own) == 0 {
		return sup
	}
	return append(append([]Option(nil), own...), sup...)
}

// optionPool holds spawn options between spawns: they escape to the heap
// (every Option is a function given their address), and a restart should
// not pay an allocation for them.
var optionPool = sync.Pool{New: func() any { return new(spawnOptions) }}

// collect applies opts to spawn options taken from a pool. The caller
// gives them back with free once spawn has read them, and keeps nothing
// of them.
func collect(opts []Option) *spawnOptions {
	o := optionPool.Get().(*spawnOptions)
	for _, f := range opts {
		f(o)
	}
	return o
}

// free resets o and puts it back in the pool.
func (o *spawnOptions) free() {
	*o = spawnOptions{}
	optionPool.Put(o)
}
