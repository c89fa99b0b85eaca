// Package otp brings Erlang/OTP's processes to Go: servers with typed
// mailboxes, supervisors, tasks, agents, a registry, process groups and
// owned tables, every one of them visible to the observer through package
// instrument.
//
//	n := otp.NewNode(otp.Config{})
//	defer n.Stop()
//	stock, _ := otp.Start(n, &Stock{}, otp.Name("stock"))
//	count, err := otp.Call(ctx, stock, StockReq{Op: "add", Item: "apple", N: 2})
//
// # Processes
//
// A [Node] is a runtime: a process table and a name space. [Start] starts
// a [Server] (OTP's gen_server): it owns its state and handles one message
// at a time, calls ([Call], with back-pressure and a 5 s default timeout)
// and casts ([Cast], without). [Go] starts a plain function as a process.
// Processes link ([Link], [LinkTo]), monitor ([Monitor]) and trap exits
// ([TrapExits]) as in Erlang; a process's context is cancelled when it is
// told to stop, since Go cannot kill a goroutine.
//
// # Processes that do not stop
//
// A process that does not return within its shutdown timeout is detached,
// as OTP's brutal_kill leaves nothing behind: it loses its names, registry
// keys, group memberships, owned tables and mailbox (sends fail as to a
// dead process, queued calls fail with an [*ExitError]), and its links and
// monitors hear of its exit at once, with an [*UnresponsiveError] reason
// (it matches [ErrKilled] and [ErrUnresponsive]). Its supervisor replaces
// it at once. What Go cannot free stays with its goroutine until the
// goroutine returns: the memory and locks it holds, what it does
// meanwhile (writes to the owned tables it had fail: they are gone), and the call it
// was handling when that call came straight through the mailbox's channel
// (its caller waits for its own timeout). The process stays in the table
// as unresponsive, with its pprof labels, and when it returns it exits
// "late" (instrument.Exited.Late), with nothing left to announce.
//
// # Restarts
//
// One failure counts once against a supervisor's restart intensity,
// whatever its strategy restarts, as in OTP, and the check costs the same
// however many failures the period holds. A restart that fails (a start
// error, an init error, a name clash) is tried again 100 ms later, counted
// again then, never in a tight loop; a supervisor that is stopping, or on a
// stopping node, restarts nothing. Past its intensity a supervisor reports
// giving up (instrument.GaveUp) and exits with a shutdown reason wrapping
// [ErrMaxRestarts], so that its parent decides. Crash reports and
// supervisor reports go to the node's logger, one line each; identical
// lines repeated within a second are counted and the count is reported
// with the next.
//
// # Supervision
//
// [StartSupervisor] runs children in order with a strategy (one_for_one,
// one_for_all, rest_for_one) and a restart intensity. [StartDynamicSupervisor]
// takes children at run time ([StartChild], [TerminateChild],
// [CountChildren]), and [StartPartitionSupervisor] spreads very many of them
// over N dynamic supervisors routed by key. [StartTaskSupervisor] runs
// tasks: [Async] (linked to the caller: its failure takes the caller down),
// [AsyncNolink] (the caller gets the failure from [Task.Await]) and
// [StartTask] (fire and forget).
//
// # State and names
//
// An [Agent] holds state behind a thin server. A [Registry] maps keys to
// processes: unique keys are names that work wherever a PID does ([Via],
// [ViaRef]); duplicate keys gather subscribers ([Registry.Send]). [Groups]
// are Erlang's pg. A [Table] is the ETS pattern: the owner writes, any
// goroutine reads without waiting for it. Entries, memberships and tables
// vanish with their process.
//
// # Memory
//
// An idle server costs about 3.5 KB (4.2 KB as a dynamic supervisor's
// child), 2.1 KB of it its goroutine and stack; [HibernateAfter] lets an
// idle server give its goroutine and its mailbox's channel back (under
// 1 KB then, as a partition supervisor's child, its record in the process
// table included) and makes them again on the next message. See
// docs/BENCHMARKS.md.
//
// # Debugging
//
// Like Erlang's sys module: [GetState] (only for servers that implement
// [StateReporter]), [Trace] (bounded in count and time), [Suspend] and
// [Resume]. Dashboards reach the same through the actions on a process's
// record ([instrument.StateReader], [instrument.Tracer],
// [instrument.Suspender]).
//
// Every function and method in the package is safe for concurrent use.
package otp
