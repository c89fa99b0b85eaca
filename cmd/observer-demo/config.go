package main

import (
	"fmt"
	"time"
)

// config is what the flags set.
type config struct {
	Load      float64       // checkouts started per second
	CrashRate float64       // crashes injected per second
	PriceCost time.Duration // time one price quote takes
	Sessions  int           // shoppers browsing at once
}

func defaultConfig() config {
	return config{Load: 200, CrashRate: 0.5, PriceCost: 6 * time.Millisecond, Sessions: 200}
}

func (c config) validate() error {
	switch {
	case c.Load < 0 || c.Load > 100000:
		return fmt.Errorf("-load %v: want 0 to 100000 checkouts per second", c.Load)
	case c.CrashRate < 0 || c.CrashRate > 1000:
		return fmt.Errorf("-crash-rate %v: want 0 to 1000 crashes per second", c.CrashRate)
	case c.PriceCost < 0 || c.PriceCost > time.Second:
		return fmt.Errorf("-price-cost %v: want 0 to 1s", c.PriceCost)
	}
	return nil
}
