package observer

import (
	"time"

	"github.com/go-observer/observer/instrument"
)

// This file holds the view types: plain, immutable values that the observer
// hands out and that a dashboard renders. Every field has a snake_case JSON
// name. Durations encode as integer nanoseconds; rates are per second;
// fractions are 0..1. Kinds and statuses are the snake_case names of
// [instrument.Kind] and [instrument.Status].

// Snapshot is the observer's picture of the system at one tick. A snapshot
// is never modified once published: readers may keep it and share it between
// goroutines, and must not modify it either.
type Snapshot struct {
	Tick     uint64        `json:"tick"`     // 1 for the first tick, then one more per tick
	At       time.Time     `json:"at"`       // when the tick ran
	Interval time.Duration `json:"interval"` // the sampler's tick
	System   System        `json:"system"`
	// Processes are the hot processes: the top of each sort key, watched
	// processes and the subjects of findings, at most a few times
	// Options.TopN. Use [Snapshot.Query] to sort and filter them, and
	// [Observer.Processes] to search every live process.
	Processes []Process `json:"processes"`
	Tree      Tree      `json:"tree"`
	Findings  []Finding `json:"findings"` // most severe first
	// CPU is the newest CPU profile, if one was taken.
	CPU *CPUProfile `json:"cpu,omitempty"`
	// Census is the newest goroutine census, if one was taken.
	Census *Census `json:"census,omitempty"`
	// EventSeq is the sequence number of the newest event: pass it to
	// [Observer.Events] to read what happens next.
	EventSeq uint64 `json:"event_seq"`
	// Events is what the events view shows of the event log as of the
	// tick: the newest events, the pinned ones, the timeline's counts.
	Events EventTail `json:"events"`
	// TopN is the Options.TopN the snapshot was built with: Processes
	// holds the top TopN of every sort key for which [SortKey.Top] holds,
	// so a query of at most TopN rows by such a key is answered exactly.
	TopN int `json:"top_n"`

	// What dashboards look at, answered by the sampler so that a view is
	// a function of the snapshot alone.

	// Watched holds the detail of every process passed to
	// [Observer.Watch], in PID order: live, or exited and remembered
	// (then its Exit is set). A process watched since the latest tick
	// is not in it yet.
	Watched []ProcessDetail `json:"watched,omitempty"`
	// Answers are the answers to the standing queries
	// ([Observer.Follow]), in no order. Use [Snapshot.Answer] to find one.
	Answers []Answer `json:"answers,omitempty"`
	// Catalog is the owned tables and the registries, while a dashboard
	// watches them ([Observer.WatchCatalog]); nil otherwise.
	Catalog *Catalog `json:"catalog,omitempty"`
	// Traces are the execution traces saved when findings turned on
	// (Options.FlightRecorder), newest first; shared, not to be modified.
	// A moment of the history ([Observer.At]) holds none.
	Traces []TraceEvidence `json:"traces,omitempty"`
}

// Answer is the answer to a [Query] at one tick.
type Answer struct {
	Query     Query     `json:"query"`
	Processes []Process `json:"processes"`
	// Scanned says the answer comes from a pass over every live process;
	// otherwise from the tick's top lists, which answer exactly a query
	// without Match of at most TopN rows by a key the sampler ranks.
	Scanned bool `json:"scanned"`
	// Partial says the answer holds only the hot processes that match:
	// the query is not answered by the sampler (yet), and the top lists
	// do not answer it exactly. Only [Snapshot.Answer] returns one.
	Partial bool `json:"partial,omitempty"`
	// Tick and At are when the answer was computed. A scan of a program
	// of more than ScanAll processes is refreshed every ScanEvery ticks,
	// not every tick: then they are older than the snapshot's.
	Tick uint64    `json:"tick"`
	At   time.Time `json:"at"`
}

// Exit is how a process ended, as the observer remembers it.
type Exit struct {
	At     time.Time `json:"at"`               // when it exited; zero when not known
	Reason string    `json:"reason,omitempty"` // normal, shutdown, killed, panic, error; empty when not known (its event was dropped)
	Error  string    `json:"error,omitempty"`  // the exit error's text
	// Child is its child ID in its supervisor, when a restart named it.
	Child string `json:"child,omitempty"`
	// Successor is the live process that does its job now, if any: the
	// new incarnation its supervisor started for the same child ID (a
	// fact the runtime reports), or the process that took its registered
	// name. Incarnations that exited in turn are followed to the live
	// one. A name alone is not matched: tasks and dynamic children share
	// names without being each other's incarnations.
	Successor     instrument.PID `json:"successor,omitempty"`
	SuccessorName string         `json:"successor_name,omitempty"`
	// Logged says that only the event log still holds the process (the
	// observer remembers the last exits, and a busy program pushes them
	// out): how it ended is known, its last numbers are not.
	Logged bool `json:"logged,omitempty"`
}

// Catalog is the owned tables and the registries of a program.
type Catalog struct {
	// Tables are the live owned tables, biggest first (ties by name), at
	// most MaxCatalogTables of them; TableCount counts them all.
	Tables     []OwnedTable `json:"tables"`
	TableCount int          `json:"table_count"`
	// Registries are the registries and process-group scopes, in the
	// order the runtimes added them.
	Registries []Registry `json:"registries"`
}

// OwnedTable describes an owned table (the ETS pattern).
type OwnedTable struct {
	Name   string         `json:"name"`
	Owner  instrument.PID `json:"owner"`
	Size   int            `json:"size"`   // entries now
	Reads  uint64         `json:"reads"`  // lookups ever made, from any goroutine
	Writes uint64         `json:"writes"` // inserts and deletes ever made, by the owner
}

// Registry is a registry or a scope of process groups, with its first
// keys.
type Registry struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`    // "unique", "duplicate" (registries) or "groups"
	Keys    int    `json:"keys"`    // keys, or groups, in use
	Entries int    `json:"entries"` // registrations, or memberships
	// Held are the first RegistryShown entries, by key.
	Held []RegistryKey `json:"held"`
}

// RegistryKey is one key (or group) held by one process.
type RegistryKey struct {
	Key string         `json:"key"`
	PID instrument.PID `json:"pid"`
}

// System is the load of the whole program and the table's totals.
type System struct {
	Processes     int64  `json:"processes"`      // live processes
	Spawned       uint64 `json:"spawned"`        // processes ever spawned
	Exited        uint64 `json:"exited"`         // processes ever exited
	Unresponsive  int64  `json:"unresponsive"`   // processes that did not stop when told
	EventsDropped uint64 `json:"events_dropped"` // lifecycle events lost by full buffers
	Supervisors   int    `json:"supervisors"`    // live supervisors of any kind
	Messages      uint64 `json:"messages"`       // messages handled by all processes, ever (as far as seen)
	// Kinds counts the live processes by kind, most first (ties by
	// kind), as the latest scan saw them: every process, exactly.
	Kinds []KindCount `json:"kinds"`
	// Now is the newest sample; Load holds the recent samples, oldest
	// first, at most Options.History of them.
	Now  SystemSample   `json:"now"`
	Load []SystemSample `json:"load"`
}

// KindCount is how many live processes are of one kind.
type KindCount struct {
	Kind  string `json:"kind"`
	Count int    `json:"count"`
}

// SystemSample is the program's load at one tick, read from runtime/metrics
// and the process table.
type SystemSample struct {
	At         time.Time `json:"at"`
	Goroutines int64     `json:"goroutines"` // all goroutines in the program
	Processes  int64     `json:"processes"`  // live processes in the table
	// Unowned estimates goroutines that belong to no process: goroutines
	// minus processes, never below zero. The census counts them exactly.
	Unowned      int64         `json:"unowned"`
	HeapBytes    uint64        `json:"heap_bytes"`    // bytes in live and unswept heap objects
	HeapGoal     uint64        `json:"heap_goal"`     // the heap size at which the next GC starts
	GCCycles     uint64        `json:"gc_cycles"`     // GC cycles completed during the tick
	GCPauseMax   time.Duration `json:"gc_pause_max"`  // the longest GC stop-the-world pause during the tick (bucket upper bound)
	SchedLatency time.Duration `json:"sched_latency"` // 99th percentile of the time goroutines waited to run, during the tick
	CPUUsed      float64       `json:"cpu_used"`      // CPU used by the program during the tick, in cores (getrusage; the runtime's estimate where there is none)
	MessageRate  float64       `json:"message_rate"`  // messages handled per second by all processes
	BusyServers  int           `json:"busy_servers"`  // processes at least 90 % busy
	QueuedTotal  uint64        `json:"queued_total"`  // messages waiting in all mailboxes
	WaitingTotal uint64        `json:"waiting_total"` // callers waiting for a reply, all processes
}

// Process is what the observer derives about one live process at a tick.
type Process struct {
	PID       instrument.PID `json:"pid"`
	Name      string         `json:"name,omitempty"`
	Kind      string         `json:"kind"`
	Status    string         `json:"status"`
	Parent    instrument.PID `json:"parent,omitempty"`
	Behaviour string         `json:"behaviour,omitempty"`
	Started   time.Time      `json:"started"`

	Depth    uint64  `json:"depth"`    // messages queued
	Growth   float64 `json:"growth"`   // change of depth per second; negative while draining
	Arrival  float64 `json:"arrival"`  // messages enqueued per second
	Handling float64 `json:"handling"` // messages handled per second
	// CastShare is the share of arrivals that were casts (not calls), over
	// the latest tick that had arrivals: 1 for a mailbox fed only by casts.
	CastShare float64 `json:"cast_share"`
	Busy      float64 `json:"busy"` // share of the tick spent in handlers, 0..1
	// HeadAge is roughly how long the oldest queued message has waited:
	// from the mailbox's head stamp when it has one, else a lower bound
	// (the queue has been non-empty and not drained since then).
	HeadAge   time.Duration  `json:"head_age"`
	Waiting   uint64         `json:"waiting"`              // callers waiting for this process's reply
	BlockedOn instrument.PID `json:"blocked_on,omitempty"` // whom this process waits on in a call
	Handled   uint64         `json:"handled"`              // messages handled, ever

	Restarts uint32 `json:"restarts"` // restarts of this child (or, for a supervisor, restarts it made)
	// RestartBudget is the share of the supervisor's restart intensity
	// (MaxRestarts in Period) used in the current period: of its own for a
	// supervisor, of its supervisor's for a child. 1 means at the limit.
	RestartBudget float64 `json:"restart_budget"`
	// Supervisor is the restart policy of a supervisor, or nil.
	Supervisor *Policy `json:"supervisor,omitempty"`

	// CPU and CPUShare come from the newest CPU profile; Goroutines from the
	// newest census. They are zero until one is taken.
	CPU        time.Duration `json:"cpu"`
	CPUShare   float64       `json:"cpu_share"`
	Goroutines int           `json:"goroutines"`
}

// Policy is a supervisor's restart policy.
type Policy struct {
	Strategy    string        `json:"strategy"`
	MaxRestarts int           `json:"max_restarts"`
	Period      time.Duration `json:"period"`
	MaxChildren int           `json:"max_children,omitempty"`
}

// ProcessDetail is everything the observer knows about one process.
type ProcessDetail struct {
	Process
	Links    []instrument.PID `json:"links"`
	Monitors []instrument.PID `json:"monitors"`
	// Children are the oldest live children, at most Options.TreeFanout
	// of them, in PID order, as the latest tick saw them.
	Children []instrument.PID `json:"children"`
	// ChildCount is the number of live children, all of them.
	ChildCount int `json:"child_count"`
	// Supervised says whether the parent is a supervisor: it restarts the
	// process after a kill, by the child's restart type, and can restart
	// it on request.
	Supervised bool      `json:"supervised"`
	Findings   []Finding `json:"findings"`
	// Watched says whether the observer keeps History for the process:
	// it does for processes passed to [Observer.Watch] and for hot ones.
	Watched bool            `json:"watched"`
	History []ProcessSample `json:"history"` // oldest first
	// Exit is set for a process that has exited: how and when, and who
	// does its job now. Its numbers, findings and history are then the
	// last the observer saw; it has no links, monitors or children.
	Exit *Exit `json:"exit,omitempty"`
	// Wall is where the process spent its wall time lately, while it is
	// sampled (see [Observer.WallTime]); nil otherwise.
	Wall *WallProfile `json:"wall,omitempty"`
}

// ProcessSample is one tick of a watched process's history.
type ProcessSample struct {
	At       time.Time     `json:"at"`
	Depth    uint64        `json:"depth"`
	Arrival  float64       `json:"arrival"`
	Handling float64       `json:"handling"`
	Busy     float64       `json:"busy"`
	Waiting  uint64        `json:"waiting"`
	HeadAge  time.Duration `json:"head_age"`
}

// Tree is the supervision tree: who started whom, plus link and monitor
// edges between the processes shown. Big fan-outs are folded: a parent
// lists at most Options.TreeFanout children (the oldest, plus any hot one:
// busy, queued or the subject of a finding) and counts the rest in Folded;
// the tree holds at most Options.TreeNodes nodes and the hot ones.
type Tree struct {
	Nodes []TreeNode `json:"nodes"` // parents before their children
	// FoldedRoots counts root processes (no live parent) not listed.
	FoldedRoots int    `json:"folded_roots"`
	Links       []Edge `json:"links"`
	Monitors    []Edge `json:"monitors"`
	// Waits are the wait-for edges between the tree's nodes: From waits
	// in a call on To. Sorted by From, then To.
	Waits []Edge `json:"waits"`
}

// TreeNode is one process in the tree.
type TreeNode struct {
	PID      instrument.PID `json:"pid"`
	Parent   instrument.PID `json:"parent,omitempty"` // 0 for a root
	Name     string         `json:"name,omitempty"`
	Kind     string         `json:"kind"`
	Status   string         `json:"status"`
	Busy     float64        `json:"busy"`
	Depth    uint64         `json:"depth"`
	Restarts uint32         `json:"restarts"`
	Waiting  uint64         `json:"waiting"` // callers waiting for its reply, listed in the tree or not
	Finding  Severity       `json:"finding"` // the most severe finding about it, or SeverityNone
	// Slot orders siblings: they are listed in the order their
	// supervisor first started them, and a restarted child keeps its
	// predecessor's place. It is the PID of the child's first
	// incarnation.
	Slot     instrument.PID `json:"slot"`
	Children int            `json:"children"` // live children, listed or not
	Folded   int            `json:"folded"`   // children not listed as nodes
	// Supervisor is the restart policy of a supervisor, or nil; it never
	// changes and is shared between snapshots.
	Supervisor *Policy `json:"supervisor,omitempty"`
	// RestartBudget is a supervisor's share of its restart intensity
	// used in the current period, as in [Process]; 0 for other nodes.
	RestartBudget float64 `json:"restart_budget,omitempty"`
}

// Edge joins two processes: a link (both ways) or a monitor (From watches To).
type Edge struct {
	From instrument.PID `json:"from"`
	To   instrument.PID `json:"to"`
}

// Finding is one thing the advisor found wrong, with the numbers behind it
// and what an experienced OTP engineer would do about it. A finding appears
// when its condition passes an "on" level and clears only below a lower
// "off" level, so it does not flap.
type Finding struct {
	ID       string         `json:"id"` // stable while the finding lasts: kind/pid
	Kind     FindingKind    `json:"kind"`
	Severity Severity       `json:"severity"`
	PID      instrument.PID `json:"pid"` // the subject: the process to look at
	Name     string         `json:"name,omitempty"`
	Since    time.Time      `json:"since"`
	Summary  string         `json:"summary"`  // one line: what is wrong
	Evidence []Evidence     `json:"evidence"` // the numbers
	Advice   string         `json:"advice"`   // what to do, in OTP terms
	// Chain is the wait-for chain of a KindWaitChain or KindDeadlock
	// finding, from the first waiter to the root cause.
	Chain []instrument.PID `json:"chain,omitempty"`
	// Site is the subject of a finding about goroutines outside any
	// process (KindGoroutineLeak), whose PID is 0: where they were started
	// ("creator at file:line"), or the function they run when that is
	// not known; for KindMutexContention and KindChannelBlocked, the
	// program's line where they wait ("(*cache).get cache.go:42").
	Site string `json:"site,omitempty"`
	// Stack is the current stack of the subject's goroutine, for a
	// KindStuck finding: where its handler is stuck. It is read once, soon
	// after the finding appears, and truncated to a few KB; empty until
	// then, and when the goroutine carries no process label.
	Stack string `json:"stack,omitempty"`
}

// Evidence is one number behind a finding.
type Evidence struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit,omitempty"` // "1/s", "s", "%", "messages", …
}

// LogEntry is one entry of the observer's event log: a crash report, a
// restart, an unresponsive process, a supervisor giving up, a linked task
// taking its caller down, or an unresponsive process finally returning.
// Fields that do not apply to the kind are empty.
type LogEntry struct {
	Seq      uint64         `json:"seq"` // increases by one per event
	At       time.Time      `json:"at"`
	Kind     LogKind        `json:"kind"`
	PID      instrument.PID `json:"pid"`
	Name     string         `json:"name,omitempty"`
	ProcKind string         `json:"proc_kind,omitempty"`
	// Supervisor is the parent of a crashed process, the supervisor that
	// restarted a child, or the parent of a supervisor that gave up.
	Supervisor     instrument.PID `json:"supervisor,omitempty"`
	SupervisorName string         `json:"supervisor_name,omitempty"`
	// Reason and Error say why the process exited; for EventGaveUp, why
	// the child whose failure was one too many did.
	Reason string `json:"reason,omitempty"` // normal, shutdown, killed, panic, error
	Error  string `json:"error,omitempty"`
	Stack  string `json:"stack,omitempty"`
	// Child is the child ID of a restart, or of the child whose failure
	// made a supervisor give up; NewPID the new incarnation of a restart.
	// A crash report carries neither: the restart that follows it is its
	// own event.
	Child  string         `json:"child,omitempty"`
	NewPID instrument.PID `json:"new_pid,omitempty"`
	// Restarts counts restarts of the child so far, the one this event
	// reports included; for EventGaveUp, the failures within the
	// supervisor's period, the last one included.
	Restarts uint32 `json:"restarts,omitempty"`
	// Waited is how long an unresponsive process was waited for before
	// it was reported; for EventExitedLate, how long after that report
	// its goroutine returned.
	Waited time.Duration `json:"waited,omitempty"`
	// Cause is the process whose exit brought this one down (linked
	// tasks), whose failure made the supervisor restart this child (a
	// sibling's, under one_for_all or rest_for_one), or whose failure
	// made a supervisor give up.
	Cause instrument.PID `json:"cause,omitempty"`
}

// EventPage is a slice of the event log.
type EventPage struct {
	Events []LogEntry `json:"events"`
	// Next is the cursor for the following call: the Seq of the last event
	// returned, or the cursor passed in when none was.
	Next uint64 `json:"next"`
	// Missed counts events after the cursor that the bounded log no longer
	// holds.
	Missed uint64 `json:"missed"`
}

// CPUProfile is CPU time attributed to processes through the otp.pid pprof
// label.
type CPUProfile struct {
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration"` // how long the profile ran
	Total    time.Duration `json:"total"`    // CPU time sampled in the whole program
	// Unattributed is CPU time of goroutines that belong to no process
	// (and of the runtime).
	Unattributed time.Duration `json:"unattributed"`
	Processes    []ProcessCPU  `json:"processes"` // by CPU, most first
}

// ProcessCPU is one process's share of a CPU profile.
type ProcessCPU struct {
	PID   instrument.PID `json:"pid"`
	Name  string         `json:"name,omitempty"`
	Kind  string         `json:"kind,omitempty"` // empty when the process has exited
	CPU   time.Duration  `json:"cpu"`            // CPU time of its own goroutine
	Share float64        `json:"share"`          // CPU / Total
	// Subtree is the CPU time of the process and every live descendant.
	Subtree      time.Duration `json:"subtree"`
	SubtreeShare float64       `json:"subtree_share"`
}

// Census counts goroutines by owner, from the goroutine profile.
type Census struct {
	At      time.Time `json:"at"`
	Total   int       `json:"total"`   // goroutines in the program
	Owned   int       `json:"owned"`   // goroutines labelled with a process ID
	Unowned int       `json:"unowned"` // goroutines that belong to no process, the observer's own aside
	// Own counts the goroutines of the observer itself and of the
	// dashboards built on it (its sampler, a dashboard's websocket
	// connections): those labelled [LabelRole], and those running this
	// package's functions. They are neither processes nor the
	// application's: they are no site and never a leak. Total is Owned +
	// Unowned + Own.
	Own int `json:"own"`
	// Processes lists the processes with the most goroutines, most first,
	// at most Options.TopN of them.
	Processes []ProcessGoroutines `json:"processes"`
	// Sites groups unowned goroutines (not the observer's own) by the
	// function they run and where they were created, most first.
	Sites []Site `json:"sites"`
}

// ProcessGoroutines is the number of goroutines carrying one process's label.
type ProcessGoroutines struct {
	PID        instrument.PID `json:"pid"`
	Name       string         `json:"name,omitempty"`
	Goroutines int            `json:"goroutines"`
}

// Site is where unowned goroutines were started.
type Site struct {
	Function string `json:"function"` // the function the goroutines run
	// CreatedBy is the go statement's function and file:line, when known.
	// It is read from the text goroutine dump the first time a census sees
	// goroutines run the function, and only while the program has at most
	// 10,000 goroutines; later censuses reuse it.
	CreatedBy string `json:"created_by"`
	Count     int    `json:"count"`
	Growth    int    `json:"growth"` // change since the previous census
}

// Query selects, sorts and limits processes. The zero Query lists every
// process by mailbox depth, deepest first.
type Query struct {
	Sort SortKey `json:"sort"`
	// Match keeps processes whose name, PID (as <0.42.0> or 42) or kind
	// contains it, ignoring case. Empty keeps all.
	Match string `json:"match,omitempty"`
	// Parent, when not 0, keeps only the children of that process.
	Parent instrument.PID `json:"parent,omitempty"`
	// Limit caps the result; 0 means no limit.
	Limit int `json:"limit,omitempty"`
}

// Severity ranks findings.
type Severity uint8

// Severities, least severe first.
const (
	SeverityNone     Severity = iota // no finding
	SeverityInfo                     // worth knowing: a design smell, no harm yet
	SeverityWarning                  // hurting latency or heading for trouble
	SeverityCritical                 // failing now: lost work, stuck callers, crashes
	numSeverities
)

var severityNames = [...]string{"none", "info", "warning", "critical"}

// String returns the severity's lowercase name.
func (s Severity) String() string { return enumString(severityNames[:], int(s), "severity") }

// MarshalText encodes the severity as its name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a severity from its name.
func (s *Severity) UnmarshalText(b []byte) error {
	i, err := enumParse(severityNames[:], string(b), "severity")
	*s = Severity(i)
	return err
}

// FindingKind names what the advisor found.
type FindingKind uint8

// The kinds of finding.
const (
	KindBottleneck      FindingKind = iota // a server near 100 % busy with a growing queue or waiting callers
	KindCastFlood                          // a mailbox growing without bound, fed by casts
	KindWaitChain                          // callers pile up behind a chain of calls; the subject is the root cause
	KindDeadlock                           // processes call each other in a cycle
	KindReadHeavy                          // many callers, short handlers: reads could bypass the server
	KindRestartStorm                       // a supervisor near or past its restart intensity
	KindUnresponsive                       // a process that did not stop when told
	KindLinkedTask                         // a linked task failed and took its caller down
	KindGoroutineLeak                      // goroutines outside any supervision keep growing
	KindStuck                              // a process inside one handler for longer than Options.StuckAfter
	KindMutexContention                    // goroutines pile up waiting on a mutex at one line of the program
	KindChannelBlocked                     // goroutines pile up blocked sending on a channel at one line
	numFindingKinds
)

var findingNames = [...]string{"bottleneck", "cast_flood", "wait_chain", "deadlock", "read_heavy", "restart_storm", "unresponsive", "linked_task", "goroutine_leak", "stuck", "mutex_contention", "channel_blocked"}

// String returns the kind's snake_case name.
func (k FindingKind) String() string { return enumString(findingNames[:], int(k), "finding") }

// MarshalText encodes the kind as its name.
func (k FindingKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText decodes a kind from its name.
func (k *FindingKind) UnmarshalText(b []byte) error {
	i, err := enumParse(findingNames[:], string(b), "finding kind")
	*k = FindingKind(i)
	return err
}

// LogKind names an entry of the event log.
type LogKind uint8

// The kinds of event the observer logs.
const (
	EventCrash        LogKind = iota // a process exited abnormally: a crash report
	EventRestart                     // a supervisor restarted a child
	EventUnresponsive                // a process did not stop when told
	EventGaveUp                      // a supervisor exceeded its restart intensity and exited
	EventTakenDown                   // a process exited because a linked task failed
	EventExitedLate                  // a process reported unresponsive (and detached) finally returned
	numEventKinds
)

var eventNames = [...]string{"crash", "restart", "unresponsive", "gave_up", "taken_down", "exited_late"}

// String returns the kind's snake_case name.
func (k LogKind) String() string { return enumString(eventNames[:], int(k), "event") }

// MarshalText encodes the kind as its name.
func (k LogKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText decodes a kind from its name.
func (k *LogKind) UnmarshalText(b []byte) error {
	i, err := enumParse(eventNames[:], string(b), "event kind")
	*k = LogKind(i)
	return err
}

// EventQuery selects events from the log. The zero EventQuery returns
// every event the log still holds, oldest first.
type EventQuery struct {
	Since uint64         `json:"since"`           // return events with Seq > Since
	Limit int            `json:"limit,omitempty"` // at most this many; 0 means all
	Kinds []LogKind      `json:"kinds,omitempty"` // only these kinds; empty means all
	PID   instrument.PID `json:"pid,omitempty"`   // only events about this process (or by this supervisor); 0 means all
	// Proc keeps events about a process: one whose PID it is (<0.42.0>
	// or 42; a restart's old or new one), or whose name or child ID
	// contains it, ignoring case. Empty keeps all.
	Proc string `json:"proc,omitempty"`
	// Sup keeps events of a supervisor: the crashes of its children, its
	// restarts, its giving up; by PID or a part of its name, as Proc.
	Sup string `json:"sup,omitempty"`
	// Text keeps events whose kind, name, child, supervisor's name,
	// reason or error contains it, ignoring case.
	Text string `json:"text,omitempty"`
}
