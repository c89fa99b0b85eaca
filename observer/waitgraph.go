package observer

import (
	"slices"

	"github.com/go-observer/observer/instrument"
)

// maxChain bounds how far a wait-for chain is followed.
const maxChain = 64

// graph is the wait-for graph of one scan: who waits on whom in a call.
type graph struct {
	out    map[instrument.PID]instrument.PID
	chains []chain            // the longest chain into each root, longest first
	cycles [][]instrument.PID // call cycles: deadlocks until a call times out
}

// chain is a path of waiting processes ending at a root that waits on
// nobody: path[0] waits on path[1] … on path[len-1], the root.
type chain struct {
	path  []instrument.PID
	heads int // processes at the start of some chain into this root
}

func (c chain) root() instrument.PID { return c.path[len(c.path)-1] }

// waitGraph builds the graph from the scan's edges. live tells which
// targets are live.
func waitGraph(edges []edge, live func(instrument.PID) bool) graph {
	g := graph{out: make(map[instrument.PID]instrument.PID, len(edges))}
	if len(edges) == 0 {
		return g
	}
	hasIn := make(map[instrument.PID]bool, len(edges))
	for _, e := range edges {
		if !live(e.to) {
			continue
		}
		g.out[e.from] = e.to
		hasIn[e.to] = true
	}
	best := make(map[instrument.PID]int) // root → index in g.chains
	seenCycle := make(map[instrument.PID]bool)
	for from := range g.out {
		if hasIn[from] {
			continue // not a head: some chain passes through it
		}
		path := []instrument.PID{from}
		for len(path) < maxChain {
			next, ok := g.out[path[len(path)-1]]
			if !ok {
				break
			}
			path = append(path, next)
		}
		root := path[len(path)-1]
		if i, ok := best[root]; ok {
			g.chains[i].heads++
			if len(path) > len(g.chains[i].path) {
				g.chains[i].path = path
			}
			continue
		}
		best[root] = len(g.chains)
		g.chains = append(g.chains, chain{path: path, heads: 1})
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
	slices.SortFunc(g.chains, func(a, b chain) int { return len(b.path) - len(a.path) })
	return g
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
