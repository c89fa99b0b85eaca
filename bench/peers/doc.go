// Package peers benchmarks the otp runtime side by side with the bare Go
// channel baseline and the peer actor libraries (protoactor-go and Ergo),
// in one run:
//
//	cd bench/peers && go test -run '^$' -bench . -benchmem -count 6 | tee peers.txt && benchstat peers.txt
//
// BenchmarkCastContended runs the cast rows again with a CPU-bound
// goroutine per processor competing (-bench Contended).
//
// It is a module of its own so that the observer module never depends on
// the peers. Figures and their reading are in docs/BENCHMARKS.md, section
// "Peers".
package peers
