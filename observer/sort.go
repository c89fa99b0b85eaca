package observer

import (
	"cmp"
	"strings"

	"github.com/go-observer/observer/instrument"
)

// SortKey orders processes in a [Query]. Numeric keys sort largest first;
// SortPID and SortName sort ascending. Ties go by PID.
type SortKey uint8

// Sort keys.
const (
	SortMailbox  SortKey = iota // mailbox depth
	SortGrowth                  // growth of the mailbox per second
	SortRate                    // messages handled per second
	SortBusy                    // busy fraction
	SortCPU                     // CPU time in the newest profile
	SortRestarts                // restarts
	SortWaiting                 // callers waiting
	SortHeadAge                 // age of the oldest queued message
	SortPID                     // process ID, ascending
	SortName                    // name, ascending
	numSortKeys
)

// sortKeys is the one table of sort keys: each key's name, whether the
// sampler ranks it every tick, and how it is read from a process's view
// (Snapshot.Query); [procState.sortValues] reads the same keys from derived
// state (the sampler's top-N and Observer.Processes). view is nil for
// SortPID and SortName.
var sortKeys = [numSortKeys]struct {
	name string
	top  bool // the sampler keeps its top Options.TopN every tick
	view func(p *Process) float64
}{
	SortMailbox:  {"mailbox", true, func(p *Process) float64 { return float64(p.Depth) }},
	SortGrowth:   {"growth", true, func(p *Process) float64 { return p.Growth }},
	SortRate:     {"rate", true, func(p *Process) float64 { return p.Handling }},
	SortBusy:     {"busy", true, func(p *Process) float64 { return p.Busy }},
	SortCPU:      {"cpu", false, func(p *Process) float64 { return float64(p.CPU) }},
	SortRestarts: {"restarts", true, func(p *Process) float64 { return float64(p.Restarts) }},
	SortWaiting:  {"waiting", true, func(p *Process) float64 { return float64(p.Waiting) }},
	SortHeadAge:  {"head_age", true, func(p *Process) float64 { return p.HeadAge.Seconds() }},
	SortPID:      {name: "pid"},
	SortName:     {name: "name"},
}

// sortValues are the numeric sort keys of a process's derived state, as
// the sortKeys' view functions read them from its view, indexed by key.
// SortCPU comes from the newest profile, not the state: a caller that
// sorts by it fills it in.
func (st *procState) sortValues() (v [numSortKeys]float64) {
	v[SortMailbox] = float64(st.depth)
	v[SortGrowth] = float64(st.growth)
	v[SortRate] = float64(st.handling)
	v[SortBusy] = float64(st.busyFrac)
	v[SortRestarts] = float64(st.restarts)
	v[SortWaiting] = float64(st.waiting)
	v[SortHeadAge] = float64(st.headAge) // seconds, as the view's is read
	return v
}

// ranked reports whether any of the sampler's ranked keys is above zero
// for st: a top-N keeps only positive scores, so an idle process (most of
// a big program) is skipped without building its sort values.
func (st *procState) ranked() bool {
	return st.depth|st.waiting|st.restarts != 0 || st.growth > 0 || st.handling > 0 || st.busyFrac > 0 || st.headAge > 0
}

// topKeys are the keys the sampler ranks, in order.
var topKeys = func() []SortKey {
	var out []SortKey
	for k := range numSortKeys {
		if sortKeys[k].top {
			out = append(out, k)
		}
	}
	return out
}()

// SortKeys returns every sort key, in the order of their constants.
func SortKeys() []SortKey {
	out := make([]SortKey, numSortKeys)
	for k := range numSortKeys {
		out[k] = k
	}
	return out
}

// Top reports whether every snapshot holds the top Options.TopN
// processes by the key ([Snapshot.TopN]), so that a query of at most that
// many rows by it is answered from [Snapshot.Processes] exactly.
func (k SortKey) Top() bool { return k < numSortKeys && sortKeys[k].top }

// String returns the key's name, as accepted by [ParseSortKey].
func (k SortKey) String() string {
	if k < numSortKeys {
		return sortKeys[k].name
	}
	return enumString(nil, int(k), "sort")
}

// MarshalText encodes the key as its name.
func (k SortKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText decodes a key from its name.
func (k *SortKey) UnmarshalText(b []byte) error {
	v, err := ParseSortKey(string(b))
	*k = v
	return err
}

// ParseSortKey returns the key with the name s: mailbox, growth, rate,
// busy, cpu, restarts, waiting, head_age, pid or name.
func ParseSortKey(s string) (SortKey, error) {
	i, err := enumParse(sortKeyNames(), s, "sort key")
	return SortKey(i), err
}

func sortKeyNames() []string {
	names := make([]string, numSortKeys)
	for k := range numSortKeys {
		names[k] = sortKeys[k].name
	}
	return names
}

// SortKeyNames lists the names of the sort keys, comma-separated, for
// messages that say what is accepted.
func SortKeyNames() string { return strings.Join(sortKeyNames(), ", ") }

// sortOrder orders two processes by key, given each one's value of a
// numeric key, its name and its PID: numbers largest first, names
// ascending, ties by PID.
func sortOrder(key SortKey, va, vb float64, na, nb string, pa, pb instrument.PID) int {
	var c int
	switch {
	case key == SortName:
		c = cmp.Compare(na, nb)
	case key < numSortKeys && sortKeys[key].view != nil:
		c = cmp.Compare(vb, va)
	}
	return cmp.Or(c, cmp.Compare(pa, pb))
}

// compareBy orders two views by key, as [sortOrder] does.
func compareBy(key SortKey, a, b *Process) int {
	var va, vb float64
	if key < numSortKeys && sortKeys[key].view != nil {
		va, vb = sortKeys[key].view(a), sortKeys[key].view(b)
	}
	return sortOrder(key, va, vb, a.Name, b.Name, a.PID, b.PID)
}
