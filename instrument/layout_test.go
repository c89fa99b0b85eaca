package instrument

import (
	"testing"
	"unsafe"
)

// A supervisor spawns a child's next incarnation on one core while the
// last one exits on another: what Spawn writes (the next PID), what Exit
// writes (the exit counts), what both read (the subscriptions) and each
// shard are each on a 64-byte line of their own, else every restart moves
// lines between the cores (a restart took about a tenth longer).
func TestProcessTableKeepsWritersLinesApart(t *testing.T) {
	var pt ProcessTable
	line := func(off uintptr) uintptr { return off / 64 }
	spawn, exit, read := line(unsafe.Offsetof(pt.nextID)), line(unsafe.Offsetof(pt.exited)), line(unsafe.Offsetof(pt.subs))
	if spawn == exit || exit == read || spawn == read {
		t.Errorf("nextID, exited and subs are on lines %d, %d and %d; keep them apart", spawn, exit, read)
	}
	if end := unsafe.Offsetof(pt.registries) + unsafe.Sizeof(pt.registries); line(end-1) == line(unsafe.Offsetof(pt.shard)) {
		t.Errorf("the first shard shares a line with the table's own fields")
	}
	if off, n := unsafe.Offsetof(pt.shard), unsafe.Sizeof(pt.shard[0]); off%64 != 0 || n != 64 {
		t.Errorf("shards start at offset %d and are %d bytes; want a multiple of 64 and 64", off, n)
	}
	if n := unsafe.Sizeof(pt); n <= 1024 {
		t.Errorf("the table is %d bytes: the lines above hold only for objects over 1 KB, whose size classes are multiples of 64", n)
	}
}
