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
// An idle server costs about 3.4 KB (4.6 KB as a dynamic supervisor's
// child), 2.1 KB of it its goroutine and stack; [HibernateAfter] lets an
// idle server give its goroutine back (1.1–1.4 KB then) and takes a new
// one on the next message. See docs/BENCHMARKS.md.
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
