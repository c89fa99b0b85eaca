package observer_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
)

// Searches run while processes spawn, exit and are renamed on other
// goroutines (under -race, the index is touched only under the
// observer's lock); once the churn stops and the events are read, a
// search by name, by PID and a page of children answer exactly what the
// table holds.
func TestSearchUnderConcurrentChurn(t *testing.T) {
	table := instrument.NewProcessTable()
	o := start(t, table, observer.Options{Tick: observer.MinTick})
	root := table.Spawn(instrument.Info{Name: "root", Kind: instrument.KindSupervisor,
		Supervisor: &instrument.SupervisorInfo{Strategy: "one_for_one", MaxRestarts: 3, Period: time.Second}})
	o.Processes(observer.Query{Match: "w", Limit: 1}) // the index is built from here on
	var churners, searchers sync.WaitGroup
	done := make(chan struct{})
	for g := range 4 {
		churners.Go(func() {
			var live []*instrument.Proc
			for i := range 400 {
				p := table.Spawn(instrument.Info{Name: fmt.Sprintf("w%d-%d", g, i%5), Kind: instrument.KindServer, Parent: root.ID()})
				live = append(live, p)
				switch i % 7 {
				case 3:
					table.Register(live[len(live)/2], fmt.Sprintf("renamed-%d", i%3))
				case 5, 6:
					table.Exit(live[0], instrument.ReasonNormal, nil)
					live = live[1:]
				}
			}
		})
	}
	for range 2 {
		searchers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				o.Processes(observer.Query{Match: "w1-", Limit: 50})
				o.Processes(observer.Query{Sort: observer.SortName, Match: "renamed", Limit: 10})
				o.Children(root.ID(), 100, 20)
			}
		})
	}
	churners.Wait()
	close(done)
	searchers.Wait()

	want := func(match string) []instrument.PID {
		var out []instrument.PID
		table.Range(func(p *instrument.Proc) bool {
			if strings.Contains(strings.ToLower(p.Name()), match) || strings.Contains(p.ID().String(), match) {
				out = append(out, p.ID())
			}
			return true
		})
		slices.Sort(out)
		return out
	}
	pidsOf := func(ps []observer.Process) []instrument.PID {
		out := []instrument.PID{}
		for _, p := range ps {
			out = append(out, p.PID)
		}
		return out
	}
	var mid instrument.PID
	if w := want("w2-3"); len(w) > 0 {
		mid = w[len(w)/2]
	}
	for _, match := range []string{"w2-3", "renamed-1", "W3-", mid.String()} {
		w := want(strings.ToLower(match))
		var got []instrument.PID
		deadline := time.Now().Add(10 * time.Second)
		for { // until the event reader has caught up with the last renames
			got = pidsOf(o.Processes(observer.Query{Sort: observer.SortPID, Match: match}))
			if slices.Equal(got, w) || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if !slices.Equal(got, w) || len(w) == 0 {
			t.Errorf("search %q: got %d processes %v, want %d %v", match, len(got), got, len(w), w)
		}
	}
	all := want("") // every process: root's children and root
	all = slices.DeleteFunc(all, func(pid instrument.PID) bool { return pid == root.ID() })
	var kids []observer.Process
	var total int
	deadline := time.Now().Add(10 * time.Second)
	for { // the total counts exits until the event reader has read them
		kids, total = o.Children(root.ID(), 10, 5)
		if total == len(all) || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if total != len(all) || !slices.Equal(pidsOf(kids), all[10:15]) {
		t.Errorf("children from 10, 5: got %v of %d, want %v of %d", pidsOf(kids), total, all[10:15], len(all))
	}
}
