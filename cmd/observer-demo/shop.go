package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/go-observer/observer/otp"
)

// shop is the demo app: a supervision tree whose shape follows what its
// parts depend on.
//
//	shop (one_for_one)
//	├── prices        the price server every checkout calls: the planted bottleneck
//	├── checkout (rest_for_one: each stage needs the ones before it)
//	│   ├── cart      validates a basket, asking prices for each item
//	│   ├── payments  charges the basket, then casts to the ledger
//	│   └── shipping  books a parcel
//	├── ledger (one_for_all: the journal and its index restart together)
//	│   ├── journal
//	│   └── index
//	├── load          starts checkouts at the configured rate
//	└── chaos         injects crashes
type shop struct {
	node      *otp.Node
	log       *slog.Logger
	load      knob // checkouts per second
	crashRate knob // faults per second
	release   chan struct{}
	checkouts atomic.Uint64
	failures  atomic.Uint64
}

func startShop(n *otp.Node, cfg config, log *slog.Logger) (*shop, error) {
	s := &shop{node: n, log: log, release: make(chan struct{})}
	s.load.set(cfg.Load)
	s.crashRate.set(cfg.CrashRate)
	c := chaotic{release: s.release}
	_, err := otp.StartSupervisor(n, otp.SupervisorSpec{
		Strategy: otp.OneForOne,
		// The demo crashes on purpose: a generous intensity keeps the
		// root alive while the chaos monkey works.
		MaxRestarts: 50,
		Period:      10 * time.Second,
		Children: []otp.ChildSpec{
			otp.Worker("prices", func() otp.Server[priceReq, int] { return &prices{chaotic: c, cost: cfg.PriceCost} }, otp.Name("prices")),
			otp.SupervisorChild("checkout", otp.SupervisorSpec{
				Strategy: otp.RestForOne,
				Children: []otp.ChildSpec{
					otp.Worker("cart", func() otp.Server[basket, int] {
						return &cart{chaotic: c, prices: otp.Named[priceReq, int](n, "prices"), payments: otp.Named[basket, int](n, "payments")}
					}, otp.Name("cart")),
					otp.Worker("payments", func() otp.Server[basket, int] {
						return &payments{chaotic: c, journal: otp.Named[entry, int](n, "journal"),
							index: otp.Named[entry, int](n, "index"), shipping: otp.Named[basket, int](n, "shipping")}
					}, otp.Name("payments")),
					otp.Worker("shipping", func() otp.Server[basket, int] { return &shipping{chaotic: c} }, otp.Name("shipping")),
				},
			}),
			otp.SupervisorChild("ledger", otp.SupervisorSpec{
				Strategy: otp.OneForAll,
				Children: []otp.ChildSpec{
					otp.Worker("journal", func() otp.Server[entry, int] { return &journal{chaotic: c} }, otp.Name("journal")),
					otp.Worker("index", func() otp.Server[entry, int] { return &journal{chaotic: c} }, otp.Name("index")),
				},
			}),
			otp.FuncWorker("load", s.loadGenerator, otp.Name("load")),
			otp.FuncWorker("chaos", chaosMonkey(n, &s.crashRate), otp.Name("chaos")),
		},
	})
	return s, err
}

// close frees the handlers the chaos monkey hung, once the tree has stopped.
func (s *shop) close() { close(s.release) }

// --- prices: the bottleneck ---

type priceReq struct{ SKU int }

// prices answers every quote itself, one at a time: under the default load
// it needs more than a second per second. The fix is to let readers look
// prices up in a table the server owns, instead of calling it.
type prices struct {
	chaotic
	cost time.Duration
}

func (p *prices) HandleCall(ctx context.Context, r priceReq) (int, error) {
	time.Sleep(p.cost) // a database round trip, say
	return 100 + r.SKU%900, nil
}

// --- checkout pipeline ---

type basket struct {
	Items []int
	Total int
}

// cart prices each item with a call to the price server: while prices is
// saturated, every cart call waits on it, and every checkout on the cart.
type cart struct {
	chaotic
	prices   otp.Ref[priceReq, int]
	payments otp.Ref[basket, int]
}

func (c *cart) HandleCall(ctx context.Context, b basket) (int, error) {
	total := 0
	for _, sku := range b.Items {
		p, err := otp.Call(ctx, c.prices, priceReq{SKU: sku})
		if err != nil {
			return 0, fmt.Errorf("price of %d: %w", sku, err)
		}
		total += p
	}
	b.Total = total
	return otp.Call(ctx, c.payments, b)
}

type payments struct {
	chaotic
	journal, index otp.Ref[entry, int]
	shipping       otp.Ref[basket, int]
}

func (p *payments) HandleCall(ctx context.Context, b basket) (int, error) {
	if rand.IntN(200) == 0 {
		return 0, errors.New("card declined")
	}
	otp.Cast(p.journal, entry{Amount: b.Total})
	otp.Cast(p.index, entry{Amount: b.Total})
	return otp.Call(ctx, p.shipping, b)
}

type shipping struct {
	chaotic
	parcels int
}

func (s *shipping) HandleCall(ctx context.Context, b basket) (int, error) {
	s.parcels++
	return b.Total, nil
}

// --- ledger: two halves that must restart together ---

type entry struct{ Amount int }

type journal struct {
	chaotic
	total int
}

func (j *journal) HandleCall(ctx context.Context, e entry) (int, error) { return j.total, nil }
func (j *journal) HandleCast(ctx context.Context, e entry) error {
	j.total += e.Amount
	return nil
}

// --- load ---

// loadGenerator starts checkouts at the load knob's rate, each in its own
// short-lived process that calls the cart.
func (s *shop) loadGenerator(ctx context.Context) error {
	self := otp.Self(ctx)
	cart := otp.Named[basket, int](s.node, "cart")
	return paced(ctx, &s.load, func() {
		b := basket{Items: []int{rand.IntN(1000), rand.IntN(1000)}}
		otp.Go(s.node, func(ctx context.Context) error {
			if _, err := otp.CallTimeout(ctx, cart, b, 2*time.Second); err != nil {
				s.failures.Add(1)
				return nil // a failed checkout is the shopper's problem, not a crash
			}
			s.checkouts.Add(1)
			return nil
		}, otp.Parent(self))
	})
}

// storm crashes the payments stage again as soon as each restart is done,
// until its supervisor gives up: more restarts than its intensity allows,
// so checkout exits and the shop restarts the whole pipeline.
func (s *shop) storm() {
	var last otp.PID
	for range 6 {
		pid := s.awaitRestart("payments", last)
		if pid == 0 {
			return
		}
		s.node.Send(pid, faultError)
		last = pid
	}
}

// awaitRestart waits up to a second for name to belong to a process other
// than old, and returns it (0 if none came).
func (s *shop) awaitRestart(name string, old otp.PID) otp.PID {
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if pid, ok := s.node.Whereis(name); ok && pid != old {
			return pid
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0
}
