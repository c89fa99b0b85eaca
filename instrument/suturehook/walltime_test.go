package suturehook_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/instrument/suturehook"
	"github.com/go-observer/observer/observer"
	"github.com/thejerf/suture/v4"
)

// napService sleeps in a loop until it is stopped: all its wall time is
// at one line.
type napService struct{}

func (napService) Serve(ctx context.Context) error {
	for ctx.Err() == nil {
		time.Sleep(2 * time.Millisecond) // napLine
	}
	return ctx.Err()
}

func (napService) String() string { return "napper" }

// A suture service run through the hook gets the wall-time view of an otp
// process: its goroutine carries the pprof labels, so that, watched while
// somebody looks, its profile names the line it sleeps at.
func TestSutureServiceWallTime(t *testing.T) {
	want := lineOf(t, "walltime_test.go", "// napLine")
	tab := instrument.NewProcessTable()
	hook := suturehook.New(tab, quiet)
	root := hook.New("app", suture.Spec{})
	root.Add(napService{})
	ctx, cancel := context.WithCancel(context.Background())
	errc := root.ServeBackground(ctx)
	defer func() {
		cancel()
		<-errc
	}()
	o, err := observer.New(tab, observer.Options{Tick: observer.MinTick, WallRate: 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Start(); err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	sub := o.Subscribe()
	defer sub.Close()

	var pid instrument.PID
	for range 80 {
		<-sub.C()
		if pid == 0 {
			tab.Range(func(p *instrument.Proc) bool {
				if p.Name() == "napper" && p.Status() != instrument.StatusExited {
					pid = p.ID()
				}
				return pid == 0
			})
			if pid != 0 {
				if err := o.Watch(pid); err != nil {
					t.Fatal(err)
				}
			}
			continue
		}
		w, ok := o.WallTime(pid)
		if ok && w.Samples >= 10 && len(w.Top) > 0 && w.Top[0].Line != 0 {
			top := w.Top[0]
			if got := fmt.Sprintf("%s:%d", top.File, top.Line); got != want || top.Function != "time.Sleep" || top.State != "sleep" {
				t.Fatalf("top frame: got %s, want time.Sleep at %s, sleeping", top, want)
			}
			if !strings.HasSuffix(top.Caller, "napService.Serve") {
				t.Errorf("caller: got %q, want napService.Serve", top.Caller)
			}
			return
		}
	}
	w, ok := o.WallTime(pid)
	t.Fatalf("no wall-time profile of the service (pid %v) within 80 ticks: got %+v, %v", pid, w, ok)
}

// lineOf returns "file:N" for the first line of file that holds s.
func lineOf(t *testing.T, file, s string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) && !strings.Contains(l, "lineOf") {
			return fmt.Sprintf("%s:%d", file, i+1)
		}
	}
	t.Fatalf("%s holds no %q", file, s)
	return ""
}
