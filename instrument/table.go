package instrument

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

const shards = 64

// ProcessTable is the set of live processes of one runtime (or of several: any
// number of runtimes may share a table). Every method is safe for concurrent
// use. The zero ProcessTable is not usable; call [NewProcessTable].
//
// Its layout keeps apart, each on its own cache line, what one goroutine
// writes and another reads at once (a supervisor spawns a child while the
// last one exits): the next PID, which counts spawns and only [Spawn]
// writes; the exit counts, which only [Exit] writes; what both read; and
// each shard. The table is larger than 1 KB, and the allocator places
// such objects at multiples of 64 bytes.
type ProcessTable struct {
	nextID atomic.Uint64 // the last PID given: the processes ever spawned
	_      [56]byte

	exited       atomic.Uint64
	unresponsive atomic.Int64
	_            [48]byte

	subs       atomic.Pointer[[]*Subscription]
	subMu      sync.RWMutex // held for reading while emitting
	tablesMu   sync.Mutex
	tables     map[TableReporter]struct{}
	registries []RegistryReporter
	_          [64 - (8+24+8+8+24)%64]byte

	shard [shards]struct {
		mu    sync.RWMutex
		procs map[PID]*Proc
		_     [32]byte
	}
}

// NewProcessTable returns an empty table.
func NewProcessTable() *ProcessTable {
	t := &ProcessTable{}
	for i := range t.shard {
		t.shard[i].procs = make(map[PID]*Proc)
	}
	return t
}

// Spawn registers a new process and emits [Spawned]. The caller owns the
// returned record and must eventually pass it to [ProcessTable.Exit].
func (t *ProcessTable) Spawn(info Info) *Proc {
	p := &Proc{
		id:        PID(t.nextID.Add(1)),
		parent:    info.Parent,
		kind:      info.Kind,
		started:   info.Started,
		behaviour: info.Behaviour,
		sup:       info.Supervisor,
		owner:     info.Owner,
	}
	if info.Actions != nil {
		p.box.a = info.Actions
		p.actions.Store(&p.box)
	}
	if p.started == 0 {
		p.started = Now()
	}
	if info.Name != "" {
		p.name0 = info.Name
		p.name.Store(&p.name0)
	}
	p.restarts.Store(info.Restarts)
	s := &t.shard[p.id%shards]
	s.mu.Lock()
	s.procs[p.id] = p
	s.mu.Unlock()
	if t.listened() {
		t.emit(Spawned{At: time.Now(), PID: p.id, Parent: p.parent, Name: info.Name, ProcKind: p.kind})
	}
	return p
}

// Exit removes a process that returned and emits [Exited]. err is the exit
// error (nil for normal); reason classifies it. Exit is idempotent.
func (t *ProcessTable) Exit(p *Proc, reason Reason, err error) {
	old := Status(p.status.Swap(uint32(StatusExited)))
	if old == StatusExited {
		return
	}
	s := &t.shard[p.id%shards]
	s.mu.Lock()
	delete(s.procs, p.id)
	s.mu.Unlock()
	if old == StatusUnresponsive {
		t.unresponsive.Add(-1)
	}
	t.exited.Add(1)
	if !t.listened() {
		return
	}
	ev := Exited{At: time.Now(), PID: p.id, Parent: p.parent, Name: p.Name(), ProcKind: p.kind, Reason: reason,
		Late: old == StatusUnresponsive}
	if err != nil {
		ev.Err = err.Error()
		var pe *PanicError
		if errors.As(err, &pe) {
			ev.Stack = string(pe.Stack)
		}
	}
	t.emit(ev)
}

// Unresponsive marks a process that did not return within waited of being
// told to stop, and emits [Unresponsive]. It stays listed until it returns.
func (t *ProcessTable) Unresponsive(p *Proc, waited time.Duration) {
	for {
		old := p.status.Load()
		if Status(old) == StatusExited || Status(old) == StatusUnresponsive {
			return
		}
		if p.status.CompareAndSwap(old, uint32(StatusUnresponsive)) {
			break
		}
	}
	t.unresponsive.Add(1)
	t.emit(Unresponsive{At: time.Now(), PID: p.id, Name: p.Name(), Waited: waited})
}

// Restarted records that supervisor sup replaced a child's old
// incarnation by a new one, and emits e (its At and Supervisor are filled
// in). The supervisor's restart counter counts failures, once each (see
// [Restarted.Failure]), and restarts operators asked for.
func (t *ProcessTable) Restarted(sup *Proc, e Restarted) {
	if e.Cause == 0 || e.Failure() {
		sup.AddRestart()
	}
	if t.listened() {
		e.At, e.Supervisor = time.Now(), sup.id
		t.emit(e)
	}
}

// GaveUp records that supervisor sup passed its restart intensity, and
// emits e (its At, PID, Name and Parent are filled in).
func (t *ProcessTable) GaveUp(sup *Proc, e GaveUp) {
	if t.listened() {
		e.At, e.PID, e.Name, e.Parent = time.Now(), sup.id, sup.Name(), sup.parent
		t.emit(e)
	}
}

// Link records a link between a and b and emits [Linked] if it is new.
func (t *ProcessTable) Link(a, b *Proc) {
	a.mu.Lock()
	added := addPID(&a.links, b.id)
	a.mu.Unlock()
	b.mu.Lock()
	addPID(&b.links, a.id)
	b.mu.Unlock()
	if added && t.listened() {
		t.emit(Linked{At: time.Now(), A: a.id, B: b.id})
	}
}

// Unlink removes the link between a and b (either may be nil, gone) and
// emits [Unlinked] if there was one.
func (t *ProcessTable) Unlink(a *Proc, b PID, bp *Proc) {
	removed := false
	if a != nil {
		a.mu.Lock()
		removed = removePID(&a.links, b)
		a.mu.Unlock()
	}
	if bp != nil && a != nil {
		bp.mu.Lock()
		removed = removePID(&bp.links, a.id) || removed
		bp.mu.Unlock()
	}
	if removed && t.listened() {
		t.emit(Unlinked{At: time.Now(), A: a.id, B: b})
	}
}

// Monitor records that watcher monitors target and emits [Monitored].
func (t *ProcessTable) Monitor(watcher *Proc, target PID) {
	watcher.mu.Lock()
	added := addPID(&watcher.monitors, target)
	watcher.mu.Unlock()
	if added && t.listened() {
		t.emit(Monitored{At: time.Now(), Watcher: watcher.id, Target: target})
	}
}

// Demonitor records that watcher no longer monitors target.
func (t *ProcessTable) Demonitor(watcher *Proc, target PID) {
	watcher.mu.Lock()
	removed := removePID(&watcher.monitors, target)
	watcher.mu.Unlock()
	if removed && t.listened() {
		t.emit(Demonitored{At: time.Now(), Watcher: watcher.id, Target: target})
	}
}

// Register records that p took name and emits [Registered].
func (t *ProcessTable) Register(p *Proc, name string) {
	p.name.Store(&name)
	if t.listened() {
		t.emit(Registered{At: time.Now(), PID: p.id, Name: name})
	}
}

// Unregister records that p gave up name and emits [Unregistered].
func (t *ProcessTable) Unregister(p *Proc, name string) {
	if t.listened() {
		t.emit(Unregistered{At: time.Now(), PID: p.id, Name: name})
	}
}

// Lookup returns the live process with the ID, or nil.
func (t *ProcessTable) Lookup(id PID) *Proc {
	s := &t.shard[id%shards]
	s.mu.RLock()
	p := s.procs[id]
	s.mu.RUnlock()
	return p
}

// Range calls f for each live process, in no order, until f returns false.
// Processes spawned or exiting meanwhile may or may not be seen. f must not
// spawn or exit processes of this table.
func (t *ProcessTable) Range(f func(*Proc) bool) {
	for i := range t.shard {
		s := &t.shard[i]
		s.mu.RLock()
		for _, p := range s.procs {
			if !f(p) {
				s.mu.RUnlock()
				return
			}
		}
		s.mu.RUnlock()
	}
}

// Stats are a table's totals.
type Stats struct {
	Live         int64  // processes in the table, unresponsive ones included
	Spawned      uint64 // processes ever spawned
	Exited       uint64 // processes ever exited
	Unresponsive int64  // processes that did not stop when told
	Dropped      uint64 // events dropped by full subscriber buffers, all subscriptions
}

// Stats returns the table's totals.
func (t *ProcessTable) Stats() Stats {
	// Exits first: a process counted as exited was counted as spawned.
	st := Stats{Exited: t.exited.Load(), Unresponsive: t.unresponsive.Load()}
	st.Spawned = t.nextID.Load()
	st.Live = int64(st.Spawned - st.Exited)
	if subs := t.subs.Load(); subs != nil {
		for _, s := range *subs {
			st.Dropped += s.dropped.Load()
		}
	}
	return st
}

// Len returns the number of live processes.
func (t *ProcessTable) Len() int {
	exited := t.exited.Load()
	return int(t.nextID.Load() - exited)
}

// RegisterKey records that p took key in the registry named registry and
// emits [Registered]. Unlike [ProcessTable.Register] it leaves p's name alone: a
// process may hold many keys.
func (t *ProcessTable) RegisterKey(p *Proc, registry, key string) {
	if t.listened() {
		t.emit(Registered{At: time.Now(), PID: p.id, Name: key, Registry: registry})
	}
}

// UnregisterKey records that p gave up key in registry and emits
// [Unregistered].
func (t *ProcessTable) UnregisterKey(p PID, registry, key string) {
	if t.listened() {
		t.emit(Unregistered{At: time.Now(), PID: p, Name: key, Registry: registry})
	}
}

// Join records that p joined group in scope and emits [Joined].
func (t *ProcessTable) Join(p PID, scope, group string) {
	if t.listened() {
		t.emit(Joined{At: time.Now(), PID: p, Group: group, Scope: scope})
	}
}

// Leave records that p left group in scope and emits [Left].
func (t *ProcessTable) Leave(p PID, scope, group string) {
	if t.listened() {
		t.emit(Left{At: time.Now(), PID: p, Group: group, Scope: scope})
	}
}

// TableStats describe a table owned by a process (the ETS pattern: its
// owner writes, anyone reads without passing through the owner).
type TableStats struct {
	Name   string
	Owner  PID
	Size   int    // entries now
	Reads  uint64 // lookups ever made, from any goroutine
	Writes uint64 // inserts and deletes ever made, by the owner
}

// TableReporter is an owned table as a runtime reports it: its stats,
// read at any time from any goroutine.
type TableReporter interface {
	TableStats() TableStats
}

// AddTable records a table owned by a process. The runtime calls
// [ProcessTable.RemoveTable] when the table goes away, with its owner at the
// latest.
func (t *ProcessTable) AddTable(r TableReporter) {
	t.tablesMu.Lock()
	if t.tables == nil {
		t.tables = make(map[TableReporter]struct{})
	}
	t.tables[r] = struct{}{}
	t.tablesMu.Unlock()
}

// RemoveTable forgets a table recorded by [ProcessTable.AddTable].
func (t *ProcessTable) RemoveTable(r TableReporter) {
	t.tablesMu.Lock()
	delete(t.tables, r)
	t.tablesMu.Unlock()
}

// Tables returns the stats of every live owned table, in no order; with a
// non-zero owner, only that process's tables.
func (t *ProcessTable) Tables(owner PID) []TableStats {
	t.tablesMu.Lock()
	rs := make([]TableReporter, 0, len(t.tables))
	for r := range t.tables {
		rs = append(rs, r)
	}
	t.tablesMu.Unlock()
	out := make([]TableStats, 0, len(rs))
	for _, r := range rs {
		if st := r.TableStats(); owner == 0 || st.Owner == owner {
			out = append(out, st)
		}
	}
	return out
}

// Backoff records that supervisor p paused restarting its children
// (resumed false) or started again (resumed true), and emits [Backoff].
func (t *ProcessTable) Backoff(p *Proc, resumed bool) {
	if t.listened() {
		t.emit(Backoff{At: time.Now(), PID: p.id, Name: p.Name(), Resumed: resumed})
	}
}

// RegistryStats describe a registry of process names or a scope of
// process groups.
type RegistryStats struct {
	Name    string
	Kind    string // "unique", "duplicate" (registries) or "groups"
	Keys    int    // keys, or groups, in use
	Entries int    // registrations, or memberships
}

// RegistryEntry is one key held by one process (or one membership).
type RegistryEntry struct {
	Key string
	PID PID
}

// RegistryReporter is a registry or group scope as a runtime reports it.
// Both methods are safe to call at any time from any goroutine.
type RegistryReporter interface {
	RegistryStats() RegistryStats
	// RegistryEntries returns up to limit entries, sorted by key.
	RegistryEntries(limit int) []RegistryEntry
}

// AddRegistry records a registry or group scope for observers to list.
func (t *ProcessTable) AddRegistry(r RegistryReporter) {
	t.tablesMu.Lock()
	t.registries = append(t.registries, r)
	t.tablesMu.Unlock()
}

// Registries returns the registries and group scopes recorded with
// [ProcessTable.AddRegistry], in the order they were added.
func (t *ProcessTable) Registries() []RegistryReporter {
	t.tablesMu.Lock()
	defer t.tablesMu.Unlock()
	return append([]RegistryReporter(nil), t.registries...)
}
