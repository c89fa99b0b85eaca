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
// allocation of the 256-byte size class, its pprof labels included (they
// took four allocations of their own, 150 bytes, when pprof built them): a
// field added to process must not push it into the next (288 bytes). What
// few processes use (a registered name, a stop request's reason) is kept
// out of line (procExtra).
func TestPlainProcessKeepsItsSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(funcProc{}); n > 256 {
		t.Fatalf("funcProc is %d bytes; keep it within 256, its size class", n)
	}
}

// A server is one allocation of the 320-byte size class, and a
// supervisor's record of a child one of the 64-byte class: a million
// hibernated servers under a partition supervisor hold one of each, and
// their record in the table, and (with the application's own value)
// nothing else (BenchmarkPartitionChildren). A server must also stay out
// of the table records' class (384 bytes): sharing their spans, it would
// spread the records the observer's tick reads over twice the memory
// (BenchmarkMillion/tick at a million took a fifth longer).
func TestServerAndChildKeepTheirSizeClasses(t *testing.T) {
	if n := unsafe.Sizeof(server[int, int]{}); n > 320 {
		t.Errorf("a server is %d bytes; keep it within 320, its size class", n)
	}
	if n := unsafe.Sizeof(child{}); n > 64 {
		t.Errorf("a child record is %d bytes; keep it within 64, its size class", n)
	}
}

// What senders read of a server's mailbox per message (its channel, its
// flags, its senders' side: the mailbox's first 32 bytes) shares no
// 64-byte line with what the owner writes per message (where it reads in
// the list, the call it handles). Go's allocator
// places a server at a multiple of 32 bytes from a line (its size classes,
// 320 bytes and up, are multiples of 32), so the check is made at both:
// with the server starting a line, and half-way into one, where the line's
// first half is the tail of the object before it, also a server.
func TestMailboxKeepsSendersLineApart(t *testing.T) {
	type field struct {
		name      string
		off, size uintptr
	}
	check := func(name string, size uintptr, senders field, owner []field) {
		t.Helper()
		if senders.off != 0 {
			t.Errorf("%s: the mailbox starts at byte %d; it must start the server", name, senders.off)
		}
		for _, base := range []uintptr{0, 32} {
			for _, f := range owner {
				if (base+senders.off)/64 <= (base+f.off+f.size-1)/64 && (base+f.off)/64 <= (base+senders.off+senders.size-1)/64 {
					t.Errorf("%s at %d bytes into a line: the senders' bytes %d-%d share a line with the owner's %s (%d-%d)",
						name, base, senders.off, senders.off+senders.size, f.name, f.off, f.off+f.size)
				}
				if f.off+f.size > size-32 {
					t.Errorf("%s: the owner's %s (%d-%d) is in the last 32 bytes, which share a line with the senders' bytes of a server after it",
						name, f.name, f.off, f.off+f.size)
				}
			}
		}
	}
	var a server[int, int]
	check("server[int, int]", unsafe.Sizeof(a), field{"", unsafe.Offsetof(a.mb), unsafe.Offsetof(a.mb.side) + 8}, []field{
		{"head", unsafe.Offsetof(a.mb.head), 8}, {"ri", unsafe.Offsetof(a.mb.ri), 8},
		{"read", unsafe.Offsetof(a.mb.read), 8}, {"avail", unsafe.Offsetof(a.mb.avail), 8},
		{"curCall", unsafe.Offsetof(a.mb.curCall), 8},
		{"curGen", unsafe.Offsetof(a.mb.curGen), 8}})
	var b server[struct{ A, B, C, D int64 }, string]
	check("server[struct, string]", unsafe.Sizeof(b), field{"", unsafe.Offsetof(b.mb), unsafe.Offsetof(b.mb.side) + 8}, []field{
		{"head", unsafe.Offsetof(b.mb.head), 8}, {"ri", unsafe.Offsetof(b.mb.ri), 8},
		{"read", unsafe.Offsetof(b.mb.read), 8}, {"avail", unsafe.Offsetof(b.mb.avail), 8},
		{"curCall", unsafe.Offsetof(b.mb.curCall), 8},
		{"curGen", unsafe.Offsetof(b.mb.curGen), 8}})
}
