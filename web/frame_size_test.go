package web

import (
	"testing"
	"time"

	"github.com/go-observer/observer/observer"
)

// A big subtree's top says how many processes are below it, counted from
// the children of the nodes the tree lists; a parent whose children are
// all leaves says nothing more than its fold does.
func TestTreeSizeLine(t *testing.T) {
	pol := &observer.Policy{Strategy: "one_for_one", MaxRestarts: 3, Period: 5 * time.Second}
	nodes := []observer.TreeNode{
		{PID: 1, Kind: "supervisor", Supervisor: pol, Children: 1},
		{PID: 2, Parent: 1, Kind: "partition_supervisor", Supervisor: pol, Children: 8},
	}
	for i := range 8 {
		pid := observer.PID(3 + i)
		nodes = append(nodes, observer.TreeNode{PID: pid, Parent: 2, Kind: "dynamic_supervisor", Supervisor: pol, Children: 125_000, Folded: 124_950})
	}
	nodes = append(nodes, observer.TreeNode{PID: 20, Parent: 3, Kind: "server"}) // a listed child
	var p parts
	treeParts(&p, &observer.Snapshot{Tree: observer.Tree{Nodes: nodes}})
	want := map[uint64]string{1: "1M processes below", 2: "1M processes below", 3: "", 20: ""}
	for _, n := range p.nodes {
		if w, ok := want[n.ID]; ok && n.SizeLine != w {
			t.Errorf("node %d: size line %q, want %q", n.ID, n.SizeLine, w)
		}
	}
}
