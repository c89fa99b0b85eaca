//go:build !linux

package otp

func newTicker() ticker { return newGoTicker() }
