// Command observer-demo runs a small online shop built from every kind of
// supervised process, with crashes injected at a configurable rate and a
// price server that becomes a GenServer bottleneck under the default load,
// and serves the observer's dashboard for it.
//
//	go run ./cmd/observer-demo
//
// Open the URL it prints. The dashboard is mounted at /debug/observer/, as
// an application would mount it; the shop's control panel is at /demo/.
// Ctrl-C stops the supervision tree in order, reports processes that did
// not stop, and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/otp"
	"github.com/go-observer/observer/web"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "observer-demo:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg := defaultConfig()
	flag.StringVar(&cfg.Addr, "addr", cfg.Addr, "address the dashboard listens on (loopback by default: it shows the app's internals)")
	flag.Float64Var(&cfg.Load, "load", cfg.Load, "checkouts started per second; the price server saturates at about 50")
	flag.Float64Var(&cfg.CrashRate, "crash-rate", cfg.CrashRate, "crashes per second the chaos monkey injects (0 turns it off)")
	flag.DurationVar(&cfg.PriceCost, "price-cost", cfg.PriceCost, "time the price server spends on one quote")
	flag.DurationVar(&cfg.HangFor, "hang-for", cfg.HangFor, "how long a handler the chaos monkey hangs ignores everything, its context included")
	flag.BoolVar(&cfg.Actions, "actions", cfg.Actions, "let the dashboard kill processes, restart children, trace and show state")
	flag.BoolVar(&cfg.Trace, "trace", cfg.Trace, "keep the execution trace of the seconds before each finding, for go tool trace (the runtime's flight recorder; it slows very short calls)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: observer-demo [flags]\n\n"+
			"Runs a demo shop with injected crashes and a GenServer bottleneck, and serves\n"+
			"the observer dashboard for it.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := cfg.validate(); err != nil {
		return err
	}

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	app, err := startApp(cfg, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		app.stop(log)
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{Handler: app.mux, ReadHeaderTimeout: 5 * time.Second}
	srv.RegisterOnShutdown(app.panel.close) // the panel's live streams end, or Shutdown would wait for them
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(os.Stderr, "\n  observer dashboard: http://%s/debug/observer/\n  shop controls:      http://%s/demo/\n\n", ln.Addr(), ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
	case err := <-served:
		app.stop(log)
		return fmt.Errorf("serve: %w", err)
	}
	stop() // a second Ctrl-C kills the program the usual way
	log.Info("stopping: the dashboard, then the tree in reverse start order")
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	app.dash.Close() // browsers hear 1001 "going away": Shutdown leaves websockets alone
	srv.Shutdown(shut)
	return app.stop(log)
}

// app is the shop with its observer and dashboard.
type app struct {
	node  *otp.Node
	shop  *shop
	obs   *observer.Observer
	dash  *web.Handler
	panel *controls
	mux   *http.ServeMux
}

func startApp(cfg config, log *slog.Logger) (*app, error) {
	node := otp.NewNode(otp.Config{Logger: log})
	shop, err := startShop(node, cfg, log)
	if err != nil {
		node.Stop()
		return nil, fmt.Errorf("start shop: %w", err)
	}
	obs, err := observer.New(node.ProcessTable(), observer.Options{
		FindingStacks:  true, // the advisor links each finding's processes' stacks
		FlightRecorder: cfg.Trace,
	})
	if err == nil {
		err = obs.Start()
	}
	if err != nil {
		node.Stop()
		return nil, fmt.Errorf("start observer: %w", err)
	}
	dash, err := web.New(obs, web.Options{Actions: cfg.Actions, Title: "observer · demo shop",
		Links: []web.Link{{Text: "Shop controls", Href: "/demo/"}}})
	if err != nil {
		obs.Close()
		node.Stop()
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	mux := http.NewServeMux()
	dash.Register(mux, "/debug/observer/")
	panel := newControls(shop, "/debug/observer/")
	mux.Handle("/demo/", http.StripPrefix("/demo/", panel))
	mux.Handle("/{$}", http.RedirectHandler("/debug/observer/", http.StatusFound))
	log.Info("shop running", "processes", node.ProcessTable().Len(), "load", cfg.Load, "crash_rate", cfg.CrashRate)
	return &app{node: node, shop: shop, obs: obs, dash: dash, panel: panel, mux: mux}, nil
}

// stop stops the observer and the tree, then frees hung handlers.
func (a *app) stop(log *slog.Logger) error {
	a.panel.close()
	a.obs.Close()
	start := time.Now()
	err := a.node.Stop()
	a.shop.close()
	log.Info("stopped", "took", time.Since(start).Round(time.Millisecond))
	if errors.Is(err, otp.ErrUnresponsive) {
		// Hung handlers are the chaos monkey's doing: they were reported,
		// and are released now.
		log.Warn("some processes did not stop in time", "error", err)
		return nil
	}
	return err
}
