package otp

import (
	"testing"
	"unsafe"
)

// The senders' side of a mailbox is one 64-byte allocation, which Go's
// allocator places on a cache line of its own: an append then moves one
// line between the senders' cores. A field added to it must not grow it.
func TestSendSideFillsOneCacheLine(t *testing.T) {
	if n := unsafe.Sizeof(sendSide[struct{ X, Y int64 }, int]{}); n != 64 {
		t.Fatalf("sendSide is %d bytes; keep it at 64, one cache line", n)
	}
}
