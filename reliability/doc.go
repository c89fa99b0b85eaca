// Package reliability holds the project's reliability runs: a whole
// application (runtime, observer, dashboard and a browser-like client) put
// through a crash storm, bounded in time, on loopback only. Each run is a
// test whose short form runs in CI and whose long form, chosen with a flag,
// gives the figures in docs/BENCHMARKS.md:
//
//	go test ./reliability -run CrashStorm -v -storm 60s
//
// The package has no code of its own: it is where the runs live.
package reliability
