package observer

import "github.com/go-observer/observer/instrument"

// This file is what a dashboard reads besides snapshots: the observer is
// its only source. The types are instrument's, named here (aliases, not
// copies) so that a dashboard needs no other import.

// PID identifies a process: [instrument.PID].
type PID = instrument.PID

// The small interfaces a dashboard acts and lists through. instrument
// defines them and runtimes implement them; see [instrument.Actions] and
// the optional [instrument.StateReader], [instrument.Tracer] and
// [instrument.Suspender], which a dashboard checks for with a type
// assertion.
type (
	// Actions are what may be done to a live process: [instrument.Actions].
	Actions = instrument.Actions
	// StateReader reads a process's state: [instrument.StateReader].
	StateReader = instrument.StateReader
	// Tracer traces a process's messages: [instrument.Tracer].
	Tracer = instrument.Tracer
	// Suspender suspends and resumes a process: [instrument.Suspender].
	Suspender = instrument.Suspender
	// TableStats describe an owned table: [instrument.TableStats].
	TableStats = instrument.TableStats
	// RegistryReporter is a registry or group scope: [instrument.RegistryReporter].
	RegistryReporter = instrument.RegistryReporter
	// RegistryStats describe a registry: [instrument.RegistryStats].
	RegistryStats = instrument.RegistryStats
	// RegistryEntry is one key held by one process: [instrument.RegistryEntry].
	RegistryEntry = instrument.RegistryEntry
)

// Actions returns what its runtime lets a dashboard do to a live process
// (it may also implement [StateReader], [Tracer] or [Suspender]). It
// reports false for an unknown or exited process and for one whose
// runtime offers no actions.
func (o *Observer) Actions(pid PID) (Actions, bool) {
	p := o.table.Lookup(pid)
	if p == nil {
		return nil, false
	}
	a := p.Actions()
	return a, a != nil
}

// Tables returns the stats of every live owned table in the observed
// table, in no order.
func (o *Observer) Tables() []TableStats { return o.table.Tables(0) }

// Registries returns the registries and process-group scopes the
// runtimes recorded, in the order they were added.
func (o *Observer) Registries() []RegistryReporter { return o.table.Registries() }
