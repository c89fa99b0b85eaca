package instrument

import (
	"fmt"
	"time"
)

// EventKind names a kind of lifecycle event.
type EventKind uint8

// The lifecycle events a table emits.
const (
	EventSpawned EventKind = iota
	EventExited
	EventRestarted
	EventUnresponsive
	EventLinked
	EventUnlinked
	EventMonitored
	EventDemonitored
	EventRegistered
	EventUnregistered
	EventJoined
	EventLeft
	EventBackoff
	EventGaveUp
	numEventKinds
)

var eventNames = [...]string{"spawned", "exited", "restarted", "unresponsive", "linked", "unlinked", "monitored", "demonitored", "registered", "unregistered", "joined", "left", "backoff", "gave_up"}

// String returns the event kind's lowercase name.
func (k EventKind) String() string {
	if k < numEventKinds {
		return eventNames[k]
	}
	return fmt.Sprintf("event(%d)", int(k))
}

// Event is a lifecycle event. Each kind is its own struct; switch on the
// concrete type to read its fields. Events carry IDs and names, never
// pointers into a live process.
type Event interface {
	Kind() EventKind
	// Subject is the process the event is about.
	Subject() PID
	// When is the moment the event happened.
	When() time.Time
}

// Spawned: a process started.
type Spawned struct {
	At       time.Time
	PID      PID
	Parent   PID
	Name     string
	ProcKind Kind
}

// Exited: a process returned. Err and Stack are empty for normal exits.
type Exited struct {
	At       time.Time
	PID      PID
	Parent   PID
	Name     string
	ProcKind Kind
	Reason   Reason
	Err      string // the exit error's text
	Stack    string // the panic's stack, for ReasonPanic
	// Late says the process had been reported [Unresponsive] (and
	// detached) before its goroutine returned: its exit was announced to
	// its peers then, and this only says the ghost is gone.
	Late bool
}

// Restarted: a supervisor replaced a child that exited. A failure that
// makes the supervisor restart several children (one_for_all,
// rest_for_one) is one restart in OTP's count and as many Restarted
// events, all with the same Cause: a reader counts a failure once, in the
// event whose Old is its Cause.
type Restarted struct {
	At         time.Time
	Supervisor PID
	Child      string // the child's ID in the supervisor
	Old, New   PID
	Count      uint32 // restarts of this child so far, this one included
	Reason     Reason // why the old incarnation exited
	// Cause is the child whose failure made the supervisor restart this
	// one (Old itself, under one_for_one), or 0 for a restart an operator
	// asked for, which is not a failure and not counted against the
	// restart intensity.
	Cause PID
}

// Failure reports whether the event is the one that counts its failure
// against the supervisor's restart intensity.
func (e Restarted) Failure() bool { return e.Cause != 0 && e.Cause == e.Old }

// GaveUp: a supervisor passed its restart intensity and is exiting with
// reason shutdown, as OTP's reached_max_restart_intensity: its parent
// decides what follows. The supervisor's own [Exited] follows it.
type GaveUp struct {
	At          time.Time
	PID         PID // the supervisor
	Name        string
	Parent      PID
	Failures    int // failures within Period, the last one included
	MaxRestarts int
	Period      time.Duration
	Child       string // the child whose failure was one too many
	ChildPID    PID
	Reason      Reason // why that child exited
	Err         string // its exit error's text
}

// Unresponsive: a process told to stop did not return within its shutdown
// timeout. The runtime detaches it, as OTP's brutal_kill leaves nothing
// behind: it loses its names, mailbox, links and monitors (peers hear of
// its exit now) and its supervisor may replace it at once. Its record
// stays in the table, with [StatusUnresponsive], until its goroutine
// returns; then [Exited] follows with Late set.
type Unresponsive struct {
	At     time.Time
	PID    PID
	Name   string
	Waited time.Duration
}

// Linked: two processes were linked (A asked).
type Linked struct {
	At   time.Time
	A, B PID
}

// Unlinked: a link was removed.
type Unlinked struct {
	At   time.Time
	A, B PID
}

// Monitored: Watcher now monitors Target.
type Monitored struct {
	At              time.Time
	Watcher, Target PID
}

// Demonitored: Watcher stopped monitoring Target.
type Demonitored struct {
	At              time.Time
	Watcher, Target PID
}

// Registered: PID took a name, or a key in a registry.
type Registered struct {
	At   time.Time
	PID  PID
	Name string // the name or key
	// Registry names the registry the key is in; "" for a node's own
	// names, which are also the process's display name.
	Registry string
}

// Unregistered: PID gave up a name or registry key, or exited holding it.
type Unregistered struct {
	At       time.Time
	PID      PID
	Name     string
	Registry string // as in [Registered]
}

// Joined: PID joined a process group (like Erlang's pg).
type Joined struct {
	At    time.Time
	PID   PID
	Group string
	Scope string // the group scope's name
}

// Left: PID left a process group, or exited while in it.
type Left struct {
	At    time.Time
	PID   PID
	Group string
	Scope string
}

// Backoff: a supervisor of an adapted runtime (suture) stopped restarting
// its children for a while after too many failures, or, with Resumed,
// started again.
type Backoff struct {
	At      time.Time
	PID     PID
	Name    string
	Resumed bool
}

func (Spawned) Kind() EventKind      { return EventSpawned }
func (Exited) Kind() EventKind       { return EventExited }
func (Restarted) Kind() EventKind    { return EventRestarted }
func (Unresponsive) Kind() EventKind { return EventUnresponsive }
func (Linked) Kind() EventKind       { return EventLinked }
func (Unlinked) Kind() EventKind     { return EventUnlinked }
func (Monitored) Kind() EventKind    { return EventMonitored }
func (Demonitored) Kind() EventKind  { return EventDemonitored }
func (Registered) Kind() EventKind   { return EventRegistered }
func (Unregistered) Kind() EventKind { return EventUnregistered }
func (Joined) Kind() EventKind       { return EventJoined }
func (Left) Kind() EventKind         { return EventLeft }
func (Backoff) Kind() EventKind      { return EventBackoff }
func (GaveUp) Kind() EventKind       { return EventGaveUp }

func (e Spawned) Subject() PID      { return e.PID }
func (e Exited) Subject() PID       { return e.PID }
func (e Restarted) Subject() PID    { return e.Supervisor }
func (e Unresponsive) Subject() PID { return e.PID }
func (e Linked) Subject() PID       { return e.A }
func (e Unlinked) Subject() PID     { return e.A }
func (e Monitored) Subject() PID    { return e.Watcher }
func (e Demonitored) Subject() PID  { return e.Watcher }
func (e Registered) Subject() PID   { return e.PID }
func (e Unregistered) Subject() PID { return e.PID }
func (e Joined) Subject() PID       { return e.PID }
func (e Left) Subject() PID         { return e.PID }
func (e Backoff) Subject() PID      { return e.PID }
func (e GaveUp) Subject() PID       { return e.PID }

func (e Spawned) When() time.Time      { return e.At }
func (e Exited) When() time.Time       { return e.At }
func (e Restarted) When() time.Time    { return e.At }
func (e Unresponsive) When() time.Time { return e.At }
func (e Linked) When() time.Time       { return e.At }
func (e Unlinked) When() time.Time     { return e.At }
func (e Monitored) When() time.Time    { return e.At }
func (e Demonitored) When() time.Time  { return e.At }
func (e Registered) When() time.Time   { return e.At }
func (e Unregistered) When() time.Time { return e.At }
func (e Joined) When() time.Time       { return e.At }
func (e Left) When() time.Time         { return e.At }
func (e Backoff) When() time.Time      { return e.At }
func (e GaveUp) When() time.Time       { return e.At }
