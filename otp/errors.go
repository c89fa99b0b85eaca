package otp

import (
	"errors"
	"fmt"
	"time"

	"github.com/go-observer/observer/instrument"
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrTimeout: a call got no reply in time.
	ErrTimeout = errors.New("call timed out")
	// ErrNoProc: no live process has that ID or name.
	ErrNoProc = errors.New("no such process")
	// ErrCallSelf: a server called itself, which would deadlock.
	ErrCallSelf = errors.New("process called itself")
	// ErrAlreadyRegistered: the name belongs to another live process.
	ErrAlreadyRegistered = errors.New("name already registered")
	// ErrNotProcess: the context does not belong to a process, so there is
	// no "self" to link, monitor or trap exits with.
	ErrNotProcess = errors.New("context is not a process's")
	// ErrWrongType: a name or PID refers to a process of another message type.
	ErrWrongType = errors.New("process has another message type")
	// ErrShutdown is the reason of a process told to stop by its supervisor
	// or node. It is not a failure.
	ErrShutdown = instrument.ErrShutdown
	// ErrKilled is the reason of a process killed untrappably.
	ErrKilled = instrument.ErrKilled
	// ErrMaxRestarts is wrapped in the shutdown reason of a supervisor that
	// exceeded its restart intensity.
	ErrMaxRestarts = errors.New("reached max restart intensity")
	// ErrUnresponsive: processes did not return within their shutdown timeout.
	ErrUnresponsive = errors.New("processes did not stop in time")
)

// UnresponsiveError is the exit reason that the links and monitors of a
// process receive when it did not stop within its shutdown timeout and was
// detached (see [ErrUnresponsive]). It matches [ErrKilled], as OTP's
// brutal_kill reports killed, and [ErrUnresponsive].
type UnresponsiveError struct {
	PID    PID
	Waited time.Duration
}

func (e *UnresponsiveError) Error() string {
	return fmt.Sprintf("killed: %v did not stop within %v (unresponsive)", e.PID, e.Waited)
}

// Is matches [ErrKilled] and [ErrUnresponsive].
func (e *UnresponsiveError) Is(target error) bool {
	return target == ErrKilled || target == ErrUnresponsive
}

// PanicError is the exit reason of a process that panicked; errors.As finds
// it in a caller's error when the callee panicked during the call.
type PanicError = instrument.PanicError

// ExitError is what a caller gets when the process it called exited before
// replying. Reason is the callee's exit reason: errors.As reaches through it
// to a [*PanicError].
type ExitError struct {
	PID    PID
	Reason error
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("process %v exited: %v", e.PID, reasonString(e.Reason))
}

// Unwrap returns the exit reason.
func (e *ExitError) Unwrap() error { return e.Reason }

// IsNormal reports whether an exit reason is not a failure: nil (normal) or
// shutdown.
func IsNormal(reason error) bool {
	return !instrument.Classify(reason).Abnormal()
}

func reasonString(r error) string {
	if r == nil {
		return "normal"
	}
	return r.Error()
}

// stopError is returned by handlers to stop their server.
type stopError struct{ reason error }

func (e *stopError) Error() string { return "stop: " + reasonString(e.reason) }
func (e *stopError) Unwrap() error { return e.reason }

// Stop returns an error that, returned by a server's handler, stops the
// server with reason (nil for normal). A caller whose call is answered this
// way gets reason as its error (or nil).
func Stop(reason error) error { return &stopError{reason} }

var errNodeStopped = fmt.Errorf("spawn: node stopped: %w", ErrShutdown)

type nameTakenError struct {
	name  string
	owner PID
}

func (e *nameTakenError) Error() string {
	return fmt.Sprintf("register %q: name already registered by %v", e.name, e.owner)
}

func (e *nameTakenError) Is(target error) bool { return target == ErrAlreadyRegistered }
