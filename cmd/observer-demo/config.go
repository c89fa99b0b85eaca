package main

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// config is what the flags set at start.
type config struct {
	Addr      string        // where the dashboard listens
	Load      float64       // checkouts started per second
	CrashRate float64       // crashes injected per second
	PriceCost time.Duration // time one price quote takes
	HangFor   time.Duration // how long a hung handler ignores everything
	Actions   bool          // let the dashboard kill and restart processes
	Trace     bool          // keep an execution trace of the seconds before each finding
}

func defaultConfig() config {
	return config{Addr: "127.0.0.1:8080", Load: 200, CrashRate: 0.5, PriceCost: 6 * time.Millisecond, HangFor: 20 * time.Second}
}

func (c config) validate() error {
	if err := validLoad(c.Load); err != nil {
		return fmt.Errorf("-load: %w", err)
	}
	if err := validCrashRate(c.CrashRate); err != nil {
		return fmt.Errorf("-crash-rate: %w", err)
	}
	if c.PriceCost < 0 || c.PriceCost > time.Second {
		return fmt.Errorf("-price-cost %v: want 0 to 1s", c.PriceCost)
	}
	if c.HangFor <= 0 || c.HangFor > 10*time.Minute {
		return fmt.Errorf("-hang-for %v: want more than 0 and at most 10m", c.HangFor)
	}
	return nil
}

func validLoad(v float64) error {
	if math.IsNaN(v) || v < 0 || v > 5000 {
		return fmt.Errorf("%v: want 0 to 5000 checkouts per second", v)
	}
	return nil
}

func validCrashRate(v float64) error {
	if math.IsNaN(v) || v < 0 || v > 100 {
		return fmt.Errorf("%v: want 0 to 100 crashes per second", v)
	}
	return nil
}

// knob is a float64 the control panel changes while the demo runs.
type knob struct{ bits atomic.Uint64 }

func (k *knob) set(v float64) { k.bits.Store(math.Float64bits(v)) }
func (k *knob) get() float64  { return math.Float64frombits(k.bits.Load()) }

// every returns the interval between events at rate per second, and
// false when the rate is zero (nothing to do).
func every(rate float64) (time.Duration, bool) {
	if rate <= 0 {
		return 0, false
	}
	return time.Duration(float64(time.Second) / rate), true
}
