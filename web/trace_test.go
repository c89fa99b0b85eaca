package web

import (
	"strings"
	"testing"
)

// A trace's lines become rows: a reply joins the call before it with the
// time between their stamps; casts and infos stand alone; a long message
// is cut, with its full text kept for the title.
func TestTraceRows(t *testing.T) {
	long := strings.Repeat("x", 500)
	res := traceOf([]string{
		"12:00:00.999000 reply 41", // to a call handled before the trace began
		"12:00:01.000100 call {Item:apple N:1}",
		"12:00:01.002600 reply 42",
		"12:00:01.003000 cast {Amount:7}",
		"12:00:01.004000 info {Reason:normal}",
		"12:00:01.005000 call " + long,
		"12:00:01.005010 reply error: no stock",
		"12:00:01.006000 call {Item:pear}",
		"something else entirely",
	})
	if !res.Replies {
		t.Error("replies: got false, want true: the runtime traced them")
	}
	want := []traceRow{
		{Time: "12:00:00.999", Dir: "out", Kind: "reply", Msg: "41"},
		{Time: "12:00:01.000", Dir: "in", Kind: "call", Msg: "{Item:apple N:1}", Reply: "42", Took: "2.5ms"},
		{Time: "12:00:01.003", Dir: "in", Kind: "cast", Msg: "{Amount:7}"},
		{Time: "12:00:01.004", Dir: "in", Kind: "info", Msg: "{Reason:normal}"},
		{Time: "12:00:01.005", Dir: "in", Kind: "call", Msg: strings.Repeat("x", traceRunes) + "…", MsgFull: long, Reply: "error: no stock", Took: "10µs"},
		{Time: "12:00:01.006", Dir: "in", Kind: "call", Msg: "{Item:pear}"},
		{Time: "", Dir: "in", Kind: "", Msg: "something else entirely"},
	}
	if len(res.Rows) != len(want) {
		t.Fatalf("rows: got %d %+v, want %d", len(res.Rows), res.Rows, len(want))
	}
	for i := range want {
		if res.Rows[i] != want[i] {
			t.Errorf("row %d: got %+v, want %+v", i, res.Rows[i], want[i])
		}
	}
	if want := "traced 6 messages: 3 calls, 1 cast, 1 info"; res.Summary != want {
		t.Errorf("summary: got %q, want %q", res.Summary, want)
	}
}

// otp's trace today records the messages only: the rows say so, and the
// summary tells why the reply column is empty.
func TestTraceWithoutReplies(t *testing.T) {
	res := traceOf([]string{"12:00:01.000100 call {Item:apple N:1}", "12:00:01.000200 cast x"})
	if res.Replies || res.Rows[0].Reply != "" || res.Rows[0].Took != "" {
		t.Errorf("got %+v, want no replies", res)
	}
	if !strings.Contains(res.Summary, "does not trace replies") {
		t.Errorf("summary %q, want it to say replies are not traced", res.Summary)
	}
	if res := traceOf(nil); len(res.Rows) != 0 || !strings.Contains(res.Summary, "no message") {
		t.Errorf("empty trace: got %+v", res)
	}
}
