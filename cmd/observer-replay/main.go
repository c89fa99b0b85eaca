// Command observer-replay serves the observer's dashboard over a
// recording: the history a dashboard downloads as one file (the
// "⤓ recording" link on its time scrubber, or GET /api/recording), so
// that an incident attached to a bug report can be looked at later, on
// a laptop, with the same pages.
//
//	observer-replay [-addr 127.0.0.1:8081] FILE
//
// The dashboard is read-only and shows what was recorded: every tick of
// the recorded span, through the time scrubber, which starts paused at
// the recording's end. What needs the live program (CPU profiles,
// goroutine dumps and census, stacks, actions) says that this is a
// recording. It listens on loopback by default: a recording shows the
// program's internals.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "observer-replay:", err)
		}
		os.Exit(2)
	}
}

// run serves the recording named in args until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("observer-replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8081", "address the dashboard listens on (loopback by default: a recording shows the program's internals)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: observer-replay [-addr host:port] FILE\n\n"+
			"Serves the observer dashboard, read-only, over a recording: the file its\n"+
			"time scrubber's \"⤓ recording\" link (or GET /api/recording) downloads.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("want one recording file, got %d arguments", fs.NArg())
	}
	rp, err := open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer rp.close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	srv := &http.Server{Handler: rp.mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	info := rp.info
	fmt.Fprintf(stdout, "replaying %s: %s, %s to %s UTC, %d ticks\n  dashboard: http://%s/\n",
		filepath.Base(fs.Arg(0)), info.Program, info.From.UTC().Format("2006-01-02 15:04:05"),
		info.To.UTC().Format("15:04:05"), info.Ticks, ln.Addr())
	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rp.dash.Close() // browsers hear 1001 "going away": Shutdown leaves websockets alone
	return srv.Shutdown(shut)
}

// replay is a recording's observer and its dashboard, mounted at the root.
type replay struct {
	info observer.RecordingInfo
	obs  *observer.Observer
	dash *web.Handler
	mux  *http.ServeMux
}

// open reads the recording at path and builds its dashboard.
func open(path string) (*replay, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	o, err := observer.Replay(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	info, _ := o.Replayed()
	dash, err := web.New(o, web.Options{Title: info.Program + " · replay"})
	if err != nil {
		o.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	dash.Register(mux, "/")
	return &replay{info: info, obs: o, dash: dash, mux: mux}, nil
}

func (r *replay) close() {
	r.dash.Close()
	r.obs.Close()
}
