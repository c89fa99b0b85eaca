// Package reliability holds the project's reliability runs: a whole
// application (runtime, observer, dashboard and browser-like clients) put
// through an attack or a load, bounded in time, on loopback only. Each run
// is a test whose short form runs in CI and whose long form, chosen with a
// flag, gives the figures in docs/BENCHMARKS.md:
//
//	go test ./reliability -run CrashStorm -v -storm 60s
//	go test ./reliability -run HalfStuckClients -v -clients-long
//	go test ./reliability -run ShutdownUnderLoad -v -shutdown-long
//
// TestCrashStorm crashes thousands of servers a second beside the
// application's own; TestHalfStuckClients attaches a hundred dashboard
// clients, half of which never read; TestShutdownUnderLoad builds the demo,
// runs it under load and chaos with browsers connected, and stops it with
// SIGINT. The package has no code of its own: it is where the runs live.
package reliability
