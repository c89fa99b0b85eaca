package observer

import (
	"bytes"
	"cmp"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-observer/observer/instrument"
)

// procIndex answers searches over every live process without a pass over
// the process table: by name, PID, kind and parent. It is kept up to date
// from the table's lifecycle events (spawned, exited, registered: see
// model.events) and caught up by ID before each query and tick, as the
// sampler's set is ([procSet.discover]); dropped events make it rebuild
// itself from the table, at most every rebuildEvery.
//
// It is built at the sampler's first tick, for the tree's shape (see
// treeBuilder.collect), and then kept. Each live process costs 12 bytes,
// its PID and a class, in blocks of 512 sorted by PID (filled by spawns,
// which come in PID order; a block split by an insertion is half full,
// exits can leave one down to a quarter full, 48 bytes a process, before
// it merges with a neighbour); each class of processes (same parent, name and kind: the
// million children of a partition supervisor are a handful of classes)
// about 60 bytes, plus each distinct name once, lower-cased, in one
// buffer that a substring search runs over. Programs whose processes
// each have a name of their own pay a class and a name per process: 160
// to 200 bytes in all (BenchmarkIndexMemory).
//
// A query walks the blocks (about a nanosecond per process: the class
// decides the name, kind and parent tests, decided once per class), or,
// for a PID or a PID prefix, only the blocks that can hold it. The model
// owns it, under the observer's lock.
type procIndex struct {
	built   bool
	next    instrument.PID // the lowest ID the catch-up has not looked up
	dropped uint64         // the table's dropped events as of the latest rebuild
	rebuilt time.Time      // when

	blocks  []*ixBlock // sorted by PID, none empty
	live    int
	version uint64 // counts changes: processes added, removed, renamed

	classes []ixClass
	classOf map[ixClassKey]uint32
	freeCls []uint32

	names     []ixName
	nameOf    map[string]int32
	freeNames []int32
	exotic    map[int32]struct{} // names searched with containsFold, not in buf
	buf       []byte             // lower-case ASCII names, each followed by a NUL
	starts    []int32            // where each name of buf starts, ascending
	startName []int32            // the name starting there
	deadBytes int                // bytes of buf whose names are gone

	// The processes with a sort value other than zero, as of tick
	// valuesTick (see model.nonZero).
	values     []pidValues
	valuesTick uint64
}

type pidValues struct {
	pid instrument.PID
	v   [numSortKeys]float64
}

// rebuildEvery is how often, at most, dropped events make the index
// rebuild itself from the table (a second or more at a million): in
// between, an exit or a rename whose event was lost may show, its views
// left out all the same. A variable for tests.
var rebuildEvery = 10 * time.Second

// ixBlockSize is how many processes one block of the index holds.
const ixBlockSize = 512

type ixBlock struct {
	n   int
	pid [ixBlockSize]instrument.PID
	cls [ixBlockSize]uint32
}

func (b *ixBlock) last() instrument.PID { return b.pid[b.n-1] }

// ixClassKey is what the processes of one class share.
type ixClassKey struct {
	parent instrument.PID
	name   int32
	kind   instrument.Kind
}

type ixClass struct {
	ixClassKey
	refs int32 // processes of the class; 0 when the slot is free
}

type ixName struct {
	s    string
	refs int32 // classes with the name
	off  int32 // where it is in buf, or -1 when it is not searched there
}

func (ix *procIndex) reset() {
	*ix = procIndex{
		built:   true,
		next:    ix.next,
		dropped: ix.dropped,
		rebuilt: ix.rebuilt,
		classOf: make(map[ixClassKey]uint32),
		nameOf:  make(map[string]int32),
		exotic:  make(map[int32]struct{}),
	}
}

// sync brings the index up to date with t before a query: it is built on
// first use, rebuilt when the table dropped events since the last sync
// (an exit or a rename may be lost), and otherwise catches up with the
// processes spawned since the last sync, by ID, whose events are still on
// their way.
func (ix *procIndex) sync(t *instrument.ProcessTable) {
	st := t.Stats()
	last := instrument.PID(st.Spawned)
	// Exits not heard of (events dropped, or nobody subscribed: an
	// observer ticked by hand) leave processes in the index that the
	// table no longer holds.
	lost := st.Dropped != ix.dropped || int64(ix.live) > st.Live+max(1024, st.Live/8)
	if !ix.built || lost && time.Since(ix.rebuilt) >= rebuildEvery ||
		last >= ix.next && uint64(last-ix.next) > 2*uint64(max(st.Live, 0))+1024 {
		ix.rebuild(t, st)
		ix.rebuilt = time.Now()
		return
	}
	for ; ix.next <= last; ix.next++ {
		if p := t.Lookup(ix.next); p != nil {
			ix.upsert(p)
		}
	}
}

// rebuild fills the index from one pass over the table.
func (ix *procIndex) rebuild(t *instrument.ProcessTable, st instrument.Stats) {
	version := ix.version
	ix.reset()
	ix.dropped = st.Dropped
	type pair struct {
		pid instrument.PID
		cls uint32
	}
	pairs := make([]pair, 0, max(st.Live, 0)+64)
	t.Range(func(p *instrument.Proc) bool {
		if p.Status() != instrument.StatusExited {
			pairs = append(pairs, pair{p.ID(), ix.acquire(p)})
		}
		return true
	})
	slices.SortFunc(pairs, func(a, b pair) int { return cmp.Compare(a.pid, b.pid) })
	for i := 0; i < len(pairs); i += ixBlockSize {
		b := &ixBlock{}
		for _, pr := range pairs[i:min(i+ixBlockSize, len(pairs))] {
			b.pid[b.n], b.cls[b.n] = pr.pid, pr.cls
			b.n++
		}
		ix.blocks = append(ix.blocks, b)
	}
	ix.live = len(pairs)
	ix.next = max(ix.next, instrument.PID(st.Spawned)+1)
	ix.version = version + 1
}

// event folds one lifecycle event into a built index.
func (ix *procIndex) event(t *instrument.ProcessTable, ev instrument.Event) {
	if !ix.built {
		return
	}
	switch e := ev.(type) {
	case instrument.Spawned:
		// Read the record, not the event: the process may have been
		// renamed since, or have exited (its exit may be read first).
		if p := t.Lookup(e.PID); p != nil {
			ix.upsert(p)
		}
	case instrument.Registered:
		if e.Registry == "" {
			if p := t.Lookup(e.PID); p != nil {
				ix.upsert(p)
			}
		}
	case instrument.Exited:
		ix.remove(e.PID)
	}
}

// upsert indexes a live process, or updates its class (a rename).
func (ix *procIndex) upsert(p *instrument.Proc) {
	pid := p.ID()
	bi, i, found := ix.locate(pid)
	if found {
		b := ix.blocks[bi]
		c := &ix.classes[b.cls[i]]
		if c.parent == p.Parent() && c.kind == p.Kind() && ix.names[c.name].s == p.Name() {
			return
		}
		old := b.cls[i]
		b.cls[i] = ix.acquire(p)
		ix.release(old)
		ix.version++
		return
	}
	ix.insertAt(bi, i, pid, ix.acquire(p))
	ix.live++
	ix.version++
}

// remove forgets a process that exited; one not indexed is ignored.
func (ix *procIndex) remove(pid instrument.PID) {
	bi, i, found := ix.locate(pid)
	if !found {
		return
	}
	b := ix.blocks[bi]
	ix.release(b.cls[i])
	copy(b.pid[i:b.n], b.pid[i+1:b.n])
	copy(b.cls[i:b.n], b.cls[i+1:b.n])
	b.n--
	ix.live--
	ix.version++
	switch {
	case b.n == 0:
		ix.blocks = slices.Delete(ix.blocks, bi, bi+1)
	case b.n < ixBlockSize/4 && bi+1 < len(ix.blocks) && b.n+ix.blocks[bi+1].n <= ixBlockSize/2:
		ix.merge(bi)
	case b.n < ixBlockSize/4 && bi > 0 && b.n+ix.blocks[bi-1].n <= ixBlockSize/2:
		ix.merge(bi - 1)
	}
}

// merge moves block bi+1 into block bi.
func (ix *procIndex) merge(bi int) {
	a, b := ix.blocks[bi], ix.blocks[bi+1]
	copy(a.pid[a.n:], b.pid[:b.n])
	copy(a.cls[a.n:], b.cls[:b.n])
	a.n += b.n
	ix.blocks = slices.Delete(ix.blocks, bi+1, bi+2)
}

// locate finds pid: its block and place, or where it would be inserted.
func (ix *procIndex) locate(pid instrument.PID) (bi, i int, found bool) {
	if len(ix.blocks) == 0 {
		return 0, 0, false
	}
	bi = sort.Search(len(ix.blocks), func(k int) bool { return ix.blocks[k].last() >= pid })
	if bi == len(ix.blocks) {
		bi--
		return bi, ix.blocks[bi].n, false
	}
	b := ix.blocks[bi]
	i, found = slices.BinarySearch(b.pid[:b.n], pid)
	return bi, i, found
}

func (ix *procIndex) insertAt(bi, i int, pid instrument.PID, cls uint32) {
	if len(ix.blocks) == 0 {
		ix.blocks = append(ix.blocks, &ixBlock{})
	}
	b := ix.blocks[bi]
	if b.n == ixBlockSize {
		nb := &ixBlock{}
		if bi == len(ix.blocks)-1 && i == b.n {
			// Appending, as spawns mostly do: a new block, both full.
			ix.blocks = append(ix.blocks, nb)
			i, b = 0, nb
		} else {
			half := ixBlockSize / 2
			nb.n = copy(nb.pid[:], b.pid[half:b.n])
			copy(nb.cls[:], b.cls[half:b.n])
			b.n = half
			ix.blocks = slices.Insert(ix.blocks, bi+1, nb)
			if i > half {
				i, b = i-half, nb
			}
		}
	}
	copy(b.pid[i+1:b.n+1], b.pid[i:b.n])
	copy(b.cls[i+1:b.n+1], b.cls[i:b.n])
	b.pid[i], b.cls[i] = pid, cls
	b.n++
}

// acquire returns the class of p, counting p in it.
func (ix *procIndex) acquire(p *instrument.Proc) uint32 {
	name := p.Name()
	nid, ok := ix.nameOf[name]
	if !ok {
		nid = ix.addName(name)
	}
	key := ixClassKey{parent: p.Parent(), name: nid, kind: p.Kind()}
	id, ok := ix.classOf[key]
	if !ok {
		if n := len(ix.freeCls); n > 0 {
			id, ix.freeCls = ix.freeCls[n-1], ix.freeCls[:n-1]
		} else {
			id = uint32(len(ix.classes))
			ix.classes = append(ix.classes, ixClass{})
		}
		ix.classes[id] = ixClass{ixClassKey: key}
		ix.classOf[key] = id
		ix.names[nid].refs++
	}
	ix.classes[id].refs++
	return id
}

// release uncounts one process of class id, and frees the class and its
// name when they have no process left.
func (ix *procIndex) release(id uint32) {
	c := &ix.classes[id]
	if c.refs--; c.refs > 0 {
		return
	}
	delete(ix.classOf, c.ixClassKey)
	ix.freeCls = append(ix.freeCls, id)
	n := &ix.names[c.name]
	if n.refs--; n.refs > 0 {
		return
	}
	delete(ix.nameOf, n.s)
	delete(ix.exotic, c.name)
	if n.off >= 0 {
		clear(ix.buf[n.off : int(n.off)+len(n.s)]) // a search never lands here again
		ix.deadBytes += len(n.s) + 1
	}
	*n = ixName{off: -1}
	ix.freeNames = append(ix.freeNames, c.name)
	if ix.deadBytes > 1<<16 && ix.deadBytes > len(ix.buf)/2 {
		ix.compactNames()
	}
}

// addName adds a name no class has yet, with no reference.
func (ix *procIndex) addName(name string) int32 {
	var id int32
	if n := len(ix.freeNames); n > 0 {
		id, ix.freeNames = ix.freeNames[n-1], ix.freeNames[:n-1]
	} else {
		id = int32(len(ix.names))
		ix.names = append(ix.names, ixName{})
	}
	ix.names[id] = ixName{s: name, off: -1}
	ix.nameOf[name] = id
	switch {
	case name == "":
	case searchable(name):
		ix.appendName(id)
	default:
		ix.exotic[id] = struct{}{}
	}
	return id
}

// searchable reports whether a name goes in the buffer: ASCII without a
// NUL, whose lower case has the same bytes' places as the name, so that a
// byte search over it finds what containsFold finds.
func searchable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 || s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func (ix *procIndex) appendName(id int32) {
	n := &ix.names[id]
	n.off = int32(len(ix.buf))
	ix.starts = append(ix.starts, n.off)
	ix.startName = append(ix.startName, id)
	for i := 0; i < len(n.s); i++ {
		c := n.s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		ix.buf = append(ix.buf, c)
	}
	ix.buf = append(ix.buf, 0)
}

// compactNames rewrites the buffer with the live names only.
func (ix *procIndex) compactNames() {
	ix.buf, ix.starts, ix.startName, ix.deadBytes = ix.buf[:0:0], ix.starts[:0], ix.startName[:0], 0
	for id := range ix.names {
		if n := &ix.names[id]; n.refs > 0 && n.off >= 0 {
			ix.appendName(int32(id))
		}
	}
}

// matchNames calls mark for each name that contains s, lower-case,
// ignoring case as containsFold does.
func (ix *procIndex) matchNames(s string, mark func(id int32)) {
	if s == "" {
		return
	}
	if !searchable(s) {
		// A name of ASCII bytes never folds to a rune beyond ASCII (nor
		// holds a NUL): only the others can match.
		for id := range ix.names {
			if n := &ix.names[id]; n.refs > 0 && n.off < 0 && containsFold(n.s, s) {
				mark(int32(id))
			}
		}
		return
	}
	for from := 0; from < len(ix.buf); {
		j := bytes.Index(ix.buf[from:], []byte(s))
		if j < 0 {
			break
		}
		at := int32(from + j)
		k := sort.Search(len(ix.starts), func(k int) bool { return ix.starts[k] > at }) - 1
		id := ix.startName[k]
		mark(id)
		from = int(ix.starts[k]) + len(ix.names[id].s) + 1 // on to the next name
	}
	for id := range ix.exotic {
		if containsFold(ix.names[id].s, s) {
			mark(id)
		}
	}
}

// ixMatch is a compiled [Query.Match] and [Query.Parent] over the index:
// decided once per class, and for the PID text, per process.
type ixMatch struct {
	// cls says, by class, whether its processes match (clsAll), may match
	// by their PID (clsPID), or do not (clsNone).
	cls   []uint8
	pid   pidMatch
	match bool // some class matches by itself
	maybe bool // some class may match by PID
}

const (
	clsNone uint8 = iota
	clsPID
	clsAll
)

// compile decides q's Match and Parent for every class.
func (ix *procIndex) compile(q Query) ixMatch {
	s := strings.ToLower(strings.TrimSpace(q.Match))
	mt := ixMatch{cls: make([]uint8, len(ix.classes)), pid: pidMatcher(s)}
	all := s == "" || mt.pid.all
	var named []bool
	if !all {
		named = make([]bool, len(ix.names))
		ix.matchNames(s, func(id int32) { named[id] = true })
	}
	var kinds [256]int8 // 0 not decided, 1 matches, -1 does not
	for id := range ix.classes {
		c := &ix.classes[id]
		if c.refs == 0 || q.Parent != 0 && c.parent != q.Parent {
			continue
		}
		m := all || named[c.name]
		if !m {
			if kinds[c.kind] == 0 {
				kinds[c.kind] = -1
				if strings.Contains(c.kind.String(), s) {
					kinds[c.kind] = 1
				}
			}
			m = kinds[c.kind] == 1
		}
		switch {
		case m:
			mt.cls[id], mt.match = clsAll, true
		case len(mt.pid.rules) > 0:
			mt.cls[id], mt.maybe = clsPID, true
		}
	}
	return mt
}

// each calls f for every process that matches, in PID order, until f
// returns false.
func (ix *procIndex) each(mt *ixMatch, f func(pid instrument.PID, cls uint32) bool) {
	if !mt.match && !mt.maybe {
		return
	}
	if !mt.match && mt.pid.ranged() {
		// A PID, or a PID's first digits: only the blocks that hold them.
	ranges:
		for _, r := range mt.pid.ranges() {
			bi, i, _ := ix.locate(instrument.PID(r.lo))
			for ; bi < len(ix.blocks); bi, i = bi+1, 0 {
				b := ix.blocks[bi]
				for ; i < b.n; i++ {
					pid := b.pid[i]
					if uint64(pid) >= r.hi {
						continue ranges
					}
					if uint64(pid) >= r.lo && mt.cls[b.cls[i]] != clsNone && !f(pid, b.cls[i]) {
						return
					}
				}
			}
		}
		return
	}
	// Without the PID text, the classes' counts say when the last match
	// is found.
	left := math.MaxInt
	if !mt.maybe {
		left = 0
		for c, m := range mt.cls {
			if m == clsAll {
				left += int(ix.classes[c].refs)
			}
		}
	}
	for _, b := range ix.blocks {
		for i := 0; i < b.n; i++ {
			switch mt.cls[b.cls[i]] {
			case clsNone:
				continue
			case clsPID:
				if !mt.pid.match(uint64(b.pid[i])) {
					continue
				}
			}
			if !f(b.pid[i], b.cls[i]) {
				return
			}
			if left--; left == 0 {
				return
			}
		}
	}
}

// class returns the class of a live indexed process.
func (ix *procIndex) class(pid instrument.PID) (uint32, bool) {
	bi, i, found := ix.locate(pid)
	if !found {
		return 0, false
	}
	return ix.blocks[bi].cls[i], true
}

// pidMatch matches the PID text of processes, <0.42.0>, as
// strings.Contains(pid.String(), s) and the decimal 42 would, without
// writing it: s is decomposed into what it says of the decimal.
type pidMatch struct {
	all   bool // s is in every PID's text ("<0.", "0", ".0>")
	rules []pidRule
}

// A pidRule says what the decimal D of a PID holds: exactly digits,
// digits first, digits last, or digits anywhere.
type pidRule struct {
	mode   uint8
	v      uint64 // the digits' value
	p1, pk uint64 // 10^(k-1) and 10^k, k the number of digits
}

const (
	pidExact uint8 = iota
	pidPrefix
	pidSuffix
	pidContains
)

// pidMatcher reads what a lower-case Match says of PIDs.
func pidMatcher(s string) pidMatch {
	if s == "" || strings.Trim(s, "0123456789<.>") != "" {
		return pidMatch{}
	}
	if strings.Contains("<0.", s) || strings.Contains(".0>", s) {
		return pidMatch{all: true}
	}
	var m pidMatch
	// s = A + B + C: A the end of "<0.", B digits of D, C the start of ".0>".
	for _, a := range []string{"", ".", "0.", "<0."} {
		for _, c := range []string{"", ".", ".0", ".0>"} {
			if len(a)+len(c) >= len(s) || !strings.HasPrefix(s, a) || !strings.HasSuffix(s, c) {
				continue
			}
			b := s[len(a) : len(s)-len(c)]
			if strings.Trim(b, "0123456789") != "" || len(b) > 19 {
				continue
			}
			r := pidRule{p1: pow10[len(b)-1], pk: pow10[len(b)]}
			for i := 0; i < len(b); i++ {
				r.v = r.v*10 + uint64(b[i]-'0')
			}
			switch {
			case a != "" && c != "":
				r.mode = pidExact
			case a != "":
				r.mode = pidPrefix
			case c != "":
				r.mode = pidSuffix
			default:
				r.mode = pidContains
			}
			if (r.mode == pidExact || r.mode == pidPrefix) && b[0] == '0' {
				continue // a PID's decimal has no leading zero
			}
			m.rules = append(m.rules, r)
		}
	}
	return m
}

var pow10 = func() (p [20]uint64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

func (m *pidMatch) match(pid uint64) bool {
	for _, r := range m.rules {
		switch r.mode {
		case pidExact:
			if pid == r.v {
				return true
			}
		case pidPrefix:
			for lo, hi := r.v, r.v+1; lo <= pid; lo, hi = lo*10, hi*10 {
				if pid < hi {
					return true
				}
				if lo > (1<<64-1)/10 {
					break
				}
			}
		case pidSuffix:
			if pid >= r.p1 && pid%r.pk == r.v {
				return true
			}
		case pidContains:
			if containsDigits(pid, r) {
				return true
			}
		}
	}
	return false
}

// containsDigits reports whether pid's decimal holds r's digits: a window
// of k digits slides up from the lowest, with divisions by constants.
func containsDigits(pid uint64, r pidRule) bool {
	if pid < r.p1 {
		return false
	}
	w, x := pid%r.pk, pid/r.pk
	for {
		if w == r.v {
			return true
		}
		if x == 0 {
			return false
		}
		w = w/10 + (x%10)*r.p1
		x /= 10
	}
}

// ranged reports whether every rule is a PID or a PID's first digits:
// then the PIDs that match lie in a few ranges.
func (m *pidMatch) ranged() bool {
	if m.all || len(m.rules) == 0 {
		return false
	}
	for _, r := range m.rules {
		if r.mode != pidExact && r.mode != pidPrefix {
			return false
		}
	}
	return true
}

type pidRange struct{ lo, hi uint64 } // [lo, hi)

// ranges lists the PID ranges of a ranged match, sorted, merged.
func (m *pidMatch) ranges() []pidRange {
	var out []pidRange
	for _, r := range m.rules {
		if r.mode == pidExact {
			out = append(out, pidRange{r.v, r.v + 1})
			continue
		}
		for lo, hi := r.v, r.v+1; ; lo, hi = lo*10, hi*10 {
			out = append(out, pidRange{lo, hi})
			if hi > (1<<64-1)/10 {
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b pidRange) int { return cmp.Compare(a.lo, b.lo) })
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 && r.lo <= merged[n-1].hi {
			merged[n-1].hi = max(merged[n-1].hi, r.hi)
			continue
		}
		merged = append(merged, r)
	}
	return merged
}
