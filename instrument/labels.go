package instrument

import (
	"context"
	"reflect"
	"runtime/pprof"
	"sync"
	"unsafe"
)

// ProcLabels are the pprof labels of one process (the same as [Labels]
// sets: otp.pid and otp.name), kept in place, inside the value that
// embeds them, instead of in the four allocations (label list, label map,
// context and PID text, about 150 bytes) that building them through
// runtime/pprof costs: a runtime that starts a process per restart, or
// keeps a million hibernated ones, pays for them once per process.
//
// runtime/pprof finds a goroutine's labels by looking its own context key
// up in a context and offers no other way to make a label set; a context
// whose Value method hands [ProcLabels.Lookup] every key carries these
// labels, to pprof.SetGoroutineLabels, pprof.Label and pprof.Do alike.
// The label set is laid out as runtime/pprof lays out its own, which is
// checked once, through reflection, against the one pprof makes; should a
// Go release change it, Lookup builds the labels through pprof, as
// [Labels] does, on every lookup (correct, and allocating).
//
// The zero ProcLabels carries no labels. Set it once, before the process
// runs; it must not be copied after.
type ProcLabels struct {
	set  labelSet
	list [2]pprofLabel
	pid  [16]byte // the PID's text, when it fits
}

// labelSet and pprofLabel are runtime/pprof's labelMap and label.Label,
// as checkLabelLayout verifies.
type labelSet struct{ list []pprofLabel }

type pprofLabel struct{ key, value string }

// Set makes l carry the labels of p.
func (l *ProcLabels) Set(p *Proc) {
	b := p.id.appendText(l.pid[:0])
	// Sorted by key, as pprof keeps them.
	l.list = [2]pprofLabel{{LabelName, p.Name()}, {LabelPID, unsafe.String(&b[0], len(b))}}
	l.set.list = l.list[:]
}

// Lookup returns what a context carrying l must return from Value(key),
// and whether key is pprof's label key (otherwise the context looks the
// key up elsewhere).
func (l *ProcLabels) Lookup(key any) (any, bool) {
	if l.set.list == nil {
		return nil, false
	}
	layout := labelLayout()
	if layout.typ == nil {
		// pprof's key or layout is not the one expected: build the labels
		// through pprof, and let it answer its own key.
		v := pprof.WithLabels(context.Background(),
			pprof.Labels(LabelName, l.list[0].value, LabelPID, l.list[1].value)).Value(key)
		return v, v != nil
	}
	if key != layout.key {
		return nil, false
	}
	var v any
	e := (*[2]unsafe.Pointer)(unsafe.Pointer(&v))
	e[0], e[1] = layout.typ, unsafe.Pointer(&l.set)
	return v, true
}

// pprofLayout is what ProcLabels needs of runtime/pprof: its context key
// for labels, and the type of the pointer stored under it (nil when its
// layout is not labelSet's).
type pprofLayout struct {
	key any
	typ unsafe.Pointer
}

var labelLayout = sync.OnceValue(checkLabelLayout)

// keySpy is a context that remembers the last key looked up in it.
type keySpy struct {
	context.Context
	key any
}

func (s *keySpy) Value(key any) any {
	s.key = key
	return s.Context.Value(key)
}

// checkLabelLayout finds pprof's label key by watching pprof look it up,
// and checks the value stored under it: a pointer to a struct holding
// nothing but a struct holding nothing but a slice of {string, string}
// (pprof's labelMap, label.Set and label.Label since Go 1.24). Then it
// makes a ProcLabels and checks that pprof reads its labels back.
func checkLabelLayout() pprofLayout {
	ctx := pprof.WithLabels(context.Background(), pprof.Labels("k", "v"))
	spy := &keySpy{Context: ctx}
	if v, ok := pprof.Label(spy, "k"); !ok || v != "v" || spy.key == nil {
		return pprofLayout{}
	}
	layout := pprofLayout{key: spy.key}
	v := ctx.Value(spy.key)
	t := reflect.TypeOf(v)
	str := reflect.TypeFor[string]()
	if t == nil || t.Kind() != reflect.Pointer {
		return layout
	}
	m := t.Elem()
	if m.Kind() != reflect.Struct || m.NumField() != 1 || m.Size() != unsafe.Sizeof(labelSet{}) {
		return layout
	}
	s := m.Field(0).Type
	if s.Kind() != reflect.Struct || s.NumField() != 1 || s.Field(0).Type.Kind() != reflect.Slice {
		return layout
	}
	e := s.Field(0).Type.Elem()
	if e.Kind() != reflect.Struct || e.NumField() != 2 || e.Size() != unsafe.Sizeof(pprofLabel{}) ||
		e.Field(0).Type != str || e.Field(1).Type != str || e.Field(1).Offset != unsafe.Offsetof(pprofLabel{}.value) {
		return layout
	}
	layout.typ = (*[2]unsafe.Pointer)(unsafe.Pointer(&v))[0]

	// Read back through pprof.
	var l ProcLabels
	l.list = [2]pprofLabel{{LabelName, "n"}, {LabelPID, "p"}}
	l.set.list = l.list[:]
	probe := labelsCtx{context.Background(), &l, layout}
	name, ok1 := pprof.Label(probe, LabelName)
	pid, ok2 := pprof.Label(probe, LabelPID)
	if !ok1 || !ok2 || name != "n" || pid != "p" {
		layout.typ = nil
	}
	return layout
}

// labelsCtx is a context carrying l, for checkLabelLayout (Lookup cannot
// run yet: the layout is being checked).
type labelsCtx struct {
	context.Context
	l      *ProcLabels
	layout pprofLayout
}

func (c labelsCtx) Value(key any) any {
	if key != c.layout.key {
		return nil
	}
	var v any
	e := (*[2]unsafe.Pointer)(unsafe.Pointer(&v))
	e[0], e[1] = c.layout.typ, unsafe.Pointer(&c.l.set)
	return v
}
