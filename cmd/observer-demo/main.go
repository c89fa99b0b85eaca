// Command observer-demo runs a small online shop built from supervised
// processes, with crashes injected at a configurable rate and a price
// server that becomes a GenServer bottleneck under the default load.
//
//	go run ./cmd/observer-demo
//
// Crash reports and restarts are logged through log/slog. Ctrl-C stops the
// supervision tree in order and reports processes that did not stop.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-observer/observer/otp"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "observer-demo:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg := defaultConfig()
	flag.Float64Var(&cfg.Load, "load", cfg.Load, "checkouts per second the load generator starts")
	flag.Float64Var(&cfg.CrashRate, "crash-rate", cfg.CrashRate, "crashes per second the chaos monkey injects (0 turns it off)")
	flag.DurationVar(&cfg.PriceCost, "price-cost", cfg.PriceCost, "time the price server spends on one quote: with -load, decides whether it saturates")
	flag.Parse()
	if err := cfg.validate(); err != nil {
		return err
	}

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	node := otp.NewNode(otp.Config{Logger: log})
	shop, err := startShop(node, cfg, log)
	if err != nil {
		node.Stop()
		return fmt.Errorf("start shop: %w", err)
	}
	log.Info("shop running", "processes", node.Table().Len(), "load", cfg.Load, "crash_rate", cfg.CrashRate)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	log.Info("stopping: the tree stops in reverse start order")
	start := time.Now()
	err = node.Stop()
	shop.close()
	log.Info("stopped", "took", time.Since(start).Round(time.Millisecond), "checkouts", shop.checkouts.Load())
	if errors.Is(err, otp.ErrUnresponsive) {
		// Hung handlers are the chaos monkey's doing: report them and exit.
		log.Warn("some processes did not stop in time", "error", err)
		return nil
	}
	return err
}
