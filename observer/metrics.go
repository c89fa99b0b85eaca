package observer

import (
	"context"
	"errors"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/go-observer/observer/instrument"
)

// The OpenTelemetry metrics, their units and attributes. Cardinality is
// bounded: aggregates carry the process kind and name, with at most
// Options.MetricNames distinct names (others are "_other"); per-process
// series exist only for the Options.TopN busiest processes.
const (
	meterName = "github.com/go-observer/observer"

	attrKind     = attribute.Key("otp.process.kind")
	attrName     = attribute.Key("otp.process.name")
	attrPID      = attribute.Key("otp.process.pid")
	attrSup      = attribute.Key("otp.supervisor.name")
	attrReason   = attribute.Key("otp.exit.reason")
	attrFinding  = attribute.Key("otp.finding.kind")
	attrSeverity = attribute.Key("otp.finding.severity")

	otherName   = "_other"
	unnamedName = "_unnamed"
)

// metrics exports the model through observable instruments: the sampler
// prepares one immutable metricData per tick, and the SDK's collection
// reads the newest one. Collection never touches the model.
type metrics struct {
	reg  metric.Registration
	data atomic.Pointer[metricData]

	count, depth, restarts, crashes, findings, unowned, dropped, topDepth metric.Int64Observable
	busy, latency, topBusy, topLatency                                    metric.Float64Observable
}

type metricData struct {
	aggs     []agg
	top      []Process
	restarts map[string]int64
	crashes  map[crashKey]int64
	findings map[[2]string]int64
	unowned  int64
	dropped  uint64
}

type aggKey struct {
	kind instrument.Kind
	name string
}

type agg struct {
	aggKey
	count   int64
	depth   uint64
	busy    float64 // highest
	latency float64 // highest estimate, seconds
}

type crashKey struct {
	kind         instrument.Kind
	name, reason string
}

func newMetrics(o *Observer, mp metric.MeterProvider) (*metrics, error) {
	m := &metrics{}
	mt := mp.Meter(meterName)
	var errs []error
	i64 := func(name, unit, desc string, kind string) metric.Int64Observable {
		var (
			ins metric.Int64Observable
			err error
		)
		switch kind {
		case "gauge":
			ins, err = mt.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		case "updown":
			ins, err = mt.Int64ObservableUpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		default:
			ins, err = mt.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		}
		errs = append(errs, err)
		return ins
	}
	f64 := func(name, unit, desc string) metric.Float64Observable {
		ins, err := mt.Float64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return ins
	}
	m.count = i64("otp.process.count", "{process}", "Live processes, by kind and name.", "updown")
	m.depth = i64("otp.mailbox.depth", "{message}", "Messages queued in the mailboxes of the processes of a kind and name.", "gauge")
	m.busy = f64("otp.process.busy", "1", "Highest share of the last tick spent in handlers among the processes of a kind and name.")
	m.latency = f64("otp.call.latency", "s",
		"Estimated time a call made now would wait for its reply, highest among the processes of a kind and name: "+
			"the age of the oldest queued message or the queue divided by the handling rate, whichever is larger, plus the mean handler time. An estimate from counters, not a measurement.")
	m.restarts = i64("otp.process.restarts", "{restart}", "Child restarts made by supervisors, by supervisor name.", "counter")
	m.crashes = i64("otp.process.crashes", "{crash}", "Abnormal process exits, by kind, name and reason.", "counter")
	m.findings = i64("otp.advisor.findings", "{finding}", "Active advisor findings, by kind and severity.", "gauge")
	m.unowned = i64("otp.goroutines.unowned", "{goroutine}", "Goroutines that belong to no process (goroutines minus processes).", "gauge")
	m.dropped = i64("otp.events.dropped", "{event}", "Lifecycle events lost by full subscription buffers.", "counter")
	m.topDepth = i64("otp.top.mailbox.depth", "{message}", "Mailbox depth of each of the busiest processes.", "gauge")
	m.topBusy = f64("otp.top.busy", "1", "Busy share of each of the busiest processes.")
	m.topLatency = f64("otp.top.call.latency", "s", "Estimated call latency of each of the busiest processes (see otp.call.latency).")
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	reg, err := mt.RegisterCallback(m.observe,
		m.count, m.depth, m.busy, m.latency, m.restarts, m.crashes, m.findings, m.unowned, m.dropped, m.topDepth, m.topBusy, m.topLatency)
	if err != nil {
		return nil, err
	}
	m.reg = reg
	return m, nil
}

func (m *metrics) close() error { return m.reg.Unregister() }

func (m *metrics) update(d *metricData) { m.data.Store(d) }

// observe is the collection callback.
func (m *metrics) observe(_ context.Context, o metric.Observer) error {
	d := m.data.Load()
	if d == nil {
		return nil
	}
	for _, a := range d.aggs {
		attrs := metric.WithAttributes(attrKind.String(a.kind.String()), attrName.String(a.name))
		o.ObserveInt64(m.count, a.count, attrs)
		o.ObserveInt64(m.depth, int64(a.depth), attrs)
		o.ObserveFloat64(m.busy, a.busy, attrs)
		o.ObserveFloat64(m.latency, a.latency, attrs)
	}
	for _, p := range d.top {
		attrs := metric.WithAttributes(attrPID.String(p.PID.String()), attrName.String(p.Name), attrKind.String(p.Kind))
		o.ObserveInt64(m.topDepth, int64(p.Depth), attrs)
		o.ObserveFloat64(m.topBusy, p.Busy, attrs)
		o.ObserveFloat64(m.topLatency, latencyOf(p), attrs)
	}
	for name, n := range d.restarts {
		o.ObserveInt64(m.restarts, n, metric.WithAttributes(attrSup.String(name)))
	}
	for k, n := range d.crashes {
		o.ObserveInt64(m.crashes, n, metric.WithAttributes(attrKind.String(k.kind.String()), attrName.String(k.name), attrReason.String(k.reason)))
	}
	for k, n := range d.findings {
		o.ObserveInt64(m.findings, n, metric.WithAttributes(attrFinding.String(k[0]), attrSeverity.String(k[1])))
	}
	o.ObserveInt64(m.unowned, d.unowned)
	o.ObserveInt64(m.dropped, int64(d.dropped))
	return nil
}

// latency estimates how long a call made now would take, in seconds.
func latency(st *procState) float64 {
	var q float64
	if st.handling > 0 {
		q = float64(st.depth) / float64(st.handling)
	}
	return max(float64(st.headAge), q) + float64(st.meanHandler)
}

func latencyOf(p Process) float64 {
	var q float64
	if p.Handling > 0 {
		q = float64(p.Depth) / p.Handling
	}
	var mean float64
	if p.Handling > 0 {
		mean = p.Busy / p.Handling
	}
	return max(p.HeadAge.Seconds(), q) + mean
}

// nameSet aggregates processes by kind and name during a scan, with a
// bounded, sticky set of names.
type nameSet struct {
	enabled bool
	max     int
	tick    uint64
	slots   map[string]uint64 // name → last tick it was seen
	aggs    map[aggKey]*agg
}

// nameIdle is how many ticks a name keeps its slot without processes.
const nameIdle = 60

func (n *nameSet) init(max int) {
	n.max = max
	n.slots = make(map[string]uint64)
	n.aggs = make(map[aggKey]*agg)
}

func (n *nameSet) begin() {
	n.tick++
	clear(n.aggs)
	for name, t := range n.slots {
		if n.tick-t > nameIdle {
			delete(n.slots, name)
		}
	}
}

// slot returns the name to use as an attribute for name.
func (n *nameSet) slot(name string) string {
	if name == "" {
		return unnamedName
	}
	if _, ok := n.slots[name]; ok {
		n.slots[name] = n.tick
		return name
	}
	if len(n.slots) < n.max {
		n.slots[name] = n.tick
		return name
	}
	return otherName
}

// slotOf returns the attribute name for a name seen outside a scan
// (events), without taking a slot.
func (n *nameSet) slotOf(name string) string {
	if name == "" {
		return unnamedName
	}
	if _, ok := n.slots[name]; ok || len(n.slots) < n.max {
		return name
	}
	return otherName
}

func (n *nameSet) add(p *instrument.Proc, st *procState) {
	k := aggKey{p.Kind(), n.slot(p.Name())}
	a := n.aggs[k]
	if a == nil {
		a = &agg{aggKey: k}
		n.aggs[k] = a
	}
	a.count++
	a.depth += uint64(st.depth)
	a.busy = max(a.busy, float64(st.busyFrac))
	a.latency = max(a.latency, latency(st))
}

// counterSet counts events by a bounded set of keys; keys beyond the bound
// count under a catch-all key.
type counterSet[K comparable] struct {
	max int
	m   map[K]int64
}

func (c *counterSet[K]) add(k, other K) {
	if c.m == nil {
		c.m = make(map[K]int64)
	}
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		k = other
	}
	c.m[k]++
}

func (c *counterSet[K]) snapshot() map[K]int64 {
	out := make(map[K]int64, len(c.m))
	for k, v := range c.m {
		out[k] = v
	}
	return out
}

// metricData builds the data the next collection reads.
func (m *model) metricData(snap *Snapshot) *metricData {
	d := &metricData{
		restarts: m.restarts.snapshot(),
		crashes:  m.crashes.snapshot(),
		findings: map[[2]string]int64{},
		unowned:  snap.System.Now.Unowned,
		dropped:  snap.System.EventsDropped,
	}
	for _, a := range m.names.aggs {
		d.aggs = append(d.aggs, *a)
	}
	d.top = snap.Query(Query{Sort: SortBusy, Limit: m.opts.TopN})
	for _, f := range snap.Findings {
		d.findings[[2]string{f.Kind.String(), f.Severity.String()}]++
	}
	return d
}
