package observer

import (
	"cmp"
	"slices"

	"github.com/go-observer/observer/instrument"
)

// maxChain bounds how far a wait-for chain is followed.
const maxChain = 64

// graph is the wait-for graph of one scan: who waits on whom in a call.
type graph struct {
	out    map[instrument.PID]instrument.PID
	chains []chain            // one per root with someone waiting on it through another process, most callers first
	cycles [][]instrument.PID // call cycles: deadlocks until a call times out
}

// chain is the tree of processes waiting, directly or through others, on
// a root that waits on nobody, and the callers held up behind it.
type chain struct {
	// path is the longest way into the root: path[0] waits on path[1] …
	// on path[len-1], the root. path[0] has callers of its own (it is
	// waited on), so the callers' wait is part of the chain.
	path []instrument.PID
	// callers counts every caller held up behind the root, each once:
	// goroutines and processes alike, but not the processes the others
	// wait through.
	callers int
	// through lists the processes callers wait through (they wait on the
	// root and are waited on), most callers first.
	through []instrument.PID
	waiters int // processes in the tree (waiting on the root, directly or not)
}

func (c chain) root() instrument.PID { return c.path[len(c.path)-1] }

// waitGraph builds the graph from the scan's edges. live tells which
// targets are live; waiting returns how many callers wait on a process
// (its counter, which counts goroutine callers and process callers alike).
func waitGraph(edges []edge, live func(instrument.PID) bool, waiting func(instrument.PID) int) graph {
	g := graph{out: make(map[instrument.PID]instrument.PID, len(edges))}
	if len(edges) == 0 {
		return g
	}
	in := make(map[instrument.PID][]instrument.PID, len(edges))
	for _, e := range edges {
		if !live(e.to) {
			continue
		}
		g.out[e.from] = e.to
		in[e.to] = append(in[e.to], e.from)
	}
	seenCycle := make(map[instrument.PID]bool)
	for root := range in {
		if _, waits := g.out[root]; waits {
			continue // not a root: it waits on someone (or is on a cycle)
		}
		if c, ok := treeOf(root, in, waiting); ok {
			g.chains = append(g.chains, c)
		}
	}
	// Processes on a cycle have an incoming edge, so no walk above starts
	// at them; find the cycles from the nodes no chain explained.
	for from := range g.out {
		if seenCycle[from] {
			continue
		}
		var path []instrument.PID
		at := map[instrument.PID]int{}
		for cur, ok := from, true; ok && len(path) < maxChain; cur, ok = g.out[cur] {
			if i, again := at[cur]; again {
				cyc := slices.Clone(path[i:])
				for _, p := range cyc {
					seenCycle[p] = true
				}
				if !seenBefore(g.cycles, cyc) {
					g.cycles = append(g.cycles, rotateMin(cyc))
				}
				break
			}
			if seenCycle[cur] {
				break
			}
			at[cur] = len(path)
			path = append(path, cur)
		}
	}
	slices.SortFunc(g.chains, func(a, b chain) int {
		return cmp.Or(b.callers-a.callers, len(b.path)-len(a.path), cmp.Compare(a.root(), b.root()))
	})
	return g
}

// treeOf walks the processes waiting on root, directly or not, and sums
// the callers held up behind it. Every caller is counted once, in the
// waiting counter of the process it waits on; the processes others wait
// through are callers too, and are subtracted. It reports false when
// nobody waits through another process: one process waiting on another
// is a plain call, not a chain.
func treeOf(root instrument.PID, in map[instrument.PID][]instrument.PID, waiting func(instrument.PID) int) (chain, bool) {
	// A process's callers: its counter, or the processes seen waiting on
	// it if the counter, read at another instant, shows fewer.
	callersOf := func(pid instrument.PID) int { return max(waiting(pid), len(in[pid])) }
	type node struct {
		pid   instrument.PID
		depth int
	}
	c := chain{callers: callersOf(root)}
	deepest, deepestAt := instrument.PID(0), -1
	parent := map[instrument.PID]instrument.PID{}
	queue := []node{{root, 0}}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if n.depth >= maxChain-1 {
			continue
		}
		for _, w := range in[n.pid] {
			if _, seen := parent[w]; seen || w == root {
				continue
			}
			parent[w] = n.pid
			c.waiters++
			k := callersOf(w)
			c.callers += k
			if k == 0 {
				continue
			}
			c.callers-- // w is one of its callee's callers, but only a way through
			c.through = append(c.through, w)
			d := n.depth + 1
			if d > deepestAt || (d == deepestAt && (k > callersOf(deepest) || (k == callersOf(deepest) && w < deepest))) {
				deepest, deepestAt = w, d
			}
			queue = append(queue, node{w, d})
		}
	}
	if deepest == 0 {
		return chain{}, false
	}
	for p := deepest; ; p = parent[p] {
		c.path = append(c.path, p)
		if p == root {
			break
		}
	}
	slices.SortFunc(c.through, func(a, b instrument.PID) int {
		return cmp.Or(callersOf(b)-callersOf(a), cmp.Compare(a, b))
	})
	return c, true
}

// rotateMin rotates a cycle so that it starts at its lowest PID.
func rotateMin(c []instrument.PID) []instrument.PID {
	i := slices.Index(c, slices.Min(c))
	return append(slices.Clone(c[i:]), c[:i]...)
}

func seenBefore(cycles [][]instrument.PID, c []instrument.PID) bool {
	m := slices.Min(c)
	for _, o := range cycles {
		if o[0] == m {
			return true
		}
	}
	return false
}
