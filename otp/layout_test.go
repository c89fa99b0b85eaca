package otp

import (
	"testing"
	"unsafe"

	"github.com/go-observer/observer/instrument"
)

// The senders' side of a mailbox is one 64-byte allocation, which Go's
// allocator places on a cache line of its own: an append then moves one
// line between the senders' cores. A field added to it must not grow it.
func TestSendSideFillsOneCacheLine(t *testing.T) {
	if n := unsafe.Sizeof(sendSide[struct{ X, Y int64 }, int]{}); n != 64 {
		t.Fatalf("sendSide is %d bytes; keep it at 64, one cache line", n)
	}
}

// A process record is one allocation of Go's 384-byte size class, with its
// senders' and owner's counters at fixed offsets in it: what is added to
// it (such as the owner slot otp finds its processes by) goes at its end
// and must not push it into the next class.
func TestProcRecordKeepsItsSizeClass(t *testing.T) {
	var p instrument.Proc
	if n := unsafe.Sizeof(p); n > 384 {
		t.Fatalf("instrument.Proc is %d bytes; keep it within 384, its size class", n)
	}
}

// A plain process (the one a supervisor restarts in a crash loop) is one
// allocation of the 352-byte size class, its pprof labels included (they
// took four allocations of their own, 150 bytes, when pprof built them): a
// field added to process must not push it into the next (384 bytes).
func TestPlainProcessKeepsItsSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(funcProc{}); n > 352 {
		t.Fatalf("funcProc is %d bytes; keep it within 352, its size class", n)
	}
}

// A server is one allocation of the 512-byte size class, and a
// supervisor's record of a child one of the 80-byte class: a million
// hibernated servers under a partition supervisor hold one of each.
func TestServerAndChildKeepTheirSizeClasses(t *testing.T) {
	if n := unsafe.Sizeof(server[int, int]{}); n > 512 {
		t.Errorf("a server is %d bytes; keep it within 512, its size class", n)
	}
	if n := unsafe.Sizeof(child{}); n > 80 {
		t.Errorf("a child record is %d bytes; keep it within 80, its size class", n)
	}
}
