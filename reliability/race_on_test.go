//go:build race

package reliability_test

// raceEnabled: under -race, TestShutdownUnderLoad builds the demo with
// the race detector too.
const raceEnabled = true
