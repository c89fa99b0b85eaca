package otp

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/go-observer/observer/instrument"
)

// behaviour is what a kind of process runs on its goroutine.
type behaviour interface {
	// run is the process body; it returns the exit reason.
	run(p *process) error
	// closeMailbox refuses further messages and fails queued calls with
	// the exit reason. It runs on the process goroutine, after run.
	closeMailbox(reason error)
	// wakeup wakes the process if it waits for something to do.
	wakeup()
}

// process is what every kind of process shares: identity, the system queue
// (exit signals, monitors' down messages, plain sends), links and monitors.
// A *process is also the context.Context its handlers receive.
type process struct {
	node   *Node
	proc   *instrument.Proc
	id     PID
	parent PID
	// labels are the pprof labels the process context carries, made by
	// the process's goroutine when it starts (see live), unless the
	// process keeps them in place (set at spawn); a hibernated server
	// drops them (see server.idle).
	labels atomic.Pointer[instrument.ProcLabels]
	impl   behaviour
	wake   atomic.Pointer[chan struct{}] // cap 1, made by wakeChan: a system message or a stop request; servers wake through their mailbox

	stopping atomic.Bool    // a stop was requested; checked between messages
	hasSys   atomic.Bool    // the system queue is not empty
	quit     unsafe.Pointer // a chan struct{}, closed on a stop request (see Done); nil until used

	mu       sync.Mutex
	extra    *procExtra // nil until first used
	trap     bool
	exiting  bool
	released bool // exited, or detached: done is (or would be) closed
	detached bool // gave up as unresponsive; its goroutine has not returned
	// childLinked: linked to its parent on its own side only (see
	// childLink); the parent has nothing to unlink when it exits.
	childLinked bool
	links       []*process
	link0       [1]*process // links' first backing array
}

// procExtra is what many processes never use, kept out of line: a
// million idle servers then fit a smaller size class, and a process a
// supervisor restarts in a crash loop is a smaller allocation. Guarded by
// the process's mu, but for name: written once, at spawn, before the
// process can be found.
type procExtra struct {
	sys        []sysMsg      // the system queue
	monitors   []monitor     // who monitors this process
	done       chan struct{} // see exited; made when first waited on
	name       string        // the name registered at spawn, if any
	stopReason error         // why a stop was requested, once it was
}

// more returns p's extra state, made on first use; mu is held.
func (p *process) more() *procExtra {
	if p.extra == nil {
		p.extra = new(procExtra)
	}
	return p.extra
}

// takeMonitors removes and returns p's monitors; mu is held.
func (p *process) takeMonitors() []monitor {
	if p.extra == nil {
		return nil
	}
	mons := p.extra.monitors
	p.extra.monitors = nil
	return mons
}

// monitor is one watcher of a process: a process that gets a Down
// message, or a hook run by the exiting process (registries, groups and
// tables clean up this way, before the exit is announced).
type monitor struct {
	ref     MonitorRef
	watcher *process
	hook    func(pid PID, reason error)
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// spawn registers p on the node and starts its goroutine.
//
// o is read, not kept: the caller frees it after.
func (n *Node) spawn(p *process, o *spawnOptions, info instrument.Info) error {
	p.node = n
	p.parent = o.parent
	p.trap = o.trap
	info.Parent = o.parent
	info.Restarts = o.restarts
	info.Started = o.started
	if o.kindSet {
		info.Kind = o.kind
	}
	if info.Name = o.name; info.Name == "" {
		info.Name = o.childID
	}

	// The lock orders spawns before Stop. Names and roots are written
	// under it; a process with neither, a supervisor's child among them,
	// needs it only shared.
	exclusive := o.name != "" || p.parent == 0
	if exclusive {
		n.mu.Lock()
	} else {
		n.mu.RLock()
	}
	if n.stopped.Load() {
		n.unlockSpawn(exclusive)
		return errNodeStopped
	}
	if o.name != "" {
		if q := n.whereis(o.name); q != nil {
			n.mu.Unlock()
			return &nameTakenError{o.name, q.id}
		}
		p.more().name = o.name // before p is in the table or the names
	}
	info.Owner, info.Actions = p, p
	if a, ok := p.impl.(interface{ actions() instrument.Actions }); ok {
		info.Actions = a.actions()
	}
	p.proc = n.table.Spawn(info)
	p.id = p.proc.ID()
	if o.name != "" {
		n.names.Store(o.name, p)
	}
	if p.parent == 0 {
		n.roots = append(n.roots, p)
	}
	n.wg.Add(1)
	n.unlockSpawn(exclusive)
	if o.name != "" {
		n.table.Register(p.proc, o.name)
	}
	if o.spawned != nil {
		*o.spawned = p
	}
	if l := p.labels.Load(); l != nil {
		l.Set(p.proc) // kept in place by the process (see live)
	}

	if o.link != 0 {
		q := o.linkProc
		if q == nil {
			q = n.lookup(o.link)
		}
		ok := q != nil
		if ok && o.childLink {
			ok = childLink(p, q)
		} else if ok {
			ok = link(p, q)
		}
		if !ok {
			p.exitSignal(o.link, ErrNoProc, false)
		}
	}
	if o.link2 != 0 {
		if q := n.lookup(o.link2); q == nil || !link(p, q) {
			p.exitSignal(o.link2, ErrNoProc, false)
		}
	}
	for _, v := range o.via {
		if err := v.reg.claim(p, v.key, nil); err != nil {
			// As OTP does when a via name is taken: the process exits
			// normally before running, and the start fails.
			p.exit(nil)
			return err
		}
	}
	go p.main()
	return nil
}

func (n *Node) unlockSpawn(exclusive bool) {
	if exclusive {
		n.mu.Unlock()
	} else {
		n.mu.RUnlock()
	}
}

// newRef returns a fresh monitor or hook reference on p.
func (p *process) newRef() MonitorRef { return MonitorRef{id: monitorIDs.Add(1), target: p.id} }

// addHook makes fn run when p exits, before the exit is announced; ref
// (from newRef) removes it. It returns false when p is exiting.
func (p *process) addHook(ref MonitorRef, fn func(pid PID, reason error)) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exiting {
		return false
	}
	e := p.more()
	e.monitors = append(e.monitors, monitor{ref: ref, hook: fn})
	return true
}

// removeHook removes a hook added by addHook.
func (p *process) removeHook(ref MonitorRef) {
	p.mu.Lock()
	if e := p.extra; e != nil {
		e.monitors = removeMonitor(e.monitors, ref)
	}
	p.mu.Unlock()
}

// removeMonitor removes the monitor ref from ms, if it is there.
func removeMonitor(ms []monitor, ref MonitorRef) []monitor {
	for i, m := range ms {
		if m.ref == ref {
			return append(ms[:i], ms[i+1:]...)
		}
	}
	return ms
}

func (p *process) main() { p.live(func() error { return p.impl.run(p) }) }

// resume runs a hibernated server again, on a goroutine started by
// whoever woke it, with the process's pprof labels.
func (p *process) resume() {
	p.live(func() error { return p.impl.(interface{ resume(*process) error }).resume(p) })
}

// live runs body as the process on this goroutine: labelled for pprof, a
// panic recovered as the exit reason, and the process exited afterwards
// unless it hibernated.
func (p *process) live(body func() error) {
	if p.labels.Load() == nil {
		l := new(instrument.ProcLabels)
		l.Set(p.proc)
		p.labels.Store(l)
	}
	pprof.SetGoroutineLabels(p)
	var reason error
	func() {
		defer func() {
			if v := recover(); v != nil {
				reason = instrument.NewPanicError(v)
			}
		}()
		reason = body()
	}()
	if reason != errHibernated {
		p.exit(reason)
	}
}

// exit tears the process down: mailbox, name, table record, then links and
// monitors learn of it. A process detached as unresponsive announced its
// exit then; when its goroutine finally returns, only its mailbox and its
// record are left to clear.
func (p *process) exit(reason error) {
	p.mu.Lock()
	if p.detached {
		p.mu.Unlock()
		p.impl.closeMailbox(reason)
		p.node.table.Exit(p.proc, instrument.Classify(reason), reason)
		p.node.wg.Done()
		return
	}
	p.exiting = true
	links, mons, name := p.links, p.takeMonitors(), p.regName()
	p.links = nil
	p.mu.Unlock()

	p.impl.closeMailbox(reason)
	why := instrument.Classify(reason)
	p.release(reason, name, links, mons, func() {
		if why.Abnormal() {
			p.node.crashReport(p, why, reason)
		}
		p.node.table.Exit(p.proc, why, reason)
	})
	p.node.wg.Done()
}

// release gives up what lets others reach p, for an exit or a detach: its
// registered name (name, if any), the exit hooks (registry keys, group
// memberships, owned tables), then, after report has told the table, its
// links and monitors learn of the exit, and waiters on done are let go.
func (p *process) release(reason error, name string, links []*process, mons []monitor, report func()) {
	n := p.node
	n.unregister(p, name)
	for _, m := range mons {
		if m.hook != nil {
			m.hook(p.id, reason)
		}
	}
	report()
	for _, q := range links {
		if !p.childLinked || q.id != p.parent {
			q.mu.Lock()
			q.links = removeProc(q.links, p)
			q.mu.Unlock()
			n.table.Unlink(q.proc, p.id, nil)
		}
		q.exitSignal(p.id, reason, false)
	}
	for _, m := range mons {
		if m.hook != nil {
			continue
		}
		n.table.Demonitor(m.watcher.proc, p.id)
		m.watcher.deliver(Down{Ref: m.ref, PID: p.id, Reason: reason})
	}
	p.mu.Lock()
	p.released = true
	var done chan struct{}
	if p.extra != nil {
		done = p.extra.done
	}
	p.mu.Unlock()
	if done != nil {
		close(done)
	}
}

// exited returns a channel closed once the process has exited (or was
// detached) and its peers were told. It is made on first use: most
// processes are never waited for, and a restart is cheaper without it.
func (p *process) exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.more()
	if e.done == nil {
		if p.released {
			return closedChan
		}
		e.done = make(chan struct{})
	}
	return e.done
}

// quitChan returns the channel Done returns, nil until it is made. A
// channel is one pointer, kept as unsafe.Pointer so that Done loads it
// atomically, as the mailbox's channel (see mailbox.channel).
func (p *process) quitChan() chan struct{} {
	q := atomic.LoadPointer(&p.quit)
	return *(*chan struct{})(unsafe.Pointer(&q))
}

// setQuit sets the channel Done returns; mu is held.
func (p *process) setQuit(c chan struct{}) {
	atomic.StorePointer(&p.quit, *(*unsafe.Pointer)(unsafe.Pointer(&c)))
}

// detach gives up a process that did not stop within waited of being
// told to, as OTP's brutal_kill leaves nothing behind: it loses its names,
// registry keys, group memberships, owned tables and mailbox (sends fail
// as to a dead process, queued calls fail), and its links and monitors
// hear of its exit now, with a reason wrapping [ErrKilled] and
// [ErrUnresponsive]. Go cannot stop its goroutine: the record stays in the
// table as unresponsive until the goroutine returns (see exit). It reports
// false when the process exited meanwhile.
func (p *process) detach(waited time.Duration) bool {
	reason := &UnresponsiveError{PID: p.id, Waited: waited}
	p.mu.Lock()
	if p.exiting {
		p.mu.Unlock()
		return false
	}
	p.exiting, p.detached = true, true
	links, mons, name := p.links, p.takeMonitors(), p.regName()
	p.links = nil
	p.mu.Unlock()

	if d, ok := p.impl.(interface{ detachMailbox(error) }); ok {
		d.detachMailbox(reason)
	}
	p.release(reason, name, links, mons, func() {
		p.node.table.Unresponsive(p.proc, waited)
		p.node.logUnresponsive(p, waited)
	})
	return true
}

// crashReport logs a crash: one line, the stack in an attribute.
func (n *Node) crashReport(p *process, why instrument.Reason, reason error) {
	if n.logs(slog.LevelError) {
		n.crashLine(p, why, reason)
	}
}

// crashLine is crashReport's line: its frame is large, so a process that
// exits without logging does not grow its stack for it.
//
//go:noinline
func (n *Node) crashLine(p *process, why instrument.Reason, reason error) {
	attrs := []slog.Attr{slog.String("pid", p.id.String()), slog.String("name", p.proc.Name()),
		slog.String("kind", p.proc.Kind().String()), slog.String("reason", why.String()), slog.String("error", reason.Error())}
	if p.parent != 0 {
		attrs = append(attrs, slog.String("supervisor", p.parent.String()))
	}
	if r := p.proc.Restarts(); r > 0 {
		attrs = append(attrs, slog.Uint64("restarts", uint64(r)))
	}
	if pe, ok := reason.(*PanicError); ok {
		attrs = append(attrs, slog.String("stack", string(pe.Stack)))
	}
	n.log(slog.LevelError, "process crashed", p.proc.Name(), reason.Error(), attrs...)
}

// logUnresponsive logs that p was detached.
func (n *Node) logUnresponsive(p *process, waited time.Duration) {
	n.log(slog.LevelError, "process did not stop in time: detached", p.proc.Name(), "",
		slog.String("pid", p.id.String()), slog.String("name", p.proc.Name()),
		slog.String("kind", p.proc.Kind().String()), slog.Duration("waited", waited))
}

// exitSignal delivers an exit signal from a linked (or signalling) process.
// A trapping process gets it as an [Exit] message; otherwise any reason but
// normal stops the process with that reason. kill cannot be trapped.
func (p *process) exitSignal(from PID, reason error, kill bool) {
	if kill {
		p.requestStop(ErrKilled)
		return
	}
	p.mu.Lock()
	if p.exiting {
		p.mu.Unlock()
		return
	}
	if p.trap {
		e := p.more()
		e.sys = append(e.sys, sysMsg{msg: exitTag{}, from: from, reason: reason})
		p.hasSys.Store(true)
		p.mu.Unlock()
		p.poke()
		return
	}
	p.mu.Unlock()
	if reason != nil {
		p.requestStop(reason)
	}
}

// requestStop asks the process to stop with reason (the first reason
// wins). Servers stop between messages; other processes see their context
// cancelled.
func (p *process) requestStop(reason error) {
	if reason == nil {
		reason = ErrShutdown
	}
	p.mu.Lock()
	if p.stopping.Load() || p.exiting {
		p.mu.Unlock()
		return
	}
	p.more().stopReason = reason
	p.stopping.Store(true)
	if q := p.quitChan(); q != nil {
		close(q)
	} else {
		p.setQuit(closedChan)
	}
	p.mu.Unlock()
	p.proc.SetStatus(instrument.StatusStopping)
	p.poke()
}

// stopCause returns the reason a stop was requested for, or nil.
func (p *process) stopCause() error {
	if !p.stopping.Load() {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.extra.stopReason
}

// regName returns the name p registered at spawn, or ""; mu is held.
func (p *process) regName() string {
	if p.extra == nil {
		return ""
	}
	return p.extra.name
}

// shutdown stops the process and waits up to timeout (negative: forever)
// for it to exit. A process that does not return is detached as
// unresponsive. It reports whether the process exited.
func (p *process) shutdown(reason error, timeout time.Duration) bool {
	p.requestStop(reason)
	if p.awaitExit(timeout) {
		return true
	}
	return !p.detach(timeout)
}

func (p *process) awaitExit(timeout time.Duration) bool {
	done := p.exited()
	if timeout < 0 {
		<-done
		return true
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// Kill stops the process untrappably, with reason killed. It implements
// instrument.Actions for dashboards.
func (p *process) Kill() error {
	p.requestStop(ErrKilled)
	return nil
}

// Restart has the process's supervisor stop it and start it again (see
// [RestartChild]): a dashboard's restart action. It fails with an error
// wrapping [ErrWrongType] when the parent is not a supervisor.
func (p *process) Restart() error {
	if p.parent == 0 {
		return fmt.Errorf("restart %v: %w", p.id, ErrNotChild)
	}
	_, err := RestartChild(p.node, p.parent, p.id)
	return err
}

// sysMsg is one entry of the system queue: an exit signal, kept unboxed
// (a supervisor in a restart storm queues one per failure), or any other
// message.
type sysMsg struct {
	msg    any   // the message; exitTag{} for an exit signal
	from   PID   // an exit signal's sender
	reason error // an exit signal's reason
}

// exitTag marks an exit signal in the system queue; boxing it allocates
// nothing.
type exitTag struct{}

// exit returns the entry as an Exit message, if it is one.
func (m *sysMsg) exit() (Exit, bool) {
	if _, ok := m.msg.(exitTag); ok {
		return Exit{From: m.from, Reason: m.reason}, true
	}
	return Exit{}, false
}

// value returns the entry as the message its receiver sees.
func (m *sysMsg) value() any {
	if x, ok := m.exit(); ok {
		return x
	}
	return m.msg
}

// deliver appends a message to the system queue.
func (p *process) deliver(msg any) bool {
	p.mu.Lock()
	if p.exiting {
		p.mu.Unlock()
		return false
	}
	e := p.more()
	e.sys = append(e.sys, sysMsg{msg: msg})
	p.hasSys.Store(true)
	p.mu.Unlock()
	p.poke()
	return true
}

// giveBack hands a batch that takeSys returned, now handled, back for the
// next messages to reuse: a supervisor in a crash storm then queues its
// children's exits without growing a new slice for each.
func (p *process) giveBack(msgs []sysMsg) {
	clear(msgs)
	p.mu.Lock()
	if e := p.more(); e.sys == nil {
		e.sys = msgs[:0]
	}
	p.mu.Unlock()
}

// takeSys removes and returns the queued system messages.
func (p *process) takeSys() []sysMsg {
	if !p.hasSys.Load() {
		return nil
	}
	p.mu.Lock()
	var msgs []sysMsg
	if e := p.extra; e != nil {
		msgs, e.sys = e.sys, nil
	}
	p.hasSys.Store(false)
	p.mu.Unlock()
	return msgs
}

func (p *process) poke() { p.impl.wakeup() }

// wakeup implements behaviour.wakeup for processes without a mailbox. A
// process that never waited has no channel yet: it finds its messages and
// its stop request before it first waits (see wakeChan).
func (p *process) wakeup() {
	if w := p.wake.Load(); w != nil {
		select {
		case *w <- struct{}{}:
		default:
		}
	}
}

// wakeChan returns the channel wakeup signals, made on first use: most
// processes never wait on it, and a restart is cheaper without it. The
// process calls it before it looks for work, then waits on it.
func (p *process) wakeChan() chan struct{} {
	if w := p.wake.Load(); w != nil {
		return *w
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if w := p.wake.Load(); w != nil {
		return *w
	}
	w := make(chan struct{}, 1)
	p.wake.Store(&w)
	return w
}

func removeProc(s []*process, p *process) []*process {
	for i, q := range s {
		if q == p {
			return append(s[:i], s[i+1:]...)
		}
	}
	return s
}

// --- context.Context: a process is the context of its own handlers ---

type selfKey struct{}

// Deadline implements context.Context: a process has none.
func (p *process) Deadline() (time.Time, bool) { return time.Time{}, false }

// Done implements context.Context: closed once the process is told to stop.
func (p *process) Done() <-chan struct{} {
	if q := p.quitChan(); q != nil {
		return q
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	q := p.quitChan()
	if q == nil {
		q = make(chan struct{})
		p.setQuit(q)
	}
	return q
}

// Err implements context.Context.
func (p *process) Err() error {
	if p.stopping.Load() {
		return context.Canceled
	}
	return nil
}

// Value implements context.Context; the process's pprof labels are in it
// while it runs (not while it is hibernated).
func (p *process) Value(key any) any {
	if key == (selfKey{}) {
		return p
	}
	if l := p.labels.Load(); l != nil {
		v, _ := l.Lookup(key)
		return v
	}
	return nil
}

func (p *process) String() string { return "process " + p.id.String() }

// self returns the process whose context ctx is (or derives from), or nil.
func self(ctx context.Context) *process {
	if p, ok := ctx.(*process); ok {
		return p
	}
	if ctx == nil || ctx == background {
		return nil
	}
	p, _ := ctx.Value(selfKey{}).(*process)
	return p
}

// background spares callers outside any process a context lookup.
var background = context.Background()

// Self returns the PID of the process whose context ctx is, or 0 when ctx
// does not come from a process.
func Self(ctx context.Context) PID {
	if p := self(ctx); p != nil {
		return p.id
	}
	return 0
}
