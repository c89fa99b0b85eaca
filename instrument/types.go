package instrument

import (
	"fmt"
	"runtime"
	"strconv"
)

// PID identifies a process for as long as the program runs; IDs are never
// reused. The zero PID means "no process".
type PID uint64

// String formats the PID the way Erlang prints one: <0.42.0>.
func (p PID) String() string {
	var b [32]byte
	return string(p.appendText(b[:0]))
}

// appendText appends the PID as String formats it, <0.42.0>.
func (p PID) appendText(b []byte) []byte {
	b = append(b, "<0."...)
	b = strconv.AppendUint(b, uint64(p), 10)
	return append(b, ".0>"...)
}

// Kind says what sort of process a record describes.
type Kind uint8

// The kinds of process the project knows. Adapters for other runtimes use the
// closest kind.
const (
	KindGoroutine           Kind = iota // a plain goroutine tracked by [ProcessTable.Go]
	KindServer                          // a GenServer-style server
	KindSupervisor                      // a static supervisor
	KindDynamicSupervisor               // a supervisor of children started at run time
	KindPartitionSupervisor             // N dynamic supervisors routed by key
	KindTaskSupervisor                  // a supervisor of tasks
	KindTask                            // a supervised one-off task
	KindAgent                           // a server that only holds state
	KindTableOwner                      // a server that owns a table readers bypass it for
	KindService                         // a service run by an adapted runtime (suture)
	numKinds
)

var kindNames = [...]string{
	KindGoroutine:           "goroutine",
	KindServer:              "server",
	KindSupervisor:          "supervisor",
	KindDynamicSupervisor:   "dynamic_supervisor",
	KindPartitionSupervisor: "partition_supervisor",
	KindTaskSupervisor:      "task_supervisor",
	KindTask:                "task",
	KindAgent:               "agent",
	KindTableOwner:          "table_owner",
	KindService:             "service",
}

// String returns the kind's snake_case name, as used in metrics and the API.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// IsSupervisor reports whether processes of this kind supervise others.
func (k Kind) IsSupervisor() bool {
	switch k {
	case KindSupervisor, KindDynamicSupervisor, KindPartitionSupervisor, KindTaskSupervisor:
		return true
	}
	return false
}

// Kinds lists every kind, in declaration order.
func Kinds() []Kind {
	ks := make([]Kind, numKinds)
	for i := range ks {
		ks[i] = Kind(i)
	}
	return ks
}

// Status is where a process is in its life.
type Status uint32

// Process statuses.
const (
	StatusRunning      Status = iota // alive: handling messages or waiting for one
	StatusSuspended                  // alive, but not taking messages (debug suspend)
	StatusStopping                   // told to stop, not yet returned
	StatusUnresponsive               // told to stop, did not return within its shutdown timeout
	StatusExited                     // returned; the record leaves the table
	// StatusHibernated: alive and idle, with no goroutine (OTP's
	// hibernation); the next message gives it one again. Goroutine
	// profiles show nothing for it meanwhile.
	StatusHibernated
)

var statusNames = [...]string{"running", "suspended", "stopping", "unresponsive", "exited", "hibernated"}

// String returns the status's lowercase name.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// Reason classifies why a process exited, in OTP terms.
type Reason uint8

// Exit reasons. Normal and shutdown are not failures.
const (
	ReasonNormal   Reason = iota // the process finished its work
	ReasonShutdown               // its supervisor or owner told it to stop
	ReasonKilled                 // it was killed, untrappably
	ReasonPanic                  // it panicked; the event carries the value and stack
	ReasonError                  // it returned an error
)

var reasonNames = [...]string{"normal", "shutdown", "killed", "panic", "error"}

// String returns the reason's lowercase name.
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// Abnormal reports whether the reason is a failure: killed, panic or error.
func (r Reason) Abnormal() bool { return r >= ReasonKilled }

// PanicError is the exit reason of a process that panicked: the panic value
// and the stack of the goroutine where it happened.
type PanicError struct {
	Value any
	Stack []byte
}

// NewPanicError captures the current goroutine's stack; call it from the
// deferred function that recovered v. The stack lists one frame a line
// pair, innermost first, as "function\n\tfile:line\n", from the
// recovering function down through the panic to the goroutine's start
// (at most maxPanicFrames frames). It is read with runtime.Callers, not
// debug.Stack: that prints under the runtime's global print lock, and in a
// crash storm every panicking goroutine of the program queued for it (3x
// the cost, and one core at a time).
func NewPanicError(v any) *PanicError {
	var pcs [maxPanicFrames]uintptr
	n := runtime.Callers(2, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	b := make([]byte, 0, 128*n)
	for {
		f, more := frames.Next()
		b = append(b, f.Function...)
		b = append(b, "\n\t"...)
		b = append(b, f.File...)
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(f.Line), 10)
		b = append(b, '\n')
		if !more {
			break
		}
	}
	return &PanicError{Value: v, Stack: b}
}

// maxPanicFrames bounds the frames a panic's stack keeps.
const maxPanicFrames = 64

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Unwrap returns the panic value when it is an error, so errors.Is sees
// through a panic(err).
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
