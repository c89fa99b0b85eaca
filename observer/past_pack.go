package observer

import (
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
	"time"
	"unsafe"

	"github.com/go-observer/observer/instrument"
)

// How the history stores tree nodes and processes: packed into bytes,
// not as the structs the snapshot holds (152 and 248 bytes). A
// program like the demo, whose ~100 short-lived tasks a second change
// most of its tree every tick, keeps a new copy of most nodes each
// tick; packed, a node takes about 20 bytes.
//
// Numbers are varints; floats are their bits, byte-reversed, as a
// varint (0 and round numbers take 1 to 3 bytes); strings (names,
// kinds, statuses, behaviours) and supervisor policies are interned:
// a number into a table the history keeps for its whole life, shared
// by all its ticks. A string is interned the second tick it is packed
// in, so that the names of short-lived processes ("session-17910", one
// tick in the tree) are not kept in the table for ever: until then it
// is stored in the entry itself, as it is past the tables' budget
// (internBudget of Options.HistoryBytes, counted in the history's
// bytes); a name that ends in a number ("session-17910") is then stored
// as its interned prefix and the number. A policy past the budget is
// stored by value. Decoding gives back
// exactly the values packed, so that a past moment is shown as it was.
// Edges are packed too: each as the difference of its two PIDs from the
// edge before's.
//
// The tables are appended to under the history's lock, and never
// changed in place: a reader takes their slice headers under the lock
// and decodes outside it.

// internBudget: the interning tables may use 1/internBudget of
// Options.HistoryBytes.
const internBudget = 16

// packer interns the strings and policies of the entries the history
// packs. Guarded by past.mu.
type packer struct {
	strs   []string
	strIDs map[string]uint32
	// seen holds the strings packed but not interned yet, with the
	// tick (gen) they were first packed in; cleared past maxSeen.
	seen   map[string]uint64
	gen    uint64
	pols   []*Policy
	polIDs map[Policy]uint32
	bytes  int64 // what the tables hold, estimated
	budget int64
}

// unpacker is a reader's view of a packer: its tables as they were when
// it was taken.
type unpacker struct {
	strs []string
	pols []*Policy
}

func newPacker(budget int64) *packer {
	return &packer{strIDs: map[string]uint32{}, polIDs: map[Policy]uint32{}, seen: map[string]uint64{}, budget: budget}
}

// maxSeen bounds the strings waiting for a second tick to be interned.
const maxSeen = 4096

// next starts the packing of a new tick.
func (pk *packer) next() { pk.gen++ }

func (pk *packer) view() unpacker { return unpacker{strs: pk.strs, pols: pk.pols} }

// internCost estimates what one more table entry holds: the slice's
// element, the map's entry, and the string's bytes.
const internCost = 16 + 48

func (pk *packer) appendString(b []byte, s string) []byte {
	if id, ok := pk.intern(s); ok {
		return binary.AppendUvarint(b, uint64(id)+1)
	}
	// Not interned: a name ending in a number ("session-17910", each new)
	// as its interned prefix and the number, else the bytes themselves.
	b = append(b, 0)
	if pre, n, ok := numbered(s); ok {
		if id, ok := pk.intern(pre); ok {
			b = binary.AppendUvarint(b, uint64(id)<<1|1)
			return binary.AppendUvarint(b, n)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(s))<<1)
	return append(b, s...)
}

// intern returns s's number in the table: when it is there, or when it
// was first packed in an earlier tick (and the budget allows).
func (pk *packer) intern(s string) (uint32, bool) {
	if id, ok := pk.strIDs[s]; ok {
		return id, true
	}
	first, seen := pk.seen[s]
	switch {
	case seen && first != pk.gen && pk.bytes+internCost+int64(len(s)) <= pk.budget:
		id := uint32(len(pk.strs))
		pk.strs = append(pk.strs, s)
		pk.strIDs[s] = id
		pk.bytes += internCost + int64(len(s))
		delete(pk.seen, s)
		return id, true
	case !seen:
		if len(pk.seen) >= maxSeen {
			clear(pk.seen)
		}
		pk.seen[s] = pk.gen
	}
	return 0, false
}

// numbered splits s into a prefix and the decimal number it ends in,
// when that number has no leading zero and fits in 18 digits, so that
// the prefix and the number print s again.
func numbered(s string) (string, uint64, bool) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	digits := s[i:]
	if digits == "" || len(digits) > 18 || (digits[0] == '0' && len(digits) > 1) {
		return "", 0, false
	}
	var n uint64
	for _, c := range []byte(digits) {
		n = n*10 + uint64(c-'0')
	}
	return s[:i], n, true
}

func (pk *packer) appendPolicy(b []byte, p *Policy) []byte {
	if p == nil {
		return append(b, 0)
	}
	id, ok := pk.polIDs[*p]
	if !ok && pk.bytes+internCost+int64(unsafe.Sizeof(*p)) <= pk.budget {
		id, ok = uint32(len(pk.pols)), true
		pk.pols = append(pk.pols, p)
		pk.polIDs[*p] = id
		pk.bytes += internCost + int64(unsafe.Sizeof(*p))
	}
	if ok {
		return binary.AppendUvarint(b, uint64(id)+2)
	}
	b = append(b, 1)
	b = pk.appendString(b, p.Strategy)
	b = appendInt(b, int64(p.MaxRestarts))
	b = appendInt(b, int64(p.Period))
	return appendInt(b, int64(p.MaxChildren))
}

func appendUint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }
func appendInt(b []byte, v int64) []byte   { return binary.AppendVarint(b, v) }
func appendFloat(b []byte, f float64) []byte {
	return binary.AppendUvarint(b, bits.ReverseBytes64(math.Float64bits(f)))
}

// Times: 0 the zero time; 1 an instrument timestamp (monotonic, from
// the program's start); 2 wall clock in Local, 3 in UTC; 4 any other,
// as MarshalBinary.
func appendTime(b []byte, t time.Time) []byte {
	switch {
	case t.IsZero():
		return append(b, 0)
	case t.Round(0) != t && instrument.Time(int64(t.Sub(instrument.Time(0)))) == t:
		// An instrument timestamp, monotonic reading and all.
		b = append(b, 1)
		return appendInt(b, int64(t.Sub(instrument.Time(0))))
	case t.Location() == time.Local: // the wall clock only: a monotonic reading is dropped
		return appendInt(append(b, 2), t.UnixNano())
	case t.Location() == time.UTC:
		return appendInt(append(b, 3), t.UnixNano())
	}
	m, _ := t.MarshalBinary()
	b = binary.AppendUvarint(append(b, 4), uint64(len(m)))
	return append(b, m...)
}

// dec reads what a packer wrote. The bytes are the history's own: a
// short read is a bug, and panics (index out of range).
type dec struct {
	b []byte
	u *unpacker
}

func (d *dec) uint() uint64 {
	v, n := binary.Uvarint(d.b)
	d.b = d.b[n:]
	return v
}

func (d *dec) int() int64 {
	v, n := binary.Varint(d.b)
	d.b = d.b[n:]
	return v
}

func (d *dec) float() float64 { return math.Float64frombits(bits.ReverseBytes64(d.uint())) }

func (d *dec) string() string {
	if id := d.uint(); id > 0 {
		return d.u.strs[id-1]
	}
	k := d.uint()
	if k&1 == 1 { // an interned prefix and a number
		pre := d.u.strs[k>>1]
		return string(strconv.AppendUint([]byte(pre), d.uint(), 10))
	}
	n := k >> 1
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *dec) policy() *Policy {
	switch id := d.uint(); id {
	case 0:
		return nil
	case 1:
		return &Policy{Strategy: d.string(), MaxRestarts: int(d.int()), Period: time.Duration(d.int()), MaxChildren: int(d.int())}
	default:
		return d.u.pols[id-2]
	}
}

func (d *dec) time() time.Time {
	k := d.b[0]
	d.b = d.b[1:]
	switch k {
	case 0:
		return time.Time{}
	case 1:
		return instrument.Time(d.int())
	case 2:
		return time.Unix(0, d.int())
	case 3:
		return time.Unix(0, d.int()).UTC()
	}
	n := d.uint()
	var t time.Time
	_ = t.UnmarshalBinary(d.b[:n])
	d.b = d.b[n:]
	return t
}

func (pk *packer) appendNode(b []byte, n *TreeNode) []byte {
	b = appendUint(b, uint64(n.PID))
	b = appendInt(b, int64(n.PID)-int64(n.Parent))
	b = pk.appendString(b, n.Name)
	b = pk.appendString(b, n.Kind)
	b = pk.appendString(b, n.Status)
	b = appendFloat(b, n.Busy)
	b = appendUint(b, n.Depth)
	b = appendUint(b, uint64(n.Restarts))
	b = appendUint(b, n.Waiting)
	b = append(b, byte(n.Finding))
	b = appendInt(b, int64(n.PID)-int64(n.Slot))
	b = appendInt(b, int64(n.Children))
	b = appendInt(b, int64(n.Folded))
	b = pk.appendPolicy(b, n.Supervisor)
	return appendFloat(b, n.RestartBudget)
}

func (d *dec) node(n *TreeNode) {
	pid := d.uint()
	n.PID = instrument.PID(pid)
	n.Parent = instrument.PID(int64(pid) - d.int())
	n.Name = d.string()
	n.Kind = d.string()
	n.Status = d.string()
	n.Busy = d.float()
	n.Depth = d.uint()
	n.Restarts = uint32(d.uint())
	n.Waiting = d.uint()
	n.Finding = Severity(d.b[0])
	d.b = d.b[1:]
	n.Slot = instrument.PID(int64(pid) - d.int())
	n.Children = int(d.int())
	n.Folded = int(d.int())
	n.Supervisor = d.policy()
	n.RestartBudget = d.float()
}

func (pk *packer) appendProcess(b []byte, p *Process) []byte {
	b = appendUint(b, uint64(p.PID))
	b = pk.appendString(b, p.Name)
	b = pk.appendString(b, p.Kind)
	b = pk.appendString(b, p.Status)
	b = appendInt(b, int64(p.PID)-int64(p.Parent))
	b = pk.appendString(b, p.Behaviour)
	b = appendTime(b, p.Started)
	b = appendUint(b, p.Depth)
	b = appendFloat(b, p.Growth)
	b = appendFloat(b, p.Arrival)
	b = appendFloat(b, p.Handling)
	b = appendFloat(b, p.CastShare)
	b = appendFloat(b, p.Busy)
	b = appendInt(b, int64(p.HeadAge))
	b = appendUint(b, p.Waiting)
	b = appendUint(b, uint64(p.BlockedOn))
	b = appendUint(b, p.Handled)
	b = appendUint(b, uint64(p.Restarts))
	b = appendFloat(b, p.RestartBudget)
	b = pk.appendPolicy(b, p.Supervisor)
	b = appendInt(b, int64(p.CPU))
	b = appendFloat(b, p.CPUShare)
	return appendInt(b, int64(p.Goroutines))
}

func (d *dec) process(p *Process) {
	pid := d.uint()
	p.PID = instrument.PID(pid)
	p.Name = d.string()
	p.Kind = d.string()
	p.Status = d.string()
	p.Parent = instrument.PID(int64(pid) - d.int())
	p.Behaviour = d.string()
	p.Started = d.time()
	p.Depth = d.uint()
	p.Growth = d.float()
	p.Arrival = d.float()
	p.Handling = d.float()
	p.CastShare = d.float()
	p.Busy = d.float()
	p.HeadAge = time.Duration(d.int())
	p.Waiting = d.uint()
	p.BlockedOn = instrument.PID(d.uint())
	p.Handled = d.uint()
	p.Restarts = uint32(d.uint())
	p.RestartBudget = d.float()
	p.Supervisor = d.policy()
	p.CPU = time.Duration(d.int())
	p.CPUShare = d.float()
	p.Goroutines = int(d.int())
}

// appendEntry packs one tree node or process.
func appendEntry[T keyed](pk *packer, b []byte, v *T) []byte {
	switch v := any(v).(type) {
	case *TreeNode:
		return pk.appendNode(b, v)
	case *Process:
		return pk.appendProcess(b, v)
	}
	panic("observer: history: no packing for this type")
}

// decEntry unpacks one tree node or process.
func decEntry[T keyed](d *dec, v *T) {
	switch x := any(v).(type) {
	case *TreeNode:
		d.node(x)
	case *Process:
		d.process(x)
	}
}

// unpack appends the n entries packed in b to out.
func unpack[T keyed](u *unpacker, b []byte, n int, out []T) []T {
	d := dec{b: b, u: u}
	for range n {
		var v T
		decEntry(&d, &v)
		out = append(out, v)
	}
	return out
}

// edgeList is a tick's packed edges; nil for a nil slice.
type edgeList struct {
	b []byte
	n int32
}

func packEdges(es []Edge) *edgeList {
	if es == nil {
		return nil
	}
	e := &edgeList{n: int32(len(es))}
	var from, to int64
	for _, x := range es {
		e.b = binary.AppendVarint(e.b, int64(x.From)-from)
		e.b = binary.AppendVarint(e.b, int64(x.To)-to)
		from, to = int64(x.From), int64(x.To)
	}
	e.b = trimCap(e.b)
	return e
}

func (e *edgeList) edges() []Edge {
	if e == nil {
		return nil
	}
	out := make([]Edge, e.n)
	d := dec{b: e.b}
	var from, to int64
	for i := range out {
		from += d.int()
		to += d.int()
		out[i] = Edge{From: instrument.PID(from), To: instrument.PID(to)}
	}
	return out
}

func (e *edgeList) bytes() int64 {
	if e == nil {
		return 0
	}
	return int64(unsafe.Sizeof(*e)) + int64(cap(e.b))
}

// findingList is a tick's packed findings; nil for a nil slice.
type findingList struct {
	b []byte
	n int32
}

func (pk *packer) packFindings(fs []Finding) *findingList {
	if fs == nil {
		return nil
	}
	l := &findingList{n: int32(len(fs))}
	b := l.b
	for i := range fs {
		f := &fs[i]
		b = pk.appendString(b, f.ID)
		b = append(b, byte(f.Kind), byte(f.Severity))
		b = appendUint(b, uint64(f.PID))
		b = pk.appendString(b, f.Name)
		b = appendTime(b, f.Since)
		b = pk.appendString(b, f.Summary)
		b = appendUint(b, uint64(len(f.Evidence))+1)
		if f.Evidence == nil {
			b[len(b)-1] = 0
		}
		for _, e := range f.Evidence {
			b = pk.appendString(b, e.Name)
			b = appendFloat(b, e.Value)
			b = pk.appendString(b, e.Unit)
		}
		b = pk.appendString(b, f.Advice)
		b = appendUint(b, uint64(len(f.Chain))+1)
		if f.Chain == nil {
			b[len(b)-1] = 0
		}
		for _, pid := range f.Chain {
			b = appendUint(b, uint64(pid))
		}
		b = pk.appendString(b, f.Site)
		b = pk.appendString(b, f.Stack)
	}
	l.b = trimCap(b)
	return l
}

func (l *findingList) findings(u *unpacker) []Finding {
	if l == nil {
		return nil
	}
	out := make([]Finding, l.n)
	d := dec{b: l.b, u: u}
	for i := range out {
		f := &out[i]
		f.ID = d.string()
		f.Kind, f.Severity = FindingKind(d.b[0]), Severity(d.b[1])
		d.b = d.b[2:]
		f.PID = instrument.PID(d.uint())
		f.Name = d.string()
		f.Since = d.time()
		f.Summary = d.string()
		if n := d.uint(); n > 0 {
			f.Evidence = make([]Evidence, n-1)
			for j := range f.Evidence {
				f.Evidence[j] = Evidence{Name: d.string(), Value: d.float(), Unit: d.string()}
			}
		}
		f.Advice = d.string()
		if n := d.uint(); n > 0 {
			f.Chain = make([]instrument.PID, n-1)
			for j := range f.Chain {
				f.Chain[j] = instrument.PID(d.uint())
			}
		}
		f.Site = d.string()
		f.Stack = d.string()
	}
	return out
}

func (l *findingList) bytes() int64 {
	if l == nil {
		return 0
	}
	return int64(unsafe.Sizeof(*l)) + int64(cap(l.b))
}
