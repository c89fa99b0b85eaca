package otp

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// logWindow is how often one line is written at most: the same message
// about the same process with the same error, repeated within a window, is
// counted and reported in the next such line that is written.
const logWindow = time.Second

// maxLogKeys bounds the distinct lines the limiter remembers; beyond it,
// new lines share one key.
const maxLogKeys = 512

// logLimiter rate-limits repeated identical log lines, so that a crash
// storm costs a line a second per kind of crash, not one per crash.
type logLimiter struct {
	mu   sync.Mutex
	seen map[logKey]*logCount
}

type logKey struct{ msg, who, err string }

type logCount struct {
	last       time.Time
	suppressed int
}

// logs reports whether lines at level are written at all: callers check
// it before they build a line's attributes.
func (n *Node) logs(level slog.Level) bool { return n.logger.Enabled(context.Background(), level) }

// log writes msg with attrs unless the same line (msg, who, err) was
// written less than logWindow ago; then it only counts it.
func (n *Node) log(level slog.Level, msg, who, err string, attrs ...slog.Attr) {
	if !n.logs(level) {
		return
	}
	now := time.Now()
	l := &n.limit
	l.mu.Lock()
	if l.seen == nil {
		l.seen = make(map[logKey]*logCount)
	}
	k := logKey{msg, who, err}
	c := l.seen[k]
	if c == nil {
		if len(l.seen) >= maxLogKeys {
			for k, c := range l.seen {
				if now.Sub(c.last) >= logWindow && c.suppressed == 0 {
					delete(l.seen, k)
				}
			}
		}
		if len(l.seen) >= maxLogKeys {
			k = logKey{msg: msg, who: "(many)"}
		}
		if c = l.seen[k]; c == nil {
			c = &logCount{}
			l.seen[k] = c
		}
	}
	if !c.last.IsZero() && now.Sub(c.last) < logWindow {
		c.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := c.suppressed
	c.last, c.suppressed = now, 0
	l.mu.Unlock()
	if suppressed > 0 {
		attrs = append(attrs, slog.Int("suppressed", suppressed))
	}
	n.logger.LogAttrs(context.Background(), level, msg, attrs...)
}

// flushLog reports the lines still counted as suppressed, one line each.
func (n *Node) flushLog() {
	l := &n.limit
	l.mu.Lock()
	type pending struct {
		k logKey
		n int
	}
	var out []pending
	for k, c := range l.seen {
		if c.suppressed > 0 {
			out = append(out, pending{k, c.suppressed})
			c.suppressed = 0
		}
	}
	l.mu.Unlock()
	for _, p := range out {
		n.logger.LogAttrs(context.Background(), slog.LevelInfo, "repeated log lines suppressed",
			slog.String("line", p.k.msg), slog.String("about", p.k.who), slog.String("error", p.k.err), slog.Int("suppressed", p.n))
	}
}
