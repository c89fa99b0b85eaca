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

// A server is one allocation of the 448-byte size class, and a
// supervisor's record of a child one of the 80-byte class: a million
// hibernated servers under a partition supervisor hold one of each.
func TestServerAndChildKeepTheirSizeClasses(t *testing.T) {
	if n := unsafe.Sizeof(server[int, int]{}); n > 448 {
		t.Errorf("a server is %d bytes; keep it within 448, its size class", n)
	}
	if n := unsafe.Sizeof(child{}); n > 80 {
		t.Errorf("a child record is %d bytes; keep it within 80, its size class", n)
	}
}

// What senders read of a server's mailbox per message (its channel, its
// flags, its senders' side) shares no 64-byte line with what the owner
// writes per message: a server is allocated on a 64-byte boundary (its
// size class, 448 bytes, is a multiple of 64), and the mailbox's padding
// is sized for where the mailbox sits in it.
func TestMailboxKeepsSendersLineApart(t *testing.T) {
	check := func(name string, mb, sendersEnd, ownerStart uintptr) {
		t.Helper()
		if (mb+sendersEnd-1)/64 == (mb+ownerStart)/64 {
			t.Errorf("%s: senders' fields end at byte %d and the owner's begin at %d, in the same cache line",
				name, mb+sendersEnd, mb+ownerStart)
		}
	}
	var a server[int, int]
	check("server[int, int]", unsafe.Offsetof(a.mb), unsafe.Offsetof(a.mb.sendSide)+8, unsafe.Offsetof(a.mb.hibAfter))
	var b server[struct{ A, B, C, D int64 }, string]
	check("server[struct, string]", unsafe.Offsetof(b.mb), unsafe.Offsetof(b.mb.sendSide)+8, unsafe.Offsetof(b.mb.hibAfter))
}
