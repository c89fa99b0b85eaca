package otp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/go-observer/observer/instrument"
)

// ErrNotJoined: the process is not a member of the group.
var ErrNotJoined = errors.New("not a member of the group")

// Groups is a scope of named process groups, like Erlang's pg in one
// node: any process may join any group, any number of times (a process
// joined twice must leave twice); a process leaves all its groups when it
// exits. A process may monitor a group and receive a [GroupChange] message
// on every join and leave. All methods are safe for concurrent use.
//
// Joins and leaves are reported to the node's table as [instrument.Joined]
// and [instrument.Left] events carrying the scope's name.
type Groups struct {
	n     *Node
	scope string

	mu       sync.Mutex
	members  map[string][]groupMember
	watchers map[string][]groupWatcher
}

type groupMember struct {
	p   *process
	ref MonitorRef // the exit hook that removes this membership
}

type groupWatcher struct {
	ref  GroupRef
	p    *process
	hook MonitorRef
}

// GroupRef identifies one monitor of a group, for [Groups.Demonitor].
type GroupRef struct{ id uint64 }

// GroupChange is the message a process monitoring a group receives (in
// HandleInfo, or from [Receive]) when processes join or leave it.
type GroupChange struct {
	Ref    GroupRef
	Group  string
	Joined bool // true for a join, false for a leave (or an exit)
	PIDs   []PID
}

// NewGroups returns an empty scope of groups on n.
func NewGroups(n *Node, scope string) *Groups {
	g := &Groups{n: n, scope: scope, members: map[string][]groupMember{}, watchers: map[string][]groupWatcher{}}
	n.table.AddRegistry(g)
	return g
}

var _ instrument.RegistryReporter = (*Groups)(nil)

// RegistryStats implements [instrument.RegistryReporter]: Keys counts the
// groups, Entries the memberships.
func (g *Groups) RegistryStats() instrument.RegistryStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := instrument.RegistryStats{Name: g.scope, Kind: "groups", Keys: len(g.members)}
	for _, ms := range g.members {
		st.Entries += len(ms)
	}
	return st
}

// RegistryEntries implements [instrument.RegistryReporter]: up to limit
// memberships, sorted by group then PID.
func (g *Groups) RegistryEntries(limit int) []instrument.RegistryEntry {
	g.mu.Lock()
	var out []instrument.RegistryEntry
	for k, ms := range g.members {
		for _, m := range ms {
			out = append(out, instrument.RegistryEntry{Key: k, PID: m.p.id})
		}
	}
	g.mu.Unlock()
	return sortEntries(out, limit)
}

// Scope returns the scope's name.
func (g *Groups) Scope() string { return g.scope }

// Join adds pids to group. It fails with an error wrapping [ErrNoProc],
// joining none, when one of them is not alive.
func (g *Groups) Join(group string, pids ...PID) error {
	ps := make([]*process, 0, len(pids))
	for _, pid := range pids {
		p := g.n.lookup(pid)
		if p == nil {
			return fmt.Errorf("join %q: %w", group, errNoProcFor(pid))
		}
		ps = append(ps, p)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	joined := make([]PID, 0, len(ps))
	for _, p := range ps {
		ref := p.newRef()
		if !p.addHook(ref, func(PID, error) { g.exited(group, p, ref) }) {
			continue // exiting: as if it joined and left at once
		}
		g.members[group] = append(g.members[group], groupMember{p: p, ref: ref})
		joined = append(joined, p.id)
		g.n.table.Join(p.id, g.scope, group)
	}
	g.notify(group, true, joined)
	return nil
}

// Leave removes one membership of each of pids from group. It fails with
// an error wrapping [ErrNotJoined], leaving none, when one is not a member.
func (g *Groups) Leave(group string, pids ...PID) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	ms := g.members[group]
	idx := make([]int, 0, len(pids))
	for _, pid := range pids {
		i := -1
		for j, m := range ms {
			if m.p.id == pid && !slices.Contains(idx, j) {
				i = j
				break
			}
		}
		if i < 0 {
			return fmt.Errorf("leave %q: %v: %w", group, pid, ErrNotJoined)
		}
		idx = append(idx, i)
	}
	slices.Sort(idx)
	left := make([]PID, 0, len(idx))
	for k := len(idx) - 1; k >= 0; k-- {
		m := ms[idx[k]]
		m.p.removeHook(m.ref)
		ms = slices.Delete(ms, idx[k], idx[k]+1)
		left = append(left, m.p.id)
		g.n.table.Leave(m.p.id, g.scope, group)
	}
	g.setMembers(group, ms)
	slices.Reverse(left)
	g.notify(group, false, left)
	return nil
}

// exited removes the membership made with ref of a process that exited.
func (g *Groups) exited(group string, p *process, ref MonitorRef) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ms := g.members[group]
	i := slices.IndexFunc(ms, func(m groupMember) bool { return m.ref == ref })
	if i < 0 {
		return
	}
	g.setMembers(group, slices.Delete(ms, i, i+1))
	g.n.table.Leave(p.id, g.scope, group)
	g.notify(group, false, []PID{p.id})
}

func (g *Groups) setMembers(group string, ms []groupMember) {
	if len(ms) == 0 {
		delete(g.members, group)
	} else {
		g.members[group] = ms
	}
}

// notify tells group's watchers of a change; g.mu is held, so they see
// changes in order.
func (g *Groups) notify(group string, joined bool, pids []PID) {
	if len(pids) == 0 {
		return
	}
	for _, w := range g.watchers[group] {
		w.p.deliver(GroupChange{Ref: w.ref, Group: group, Joined: joined, PIDs: slices.Clone(pids)})
	}
}

// Members returns the members of group, in join order; a process joined
// twice is listed twice.
func (g *Groups) Members(group string) []PID {
	g.mu.Lock()
	defer g.mu.Unlock()
	ms := g.members[group]
	out := make([]PID, len(ms))
	for i, m := range ms {
		out[i] = m.p.id
	}
	return out
}

// Which returns the names of the groups that have members, sorted.
func (g *Groups) Which() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]string, 0, len(g.members))
	for k := range g.members {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

var groupRefs atomic.Uint64

// Monitor makes the calling process receive a [GroupChange] message at
// every join and leave of group, until it calls [Groups.Demonitor] or
// exits. It returns the monitor's ref and the members now.
func (g *Groups) Monitor(ctx context.Context, group string) (GroupRef, []PID, error) {
	p := self(ctx)
	if p == nil || p.node != g.n {
		return GroupRef{}, nil, fmt.Errorf("monitor group %q: %w", group, ErrNotProcess)
	}
	ref := GroupRef{groupRefs.Add(1)}
	g.mu.Lock()
	defer g.mu.Unlock()
	hook := p.newRef()
	if !p.addHook(hook, func(PID, error) { g.unwatch(group, ref) }) {
		return GroupRef{}, nil, fmt.Errorf("monitor group %q: %w", group, errNoProcFor(p.id))
	}
	g.watchers[group] = append(g.watchers[group], groupWatcher{ref: ref, p: p, hook: hook})
	ms := g.members[group]
	out := make([]PID, len(ms))
	for i, m := range ms {
		out[i] = m.p.id
	}
	return ref, out, nil
}

// Demonitor removes a group monitor; changes already delivered stay queued.
func (g *Groups) Demonitor(ref GroupRef) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for group, ws := range g.watchers {
		if i := slices.IndexFunc(ws, func(w groupWatcher) bool { return w.ref == ref }); i >= 0 {
			ws[i].p.removeHook(ws[i].hook)
			g.setWatchers(group, slices.Delete(ws, i, i+1))
			return
		}
	}
}

func (g *Groups) unwatch(group string, ref GroupRef) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ws := g.watchers[group]
	if i := slices.IndexFunc(ws, func(w groupWatcher) bool { return w.ref == ref }); i >= 0 {
		g.setWatchers(group, slices.Delete(ws, i, i+1))
	}
}

func (g *Groups) setWatchers(group string, ws []groupWatcher) {
	if len(ws) == 0 {
		delete(g.watchers, group)
	} else {
		g.watchers[group] = ws
	}
}
