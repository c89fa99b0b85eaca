package otp

import (
	"cmp"
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-observer/observer/instrument"
)

// Keys says whether a registry key names one process or many.
type Keys uint8

// Registry key kinds.
const (
	// Unique keys name one process each: a name that works wherever a
	// PID does ([Registry.Whereis], [ViaRef], [Via]).
	Unique Keys = iota
	// Duplicate keys gather any number of processes: publish to them all
	// with [Registry.Send] or [Registry.Dispatch] (pub/sub).
	Duplicate
)

// String returns unique or duplicate.
func (k Keys) String() string {
	if k == Duplicate {
		return "duplicate"
	}
	return "unique"
}

// registryShards is how many independently locked partitions a registry
// spreads its keys over, so that registrations of different keys do not
// contend.
const registryShards = 32

// Registry maps string keys to live processes of one node, like Elixir's
// Registry. A process registers itself ([Registry.Register]) or is
// registered at start ([Via]); its entries vanish when it exits, before
// its exit is announced to the observer. Each entry carries a value of the
// registrant's choosing. Keys are spread over partitions with their own
// locks, so concurrent registrations scale. All methods are safe for
// concurrent use; the zero Registry is not usable, call [NewRegistry].
//
// Registrations are reported to the node's table as [instrument.Registered]
// and [instrument.Unregistered] events carrying the registry's name.
type Registry struct {
	n     *Node
	name  string
	keys  Keys
	seed  maphash.Seed
	parts [registryShards]regShard

	nkeys, nentries atomic.Int64 // for the observer
}

var _ instrument.RegistryReporter = (*Registry)(nil)

type regShard struct {
	mu sync.RWMutex
	m  map[string][]regEntry
	_  [32]byte
}

type regEntry struct {
	p     *process
	value any
	ref   MonitorRef // the exit hook that removes the entry
}

// Entry is one registration: a process and the value it registered with.
type Entry struct {
	PID   PID
	Value any
}

// NewRegistry returns an empty registry of processes on n. name shows in
// events and the observer.
func NewRegistry(n *Node, name string, keys Keys) *Registry {
	r := &Registry{n: n, name: name, keys: keys, seed: maphash.MakeSeed()}
	for i := range r.parts {
		r.parts[i].m = make(map[string][]regEntry)
	}
	n.table.AddRegistry(r)
	return r
}

// RegistryStats implements [instrument.RegistryReporter].
func (r *Registry) RegistryStats() instrument.RegistryStats {
	return instrument.RegistryStats{Name: r.name, Kind: r.keys.String(),
		Keys: int(r.nkeys.Load()), Entries: int(r.nentries.Load())}
}

// RegistryEntries implements [instrument.RegistryReporter]: up to limit
// entries, sorted by key then PID.
func (r *Registry) RegistryEntries(limit int) []instrument.RegistryEntry {
	var out []instrument.RegistryEntry
	for i := range r.parts {
		sh := &r.parts[i]
		sh.mu.RLock()
		for k, es := range sh.m {
			for _, e := range es {
				out = append(out, instrument.RegistryEntry{Key: k, PID: e.p.id})
			}
		}
		sh.mu.RUnlock()
	}
	return sortEntries(out, limit)
}

func sortEntries(out []instrument.RegistryEntry, limit int) []instrument.RegistryEntry {
	slices.SortFunc(out, func(a, b instrument.RegistryEntry) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return cmp.Compare(a.PID, b.PID)
	})
	if limit >= 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// Name returns the registry's name.
func (r *Registry) Name() string { return r.name }

// Keys returns whether keys are unique or duplicate.
func (r *Registry) Keys() Keys { return r.keys }

func (r *Registry) shard(key string) *regShard {
	return &r.parts[maphash.String(r.seed, key)%registryShards]
}

// Register registers the calling process (ctx's) under key with value.
// With unique keys, the error wraps [ErrAlreadyRegistered] when a live
// process holds key (the caller included). It wraps [ErrNotProcess] when
// ctx is not a process's on the registry's node.
func (r *Registry) Register(ctx context.Context, key string, value any) error {
	p := self(ctx)
	if p == nil || p.node != r.n {
		return fmt.Errorf("registry %s: register %q: %w", r.name, key, ErrNotProcess)
	}
	return r.claim(p, key, value)
}

func (r *Registry) claim(p *process, key string, value any) error {
	sh := r.shard(key)
	sh.mu.Lock()
	if r.keys == Unique {
		if es := sh.m[key]; len(es) > 0 {
			sh.mu.Unlock()
			return fmt.Errorf("registry %s: %w", r.name, &nameTakenError{key, es[0].p.id})
		}
	}
	ref := p.newRef()
	if !p.addHook(ref, func(PID, error) { r.drop(key, p, ref) }) {
		sh.mu.Unlock()
		return fmt.Errorf("registry %s: register %q: %w", r.name, key, errNoProcFor(p.id))
	}
	if len(sh.m[key]) == 0 {
		r.nkeys.Add(1)
	}
	sh.m[key] = append(sh.m[key], regEntry{p: p, value: value, ref: ref})
	r.nentries.Add(1)
	sh.mu.Unlock()
	r.n.table.RegisterKey(p.proc, r.name, key)
	return nil
}

// drop removes the entry made with ref (at exit, or on Unregister).
func (r *Registry) drop(key string, p *process, ref MonitorRef) {
	sh := r.shard(key)
	sh.mu.Lock()
	es := sh.m[key]
	found := false
	for i, e := range es {
		if e.ref == ref {
			es = append(es[:i], es[i+1:]...)
			found = true
			break
		}
	}
	if !found {
		sh.mu.Unlock()
		return
	}
	r.nentries.Add(-1)
	if len(es) == 0 {
		delete(sh.m, key)
		r.nkeys.Add(-1)
	} else {
		sh.m[key] = es
	}
	sh.mu.Unlock()
	r.n.table.UnregisterKey(p.id, r.name, key)
}

// Unregister removes the calling process's entries under key.
func (r *Registry) Unregister(ctx context.Context, key string) error {
	p := self(ctx)
	if p == nil || p.node != r.n {
		return fmt.Errorf("registry %s: unregister %q: %w", r.name, key, ErrNotProcess)
	}
	sh := r.shard(key)
	sh.mu.RLock()
	var refs []MonitorRef
	for _, e := range sh.m[key] {
		if e.p == p {
			refs = append(refs, e.ref)
		}
	}
	sh.mu.RUnlock()
	for _, ref := range refs {
		p.removeHook(ref)
		r.drop(key, p, ref)
	}
	return nil
}

// Lookup returns the entries under key, in registration order.
func (r *Registry) Lookup(key string) []Entry {
	sh := r.shard(key)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	es := sh.m[key]
	if len(es) == 0 {
		return nil
	}
	out := make([]Entry, len(es))
	for i, e := range es {
		out[i] = Entry{PID: e.p.id, Value: e.value}
	}
	return out
}

// Whereis returns the process registered under key (the first one, with
// duplicate keys). The PID works with every function that takes one.
func (r *Registry) Whereis(key string) (PID, bool) {
	if p := r.first(key); p != nil {
		return p.id, true
	}
	return 0, false
}

func (r *Registry) first(key string) *process {
	sh := r.shard(key)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if es := sh.m[key]; len(es) > 0 {
		return es[0].p
	}
	return nil
}

// Dispatch calls fn for each entry under key, outside the registry's
// locks: fn may register and send.
func (r *Registry) Dispatch(key string, fn func(Entry)) {
	for _, e := range r.Lookup(key) {
		fn(e)
	}
}

// Send sends msg ([Node.Send]) to every process under key and returns how
// many it reached: publish to the subscribers of a duplicate key.
func (r *Registry) Send(key string, msg any) int {
	sent := 0
	r.Dispatch(key, func(e Entry) {
		if r.n.Send(e.PID, msg) == nil {
			sent++
		}
	})
	return sent
}

// KeysOf returns the keys pid is registered under. It scans the whole
// registry: meant for debugging, not hot paths.
func (r *Registry) KeysOf(pid PID) []string {
	var keys []string
	for i := range r.parts {
		sh := &r.parts[i]
		sh.mu.RLock()
		for k, es := range sh.m {
			for _, e := range es {
				if e.p.id == pid {
					keys = append(keys, k)
					break
				}
			}
		}
		sh.mu.RUnlock()
	}
	return keys
}

// Count returns the number of entries.
func (r *Registry) Count() int {
	n := 0
	for i := range r.parts {
		sh := &r.parts[i]
		sh.mu.RLock()
		for _, es := range sh.m {
			n += len(es)
		}
		sh.mu.RUnlock()
	}
	return n
}
