package otp

import (
	"testing"
	"time"
)

// The intensity counts every failure within the period, and one that has
// left it at most a slot's width later; whatever the failures, it holds a
// bounded number of slots. Times may be negative: instrument.Now counts
// from the program's start, and a synctest bubble's clock is earlier.
func TestIntensityCountsThePeriodInBoundedMemory(t *testing.T) {
	const period = 5 * time.Second
	width := int64(period) / intensitySlots
	for _, base := range []int64{0, 7, -int64(30 * 365 * 24 * time.Hour)} {
		var in intensity
		var times []int64
		now := base
		for i := range 200_000 {
			// Bursts and gaps, some landing on slot edges.
			step := int64(i%7) * width / 3
			if i%1000 == 0 {
				step = int64(period) / 2
			}
			now += step
			times = append(times, now)
			got := in.add(now, period)
			exact, late := 0, 0
			for _, at := range times {
				switch {
				case at > now-int64(period):
					exact++
				case at > now-int64(period)-width:
					late++
				}
			}
			if got < exact || got > exact+late {
				t.Fatalf("base %d, failure %d: counted %d; %d are within the period and %d left it less than a slot ago", base, i, got, exact, late)
			}
			for len(times) > 0 && times[0] <= now-int64(period)-width {
				times = times[1:]
			}
			if len(in.slots) > 2*(intensitySlots+2) {
				t.Fatalf("base %d, failure %d: %d slots held; want at most %d", base, i, len(in.slots), 2*(intensitySlots+2))
			}
		}
	}
}
