package observer_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/otp"
)

// recorded runs a bottleneck that comes and goes and a crash, and
// returns the observer (closed) and its recording.
func recorded(t *testing.T) (*observer.Observer, []byte, *observer.Snapshot) {
	t.Helper()
	var o *observer.Observer
	var on *observer.Snapshot
	synctest.Test(t, func(t *testing.T) {
		n := node(t)
		ref, err := otp.Start[int, int](n, &sleeper{d: 10 * time.Millisecond}, otp.Name("price"))
		if err != nil {
			t.Fatal(err)
		}
		o = startBubble(t, n.ProcessTable(), observer.Options{})
		sub := o.Subscribe()
		defer sub.Close()
		next(t, sub)
		stop := load(8, func(ctx context.Context) { otp.Call(ctx, ref, 1) })
		on = await(t, sub, 3, "bottleneck found", has(observer.KindBottleneck, ref.PID()))
		stop()
		await(t, sub, 5, "bottleneck cleared", hasNot(observer.KindBottleneck, ref.PID()))
		for range 3 {
			next(t, sub)
		}
	})
	rec, err := o.Record()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := rec.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Errorf("WriteTo: reported %d bytes, wrote %d", n, buf.Len())
	}
	return o, buf.Bytes(), on
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A recording read back shows every moment as the history did: the same
// snapshot at each tick, the same timeline, the same events; its newest
// snapshot is the last tick; what needs the live program says it is a
// recording.
func TestRecordingReadBackShowsTheSameMoments(t *testing.T) {
	o, file, on := recorded(t)
	r, err := observer.Replay(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tl, rtl := o.Timeline(), r.Timeline()
	if tl.Ticks < 5 {
		t.Fatalf("the history holds %d ticks, want a few", tl.Ticks)
	}
	if got, want := asJSON(t, rtl.Findings), asJSON(t, tl.Findings); got != want {
		t.Errorf("replayed timeline's findings:\ngot  %s\nwant %s", got, want)
	}
	if !rtl.From.Equal(tl.From) || !rtl.To.Equal(tl.To) || rtl.Ticks != tl.Ticks {
		t.Errorf("replayed timeline: got %v..%v, %d ticks; want %v..%v, %d ticks", rtl.From, rtl.To, rtl.Ticks, tl.From, tl.To, tl.Ticks)
	}
	n := 0
	for at := tl.From; !at.After(tl.To); at = at.Add(time.Second) {
		want, ok := o.At(at)
		got, rok := r.At(at)
		if ok != rok {
			t.Fatalf("At(%v): replayed found %v, the original %v", at, rok, ok)
		}
		if g, w := asJSON(t, got), asJSON(t, want); g != w {
			t.Fatalf("At(%v), tick %d: the replayed snapshot differs:\ngot  %s\nwant %s", at, want.Tick, g, w)
		}
		n++
	}
	if past, _ := r.At(on.At); finding(past, observer.KindBottleneck, on.Findings[0].PID) == nil {
		t.Errorf("replayed At(%v): no bottleneck; got\n%s", on.At, dump(past))
	}
	if at, ok := r.Seen(on.Findings[0].PID); !ok || at.Before(on.At) {
		t.Errorf("Seen(price): got %v (%v), want a moment at or after the bottleneck %v", at, ok, on.At)
	}
	if at, ok := r.Seen(999_999); ok {
		t.Errorf("Seen(a PID never seen): got %v, want false", at)
	}
	last, _ := o.At(tl.To)
	if got, want := asJSON(t, r.Snapshot()), asJSON(t, last); got != want {
		t.Errorf("replayed Snapshot: got\n%s\nwant the last tick's\n%s", got, want)
	}
	if info, ok := r.Replayed(); !ok || info.Ticks != tl.Ticks || !info.To.Equal(tl.To) || info.Version != observer.RecordingVersion {
		t.Errorf("Replayed: got %+v (%v), want %d ticks to %v", info, ok, tl.Ticks, tl.To)
	}
	if _, ok := o.Replayed(); ok {
		t.Errorf("Replayed of a live observer: got true, want false")
	}
	if _, err := r.ProfileCPU(context.Background(), time.Second); !errors.Is(err, observer.ErrReplay) {
		t.Errorf("ProfileCPU of a replay: got %v, want ErrReplay", err)
	}
	if _, err := r.Census(context.Background()); !errors.Is(err, observer.ErrReplay) {
		t.Errorf("Census of a replay: got %v, want ErrReplay", err)
	}
	if err := r.Start(); err == nil {
		t.Errorf("Start of a replay: got nil, want an error")
	}
	if got, want := len(r.Events(observer.EventQuery{}).Events), len(r.Snapshot().Events.Entries); got < want {
		t.Errorf("replayed Events: %d entries, want at least the last tick's %d", got, want)
	}
	// Written again from the replay, it is the same recording.
	rec, err := r.Record()
	if err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if _, err := rec.WriteTo(&again); err != nil {
		t.Fatal(err)
	}
	if a, b := unzip(t, again.Bytes()), unzip(t, file); !bytes.Equal(a, b) {
		i := 0
		for i < min(len(a), len(b)) && a[i] == b[i] {
			i++
		}
		t.Errorf("a recording of the replay differs from the recording at byte %d of %d/%d:\ngot  %q\nwant %q", i, len(a), len(b), a[max(0, i-40):min(len(a), i+40)], b[max(0, i-40):min(len(b), i+40)])
	}
	t.Logf("%d ticks compared; the recording is %d bytes (%d gunzipped)", n, len(file), len(unzip(t, file)))
}

func unzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := out.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// A file that is not a whole recording gets an error that says what is
// wrong with it, never a partial observer.
func TestReplayRefusesBadFiles(t *testing.T) {
	_, file, _ := recorded(t)
	inner := unzip(t, file)
	flipped := bytes.Clone(file)
	flipped[len(flipped)/2] ^= 0xff // in the compressed data
	checksum := bytes.Clone(file)
	checksum[len(checksum)-6] ^= 0xff // the CRC-32 in the gzip trailer
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "empty"},
		{"text", []byte("hello, this is not a recording"), "not gzip"},
		{"other gzip", gz([]byte("hello\nworld\n")), "not a recording"},
		{"newer", gz([]byte("observer-recording 99\n")), "newer than this reader"},
		{"no header", gz([]byte("observer-recording 1\n")), "truncated"},
		{"checksum", checksum, "checksum"},
		{"flipped byte", flipped, "corrupt"},
		{"tail cut", gz(inner[:len(inner)-3]), "truncated"},
		{"extra", gz(append(bytes.Clone(inner), 1, 2, 3)), "after the trailer"},
	}
	for _, cut := range []int{10, 100, len(file) / 3, len(file) / 2, len(file) - 9} {
		cases = append(cases, struct {
			name string
			file []byte
			want string
		}{"cut at " + strconv.Itoa(cut), file[:cut], "truncated"})
	}
	for _, c := range cases {
		o, err := observer.Replay(bytes.NewReader(c.file))
		if err == nil {
			o.Close()
			t.Errorf("%s: Replay: got nil error, want one saying %q", c.name, c.want)
			continue
		}
		t.Logf("%s: %v", c.name, err)
		if !errors.Is(err, observer.ErrRecording) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Replay: got %v, want ErrRecording saying %q", c.name, err, c.want)
		}
	}
}

// The evidence kept when findings turned on (the execution trace, the
// stacks of the processes named) goes into the recording, and the replay
// gives back the same bytes; the replay at the moment the finding was on
// lists it too.
func TestRecordingCarriesTheEvidence(t *testing.T) {
	n := node(t)
	ref, err := otp.Start[int, int](n, &sleeper{d: 5 * time.Millisecond}, otp.Name("price"))
	if err != nil {
		t.Fatal(err)
	}
	o := start(t, n.ProcessTable(), observer.Options{Tick: observer.MinTick, FlightRecorder: true})
	sub := o.Subscribe()
	defer sub.Close()
	stop := load(8, func(ctx context.Context) { otp.Call(ctx, ref, 1) })
	defer stop()
	await(t, sub, 40, "its evidence saved", func(*observer.Snapshot) bool {
		list, _ := o.FindingTraces()
		return len(list) > 0 && list[0].Stacks > 0
	})
	stop()
	rec, err := o.Record()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := rec.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := observer.Replay(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	want, _ := o.FindingTraces()
	got, why := r.FindingTraces()
	if asJSON(t, got) != asJSON(t, want) || why != "" {
		t.Fatalf("replayed evidence: got %s (%q), want %s", asJSON(t, got), why, asJSON(t, want))
	}
	for _, ev := range want {
		_, wtr, wok := o.FindingTrace(ev.Seq)
		_, gtr, gok := r.FindingTrace(ev.Seq)
		if gok != wok || !bytes.Equal(gtr, wtr) {
			t.Errorf("trace %d: replayed %v, %d bytes; want %v, the same %d bytes", ev.Seq, gok, len(gtr), wok, len(wtr))
		}
		_, wst, wok := o.FindingStacks(ev.Seq)
		_, gst, gok := r.FindingStacks(ev.Seq)
		if gok != wok || asJSON(t, gst) != asJSON(t, wst) {
			t.Errorf("stacks %d: replayed %v, %s; want %v, %s", ev.Seq, gok, asJSON(t, gst), wok, asJSON(t, wst))
		}
	}
	first := want[len(want)-1]
	if s, ok := r.At(first.At); !ok || len(s.Traces) == 0 || asJSON(t, s.Traces[len(s.Traces)-1]) != asJSON(t, first) {
		t.Errorf("the replay at %v: %v, traces %+v; want it to list %+v", first.At, ok, s.Traces, first)
	}
	if s, ok := r.At(first.At.Add(-observer.MinTick)); ok && len(s.Traces) != 0 {
		t.Errorf("the replay before any finding: traces %+v, want none", s.Traces)
	}
}

// A version 1 recording (no evidence) is still read.
func TestReplayReadsVersion1(t *testing.T) {
	_, file, _ := recorded(t)
	inner := unzip(t, file)
	line, rest, _ := bytes.Cut(inner, []byte("\n"))
	if want := "observer-recording " + strconv.Itoa(observer.RecordingVersion); string(line) != want {
		t.Fatalf("first line: got %q, want %q", line, want)
	}
	o, err := observer.Replay(bytes.NewReader(gz(append([]byte("observer-recording 1\n"), rest...))))
	if err != nil {
		t.Fatalf("Replay of a version 1 file: %v", err)
	}
	defer o.Close()
	if info, _ := o.Replayed(); info.Ticks == 0 {
		t.Errorf("the version 1 file's ticks: got none")
	}
}
