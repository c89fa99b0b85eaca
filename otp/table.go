package otp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/go-observer/observer/instrument"
)

// ErrNotOwner: a table write came from a process other than its owner.
var ErrNotOwner = errors.New("not the table's owner")

// ErrNoTable: the table is gone (its owner exited) or no table has that name.
var ErrNoTable = errors.New("no such table")

// readStripes spreads a table's read counter over cache lines, so that
// readers on different cores do not fight over one.
const readStripes = 16

// Table is a concurrent key/value table owned by a process: the ETS
// pattern. Writes go through the owner — only the owner's goroutine writes,
// so writes are serialised with the rest of the owner's state — while
// reads from any goroutine bypass the owner entirely: a reader never waits
// for the owner, however busy or stuck it is, and reads scale with cores
// (a lookup is a few atomic loads; see docs/BENCHMARKS.md). The table goes
// away with its owner: once the owner exits, lookups find nothing and
// writes fail with [ErrNoTable].
//
// Its size, reads and writes are reported to the node's table
// ([instrument.ProcessTable.Tables]). All methods are safe for concurrent use.
type Table[K comparable, V any] struct {
	name   string
	n      *Node
	owner  *process
	fwd    Ref[tableOp[K, V], struct{}] // set for tables started by StartTable
	m      sync.Map
	size   atomic.Int64
	writes atomic.Uint64
	closed atomic.Bool
	reads  [readStripes]struct {
		n atomic.Uint64
		_ [120]byte // two cache lines: whatever the array's alignment, no two stripes share one
	}
}

// stripe picks a read counter stripe for the calling goroutine from the
// address of its stack: free to compute, the same for a goroutine's reads
// (so its stripe stays in its core's cache), and spread over goroutines,
// whose stacks are apart.
func stripe() uint32 {
	var here byte
	return uint32(uintptr(unsafe.Pointer(&here))>>10) * 0x9E3779B1 >> 28 % readStripes
}

// NewTable creates a table owned by the calling process (ctx's: typically
// a server creating it in Init) and named name on the node ("" for none;
// see [FindTable]). The error wraps [ErrNotProcess] when ctx is not a
// process's, and [ErrAlreadyRegistered] when the name is taken.
func NewTable[K comparable, V any](ctx context.Context, name string) (*Table[K, V], error) {
	p := self(ctx)
	if p == nil {
		return nil, fmt.Errorf("new table %q: %w", name, ErrNotProcess)
	}
	return newTable(p, name, Ref[tableOp[K, V], struct{}]{})
}

func newTable[K comparable, V any](p *process, name string, fwd Ref[tableOp[K, V], struct{}]) (*Table[K, V], error) {
	n := p.node
	t := &Table[K, V]{name: name, n: n, owner: p, fwd: fwd}
	if name != "" {
		if old, loaded := n.tables.LoadOrStore(name, t); loaded {
			return nil, fmt.Errorf("new table %q: %w by %v", name, ErrAlreadyRegistered, old.(instrument.TableReporter).TableStats().Owner)
		}
	}
	if !p.addHook(p.newRef(), func(PID, error) { t.close() }) {
		if name != "" {
			n.tables.CompareAndDelete(name, t)
		}
		return nil, fmt.Errorf("new table %q: %w", name, errNoProcFor(p.id))
	}
	n.table.AddTable(t)
	return t, nil
}

// close drops the table: its owner exited. It runs on the owner's
// goroutine, so no write races with it.
func (t *Table[K, V]) close() {
	t.closed.Store(true)
	if t.name != "" {
		t.n.tables.CompareAndDelete(t.name, t)
	}
	t.n.table.RemoveTable(t)
	t.m.Clear()
	t.size.Store(0)
}

// FindTable returns the live table named name on n. The error wraps
// [ErrNoTable] when there is none, and [ErrWrongType] when its key or value
// type differ.
func FindTable[K comparable, V any](n *Node, name string) (*Table[K, V], error) {
	v, ok := n.tables.Load(name)
	if !ok {
		return nil, fmt.Errorf("table %q: %w", name, ErrNoTable)
	}
	t, ok := v.(*Table[K, V])
	if !ok {
		return nil, fmt.Errorf("table %q: %w", name, ErrWrongType)
	}
	return t, nil
}

// Name returns the table's name.
func (t *Table[K, V]) Name() string { return t.name }

// Owner returns the owner's PID.
func (t *Table[K, V]) Owner() PID { return t.owner.id }

// Closed reports whether the table is gone with its owner.
func (t *Table[K, V]) Closed() bool { return t.closed.Load() }

// Lookup returns the value under k. It never waits for the owner.
func (t *Table[K, V]) Lookup(k K) (V, bool) {
	t.reads[stripe()].n.Add(1)
	v, ok := t.m.Load(k)
	if !ok {
		var zero V
		return zero, false
	}
	return v.(V), true
}

// Len returns the number of entries.
func (t *Table[K, V]) Len() int { return int(t.size.Load()) }

// Range calls f for each entry, in no order, until f returns false. It
// sees a consistent entry for each key but not one instant of the table.
func (t *Table[K, V]) Range(f func(K, V) bool) {
	t.reads[stripe()].n.Add(1)
	t.m.Range(func(k, v any) bool { return f(k.(K), v.(V)) })
}

// Insert sets k to v. It must be called from the owner (ctx is the owner's
// context): the error wraps [ErrNotOwner] otherwise — except on tables
// started by [StartTable], whose owner takes writes from anyone as calls.
func (t *Table[K, V]) Insert(ctx context.Context, k K, v V) error {
	return t.write(ctx, tableOp[K, V]{k: k, v: v})
}

// Delete removes k, under the same rules as Insert.
func (t *Table[K, V]) Delete(ctx context.Context, k K) error {
	return t.write(ctx, tableOp[K, V]{k: k, del: true})
}

func (t *Table[K, V]) write(ctx context.Context, op tableOp[K, V]) error {
	if t.closed.Load() {
		return fmt.Errorf("table %q: %w", t.name, ErrNoTable)
	}
	if self(ctx) != t.owner {
		if t.fwd.s == nil {
			return fmt.Errorf("table %q: write from %v: %w %v", t.name, Self(ctx), ErrNotOwner, t.owner.id)
		}
		_, err := Call(ctx, t.fwd, op)
		return err
	}
	t.apply(op)
	return nil
}

// apply runs on the owner's goroutine.
func (t *Table[K, V]) apply(op tableOp[K, V]) {
	t.writes.Add(1)
	if op.del {
		if _, loaded := t.m.LoadAndDelete(op.k); loaded {
			t.size.Add(-1)
		}
		return
	}
	if _, loaded := t.m.Swap(op.k, op.v); !loaded {
		t.size.Add(1)
	}
}

// TableStats implements [instrument.TableReporter].
func (t *Table[K, V]) TableStats() instrument.TableStats {
	st := instrument.TableStats{Name: t.name, Owner: t.owner.id, Size: t.Len(), Writes: t.writes.Load()}
	for i := range t.reads {
		st.Reads += t.reads[i].n.Load()
	}
	return st
}

// tableOp is a write sent to a table's owner.
type tableOp[K comparable, V any] struct {
	k   K
	v   V
	del bool
}

// tableOwner is the server StartTable runs: it owns one table and applies
// writes sent to it.
type tableOwner[K comparable, V any] struct {
	name  string
	table *Table[K, V]
}

func (o *tableOwner[K, V]) Init(ctx context.Context) error {
	p := self(ctx)
	s, _ := p.impl.(*server[tableOp[K, V], struct{}])
	t, err := newTable(p, o.name, Ref[tableOp[K, V], struct{}]{s: s})
	o.table = t
	return err
}

func (o *tableOwner[K, V]) HandleCall(ctx context.Context, op tableOp[K, V]) (struct{}, error) {
	if o.table.closed.Load() {
		return struct{}{}, ErrNoTable
	}
	o.table.apply(op)
	return struct{}{}, nil
}

// StartTable starts a process, reported as [instrument.KindTableOwner],
// that owns a new table named name and applies writes from any goroutine,
// one at a time, as calls. opts name, link and parent the owner as for
// [Start]; put it under a supervisor with [TableWorker].
func StartTable[K comparable, V any](n *Node, name string, opts ...Option) (*Table[K, V], error) {
	o := &tableOwner[K, V]{name: name}
	_, err := Start(n, Server[tableOp[K, V], struct{}](o), append([]Option{AsKind(instrument.KindTableOwner)}, opts...)...)
	if err != nil {
		return nil, err
	}
	return o.table, nil
}

// TableWorker returns the spec of a table owner child: each start and
// restart makes a new, empty table under name (find it with [FindTable]).
func TableWorker[K comparable, V any](id, name string, opts ...Option) ChildSpec {
	return ChildSpec{ID: id, Start: func(n *Node, sup ...Option) (PID, error) {
		t, err := StartTable[K, V](n, name, withOpts(opts, sup)...)
		if err != nil {
			return 0, err
		}
		return t.Owner(), nil
	}}
}
