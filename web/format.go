package web

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/go-observer/observer/observer"
)

// Pure formatting helpers shared by the view builders and the templates.

// fmtCount writes n compactly: 950, 12.4k, 3.1M.
func fmtCount[T ~int | ~int64 | ~uint64 | ~uint32 | ~int32](n T) string {
	f := float64(n)
	switch {
	case math.Abs(f) >= 1e9:
		return trim(f/1e9) + "G"
	case math.Abs(f) >= 1e6:
		return trim(f/1e6) + "M"
	case math.Abs(f) >= 1e4:
		return trim(f/1e3) + "k"
	}
	return strconv.FormatInt(int64(n), 10)
}

// fmtRate writes a per-second rate: 0, 0.4/s, 12/s, 8.1k/s.
func fmtRate(r float64) string {
	switch {
	case r == 0:
		return "0"
	case math.Abs(r) >= 1e6:
		return trim(r/1e6) + "M/s"
	case math.Abs(r) >= 1e3:
		return trim(r/1e3) + "k/s"
	case math.Abs(r) >= 10:
		return strconv.FormatFloat(r, 'f', 0, 64) + "/s"
	}
	return strconv.FormatFloat(r, 'f', 1, 64) + "/s"
}

// fmtGrowth writes a signed rate: +120/s, −40/s, 0.
func fmtGrowth(r float64) string {
	switch {
	case math.Abs(r) < 0.05:
		return "0"
	case r > 0:
		return "+" + fmtRate(r)
	}
	return "−" + fmtRate(-r)
}

func trim(f float64) string {
	s := strconv.FormatFloat(f, 'f', 1, 64)
	return strings.TrimSuffix(s, ".0")
}

// fmtPct writes a 0..1 fraction as a whole percentage.
func fmtPct(f float64) string { return strconv.Itoa(pct(f)) + "%" }

// pct turns a 0..1 fraction into a whole percentage, 0..100.
func pct(f float64) int {
	p := int(math.Round(f * 100))
	return max(0, min(p, 100))
}

// fmtBytes writes a byte count: 512 B, 3.2 MiB.
func fmtBytes(b uint64) string {
	const unit = 1024
	if b < unit {
		return strconv.FormatUint(b, 10) + " B"
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTPE"[exp])
}

// fmtDur writes a duration with three significant digits at most.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Microsecond:
		return strconv.FormatInt(int64(d), 10) + "ns"
	case d < time.Millisecond:
		return trim(float64(d)/1e3) + "µs"
	case d < time.Second:
		return trim(float64(d)/1e6) + "ms"
	case d < time.Minute:
		return trim(d.Seconds()) + "s"
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// fmtAgo writes how long before now t was: "12s ago".
func fmtAgo(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t).Round(time.Second)
	if d < time.Second {
		return "just now"
	}
	return fmtDur(d) + " ago"
}

// fmtValue writes a finding's evidence value with its unit.
func fmtValue(v float64, unit string) string {
	switch unit {
	case "%":
		return strconv.FormatFloat(v, 'f', 0, 64) + "%"
	case "s":
		return fmtDur(time.Duration(v * float64(time.Second)))
	case "1/s":
		return fmtRate(v)
	case "":
		return trim(v)
	}
	if v == 1 && len(unit) > 1 && strings.HasSuffix(unit, "s") {
		return "1 " + strings.TrimSuffix(unit, "s") // units are plural words: 1 failure, 1 caller
	}
	if v == math.Trunc(v) {
		return fmtCount(int64(v)) + " " + unit
	}
	return trim(v) + " " + unit
}

// heat grades a process's load 0 (idle) to 5 (saturated) from its busy
// fraction and mailbox depth; the same scale colours the tree, the tables
// and the charts.
func heat(busy float64, depth uint64) int {
	h := 0
	switch {
	case busy >= 0.9:
		h = 5
	case busy >= 0.7:
		h = 4
	case busy >= 0.5:
		h = 3
	case busy >= 0.25:
		h = 2
	case busy >= 0.05:
		h = 1
	}
	d := 0
	switch {
	case depth >= 1000:
		d = 5
	case depth >= 200:
		d = 4
	case depth >= 50:
		d = 3
	case depth >= 10:
		d = 2
	case depth >= 1:
		d = 1
	}
	return max(h, d)
}

// nameOr is what names a process where its PID is shown beside it (a
// link's title, a page's PID line): its name, else its PID. A process's
// label in a sentence, "name <0.12.0>", is the observer's, in its findings.
func nameOr(name string, pid observer.PID) string {
	if name != "" {
		return name
	}
	return pid.String()
}

// fmtKind writes a kind for people: dynamic_supervisor → dynamic supervisor.
func fmtKind(k string) string { return strings.ReplaceAll(k, "_", " ") }

// How much of a long string the pages show. A name, key or title in a
// list, heading or panel is cut at nameRunes, a sentence about it (a
// finding's summary) at textRunes, its advice at adviceRunes, a crash's error at
// errorRunes; the full text is a hover
// (the title attribute, up to titleRunes) or a click away (the process
// page, a details element, up to fullBytes). No data may make a page
// wider than the window: the stylesheet wraps or ellipsizes the rest.
const (
	nameRunes = 200
	textRunes = 600
	// adviceRunes holds the advisor's longest advice with its names (cut
	// at 80 characters in sentences): advice is the page's body, written
	// by the advisor, not data.
	adviceRunes = 1000
	errorRunes  = 300 // a crash's error, in the events list
	titleRunes  = 2000
	fullBytes   = 16 << 10
)

// clip cuts s to at most n characters (runes), marking the cut with "…",
// and reports whether it cut.
func clip(s string, n int) (string, bool) {
	if len(s) <= n { // bytes ≥ runes: short enough
		return s, false
	}
	i, count := 0, 0
	for j := range s {
		if count == n {
			i = j
			break
		}
		count++
	}
	if i == 0 {
		return s, false // n runes or fewer
	}
	return s[:i] + "…", true
}

// short is s cut at n characters.
func short(s string, n int) string {
	c, _ := clip(s, n)
	return c
}

// titleOf is the title attribute that shows the full text of s when the
// page shows a cut (n characters); "" when s was not cut.
func titleOf(s string, n int) string {
	if _, cut := clip(s, n); !cut {
		return ""
	}
	return short(s, titleRunes)
}
