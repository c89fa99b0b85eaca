package ui

import "github.com/a-h/templ"

// View structs: what the components render. The web package builds them
// from observer values; components only print them.

// PageView is what every page's layout needs.
type PageView struct {
	App     string // Options.Title
	Title   string // the page's own title
	Root    string // relative path to the handler's root, ending in "/"
	Nav     string // the active navigation entry
	View    string // the websocket view the page asks for
	Attrs   map[string]string
	Status  StatusView
	Actions bool
	Links   []Link // the application's own pages, after the dashboard's
	// Recording is set when the dashboard replays a recording.
	Recording *RecordingView
}

// Link is a navigation entry that leads out of the dashboard.
type Link struct {
	Text, Href string
}

// StatusView is the header's live summary.
type StatusView struct {
	Tick      uint64
	Processes string
	Critical  int
	Warning   int
	Info      int
	Starting  bool // no tick yet
}

// Stat is one headline number with its label and a hint; Level is "", "warn" or "crit".
type Stat struct {
	Label, Value, Hint string
	TestID             string
	Level              string // "", "warn" or "crit"
}

// KindCount is how many processes have one kind.
type KindCount struct {
	Kind  string
	Count string
}

// PidRef links to a process: its PID, its name (or PID) as text, and a title.
type PidRef struct {
	PID   uint64
	Text  string // name or <0.N.0>, cut if long
	Title string // <0.N.0> and kind
	Full  string // the name, when Text is cut
}

// Hover is the link's title: the full name when the text is cut, the PID
// and kind.
func (r PidRef) Hover() string {
	if r.Full == "" {
		return r.Title
	}
	return r.Full + " · " + r.Title
}

// EvidenceView is one number behind a finding, formatted.
type EvidenceView struct{ Name, Value string }

// FindingView is an advisor finding, formatted.
type FindingView struct {
	ID       string
	Kind     string
	Severity string
	Subject  PidRef
	Summary  string // cut if long
	Advice   string // cut if long
	Since    string

	SummaryFull, AdviceFull string // the text, when cut
	Evidence                []EvidenceView
	Chain                   []PidRef
	// Past is set for a finding about a process that has exited: when it
	// was last on ("was on until it exited, 2m ago"). It is shown greyed.
	Past string
}

// OverviewView is the overview page.
type OverviewView struct {
	PageView
	Stats    []Stat
	Kinds    []KindCount
	KindNote string
	Findings []FindingView
	More     int
}

// TreeView is the tree page; the tree itself comes over the websocket.
type TreeView struct {
	PageView
	Alerts []FindingView
}

// ProcRow is one row of the process table; Heat grades its load 0..5.
type ProcRow struct {
	PID      uint64
	PIDText  string
	Name     string // cut if long
	FullName string // the name, when Name is cut
	Kind     string
	Status   string
	Depth    string
	Growth   string
	Rate     string
	Busy     int
	CPU      string
	Restarts string
	Waiting  string
	Heat     int
	Finding  string // worst severity, or ""
}

// SortLink is a sortable column header.
type SortLink struct {
	Key, Label, Href string
	Active           bool
}

// ProcTable is the process table and what it was drawn from.
type ProcTable struct {
	Sort    string
	Query   string
	Limit   int
	Rows    []ProcRow
	Sorts   []SortLink
	Live    string // live processes in the program
	Scope   string // what the rows are drawn from
	Message string // empty state
}

// ProcessesView is the processes page.
type ProcessesView struct {
	PageView
	Table ProcTable
}

// ProcInfo is a process's identity and numbers; Found is false for a
// process the observer neither sees nor remembers.
type ProcInfo struct {
	Found     bool
	PID       uint64
	PIDText   string
	Name      string // cut if long
	FullName  string // the whole name (up to 16 KiB), when Name is cut
	NameLen   string // how many characters the whole name has, when cut
	Kind      string
	Status    string
	Behaviour string
	Started   string
	Parent    *PidRef
	Heat      int
	Policy    string
	Metrics   []Stat
	// Exited is set for a process that has exited: then Status is
	// "exited", ExitText says how and when ("exited killed 2m ago"),
	// ExitError is its error, if any, and Successor the process doing
	// its job now, if one is live.
	Exited       bool
	ExitText     string
	ExitError    string
	Successor    *PidRef
	SuccessorPID string // <0.N.0>
	// TreeOnly says, at a moment of the past, that the history kept only
	// the tree's numbers for the process (no rates, samples or wall time).
	TreeOnly string
}

// RelView is a process's relations.
type RelView struct {
	Links      []PidRef
	Monitors   []PidRef
	Children   []PidRef
	ChildCount int
	BlockedOn  *PidRef
	WaitedBy   []PidRef
	Waiting    uint64
	Exited     bool // it has exited: it has no relations left
}

// ActionView is a button for one action on a process.
type ActionView struct {
	Name, Label, Confirm string
	Danger               bool
}

// ProcessView is the process page.
type ProcessView struct {
	PageView
	Info     ProcInfo
	Rel      RelView
	Findings []FindingView
	Actions  []ActionView
	Note     string // why actions are absent
	Wall     WallView
}

// WallView is where a process spends its wall time: the top frames of
// its goroutines' stack samples, while they are sampled.
type WallView struct {
	Sampled bool   // false: not sampled now; Note says when it is
	Note    string // how many samples over how long, or when sampling happens
	OnCPU   string // "12 % on CPU, 88 % waiting"
	Rows    []WallRow
}

// WallRow is one frame of a WallView.
type WallRow struct {
	Share   string // "94 %"
	Percent int    // 0..100, for the meter
	Where   string // "time.Sleep ← (*priceServer).HandleCall shop.go:190"
	Path    string // the full path and line, on hover
	State   string // "running", "sleep", "mutex", …
	OnCPU   bool
}

// AdvisorView is the advisor page.
type AdvisorView struct {
	PageView
	Findings []FindingView
	Traces   []TraceView // execution traces saved when findings turned on (traces.templ)
}

// EventView is one entry of the event log, formatted.
type EventView struct {
	Seq        uint64
	Clock      string
	Ago        string
	Kind       string // for people: "gave up"
	Class      string // for the stylesheet and tests: "gave_up"
	Subject    PidRef // the process, by name
	PIDText    string // its PID, shown beside the name: <0.42.0>
	Supervisor *PidRef
	Child      string // cut if long
	ChildFull  string // the child's name, when cut
	// Old and New are a restart's incarnations, each linked by its PID;
	// Name is the child's name, shown beside them.
	Old, New  *PidRef
	Name      string
	Reason    string
	Error     string // cut if long
	FullError string // the message (up to 16 KiB), when Error is cut
	Stack     string
	Restarts  uint32
	Cause     *PidRef
	Waited    string
}

// EventRow is one row of the events list: an event, or a group of
// identical ones shown by their newest.
type EventRow struct {
	EventView               // the newest event of the group
	Count     int           // events in the group; 1 for a single event
	Label     string        // what failed or restarted, for a group: a name, or a kind ("task")
	LabelFull string        // the label, when cut
	First     string        // when the oldest of the group happened: "4m12s ago"
	GroupID   string        // the id of the group's details element, stable from tick to tick
	Members   []EventMember // the group's events, newest first, at most a few dozen
	More      int           // members not listed
}

// EventMember is one event of a group: when, and which process (a
// restart: from which to which).
type EventMember struct {
	Clock string
	Proc  PidRef
	New   *PidRef
}

// EventList is the events list: its rows, newest first, and what it is
// a list of.
type EventList struct {
	Rows      []EventRow
	Events    int    // events in the rows, groups counted in full
	Scope     string // what the list holds: "the newest 300 events"
	Older     string // the events older than the list; "" if none
	OlderHref string // where to read them: api/events with the filters
	Error     string // what was wrong with the filter; the others still apply
	Active    string // the filters in force, "kind=crash, sup=checkout"; "" when none
}

// EventFilterView is the filter form: the values as typed, and the kinds
// to choose from.
type EventFilterView struct {
	Kind, Proc, Sup, Q string
	Kinds              []Option
	Invalid            string // the parameter that was wrong, for aria-invalid
}

// Option is a choice of a select element.
type Option struct {
	Value, Label string
	Selected     bool
}

// TimelineMark is one bar of the timeline strip: X and W in percent of
// its width, Y and H in pixels.
type TimelineMark struct {
	X, W, Y, H string
	Kind       string // crash, restart, gave_up, unresponsive
	Title      string
}

// TimelineView is the strip of the last minutes' crashes and restarts.
type TimelineView struct {
	Window   string
	Marks    []TimelineMark
	Crashes  int
	Restarts int
	GaveUp   int
}

// EventsView is the events page.
type EventsView struct {
	PageView
	Filter    EventFilterView
	Pinned    []EventView
	PinnedFor string
	List      EventList
	Timeline  TimelineView
}

// CPURow is one process's share of a CPU profile.
type CPURow struct {
	Proc         PidRef
	Kind         string
	CPU          string
	Share        int
	ShareHeat    int // Share on the load colour scale
	Subtree      string
	SubtreeShare int
	SubtreeHeat  int
}

// CPUView is the newest CPU profile; Taken is false before the first.
type CPUView struct {
	Taken        bool
	Start        string
	Stamp        string // when it started, Unix ms: a newer profile changes it
	Window       string // "12:01:05–12:01:10 UTC"
	Duration     string
	Total        string
	Unattributed string
	UnattrShare  int
	Rows         []CPURow
}

// SiteRow is where unsupervised goroutines were started.
type SiteRow struct {
	Function, CreatedBy         string // cut if long
	FunctionFull, CreatedByFull string // the text, when cut
	Count, Growth               string
	Growing                     bool
}

// CensusRow is one process's goroutine count.
type CensusRow struct {
	Proc       PidRef
	Goroutines string
}

// CensusView is the newest goroutine census; Taken is false before the first.
type CensusView struct {
	Taken   bool
	At      string
	Total   string
	Owned   string
	Unowned string
	Own     string // the observer's and the dashboard's own goroutines
	Procs   []CensusRow
	// ProcsNote replaces the table of processes with the most goroutines
	// when it would say nothing (every process has one).
	ProcsNote string
	Sites     []SiteRow
}

// ProfileView is the profile page.
type ProfileView struct {
	PageView
	CPU    CPUView
	Census CensusView
	Max    int // longest profile, seconds
}

// TableRow is one owned table.
type TableRow struct {
	Name     string // cut if long
	NameFull string // the name, when cut
	Owner    PidRef
	Size     string
	Reads    string
	Writes   string
	// ReadShare is the share of operations that were reads, which owned
	// tables exist for: readers bypass the owner.
	ReadShare int
}

// TablesView is the tables page: the owned tables and the registries.
type TablesView struct {
	PageView
	Tables     []TableRow
	Registries []RegistryView
}

// RegistryView is one registry or scope of process groups, with the first
// of its entries.
type RegistryView struct {
	Name, Kind    string // cut if long
	NameFull      string // the name, when cut
	Keys, Entries string
	Rows          []RegistryRow
	More          int // entries not listed
}

// RegistryRow is one key (or group) held by one process.
type RegistryRow struct {
	Key     string // cut if long
	KeyFull string // the key, when cut
	Proc    PidRef
}

// Hover is a title attribute that shows full, the whole of a text the
// page shows cut; none when full is empty (the text was not cut).
func Hover(full string) templ.Attributes {
	if full == "" {
		return nil
	}
	return templ.Attributes{"title": full}
}

// attrsOf turns a page's extra body attributes into templ attributes.
func attrsOf(m map[string]string) templ.Attributes {
	a := make(templ.Attributes, len(m))
	for k, v := range m {
		a[k] = v
	}
	return a
}
