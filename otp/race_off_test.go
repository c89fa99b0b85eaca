//go:build !race

package otp_test

const raceEnabled = false
