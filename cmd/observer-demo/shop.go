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

// shop is the demo app: an online shop whose supervision tree follows what
// its parts depend on.
//
//	shop (one_for_one)
//	├── catalog      an owned table of products: sessions read it directly
//	├── catalog-sync keeps the catalogue fresh (writes go through the owner)
//	├── prices       the price server every checkout calls: the planted bottleneck
//	├── stats        an agent counting checkouts, failures and receipts
//	├── checkout (rest_for_one: each stage needs the ones before it)
//	│   ├── cart      validates a priced basket
//	│   ├── payments  charges it and writes the ledger
//	│   └── shipping  books a parcel
//	├── ledger (one_for_all: the journal and its index restart together)
//	│   ├── journal
//	│   └── index
//	├── mailer       a task supervisor: receipt e-mails, some of which fail
//	├── sessions     a partition supervisor of shoppers, named through a registry
//	├── load         starts shoppers at the configured rate
//	└── chaos        injects crashes
type shop struct {
	node     *otp.Node
	log      *slog.Logger
	sessions atomic.Pointer[otp.PartitionSupervisor] // the current incarnation
	registry *otp.Registry                           // session-<n> → shopper

	load      knob        // checkouts started per second
	crashRate knob        // faults injected per second
	fixed     atomic.Bool // sessions read prices from the table, not the server
	release   chan struct{}
	nextID    atomic.Uint64
}

// counts is the stats agent's state.
type counts struct {
	Checkouts, Failures, Receipts, Bounced uint64
}

const (
	skus           = 1000
	checkoutWait   = 3 * time.Second // a shopper gives up on a checkout after this
	receiptFailure = 0.05            // share of receipt e-mails that bounce
)

func startShop(n *otp.Node, cfg config, log *slog.Logger) (*shop, error) {
	s := &shop{node: n, log: log, release: make(chan struct{}),
		registry: otp.NewRegistry(n, "sessions", otp.Unique)}
	s.load.set(cfg.Load)
	s.crashRate.set(cfg.CrashRate)
	c := chaotic{release: s.release, hangFor: cfg.HangFor}
	_, err := otp.StartSupervisor(n, otp.SupervisorSpec{
		Strategy: otp.OneForOne,
		// The demo crashes on purpose: a generous intensity keeps the root
		// alive while the chaos monkey works (a storm still escalates).
		MaxRestarts: 50,
		Period:      10 * time.Second,
		Children: []otp.ChildSpec{
			otp.TableWorker[int, product]("catalog", "catalog", otp.Name("catalog")),
			otp.FuncWorker("catalog-sync", s.syncCatalog, otp.Name("catalog-sync")),
			otp.Worker("prices", func() otp.Server[priceReq, int] { return &prices{chaotic: c, cost: cfg.PriceCost} }, otp.Name("prices")),
			otp.AgentWorker("stats", func() counts { return counts{} }, otp.Name("stats")),
			otp.SupervisorChild("checkout", otp.SupervisorSpec{
				Strategy: otp.RestForOne,
				Children: []otp.ChildSpec{
					otp.Worker("cart", func() otp.Server[basket, int] {
						return &cart{chaotic: c, payments: otp.Named[basket, int](n, "payments")}
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
			{ID: "mailer", Supervisor: true, Start: func(n *otp.Node, opts ...otp.Option) (otp.PID, error) {
				return otp.StartTaskSupervisor(n, otp.DynamicSpec{MaxChildren: 5000}, append(opts, otp.Name("mailer"))...)
			}},
			{ID: "sessions", Supervisor: true, Start: func(n *otp.Node, opts ...otp.Option) (otp.PID, error) {
				ps, err := otp.StartPartitionSupervisor(n, otp.PartitionSpec{
					Partition: otp.DynamicSpec{MaxChildren: 5000},
				}, append(opts, otp.Name("sessions"))...)
				if err != nil {
					return 0, err
				}
				s.sessions.Store(ps)
				return ps.PID(), nil
			}},
			otp.FuncWorker("load", s.loadGenerator, otp.Name("load")),
			otp.FuncWorker("chaos", chaosMonkey(n, &s.crashRate), otp.Name("chaos")),
		},
	}, otp.Name("shop"))
	return s, err
}

// close frees the handlers the chaos monkey hung, once the tree has stopped.
func (s *shop) close() { close(s.release) }

// --- the catalogue: an owned table ---

type product struct {
	Name  string
	Stock int
}

// syncCatalog fills the catalogue and keeps restocking it. Writes go
// through the table's owner, one at a time; reads never wait for it.
func (s *shop) syncCatalog(ctx context.Context) error {
	var cat *otp.Table[int, product]
	for cat == nil {
		t, err := otp.FindTable[int, product](s.node, "catalog")
		if err == nil {
			cat = t
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(10 * time.Millisecond): // the owner is (re)starting
		}
	}
	for sku := range skus {
		if err := cat.Insert(ctx, sku, product{Name: fmt.Sprintf("item %d", sku), Stock: 100}); err != nil {
			return fmt.Errorf("fill catalogue: %w", err)
		}
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		sku := rand.IntN(skus)
		if err := cat.Insert(ctx, sku, product{Name: fmt.Sprintf("item %d", sku), Stock: 100}); err != nil {
			return fmt.Errorf("restock: %w", err) // the owner restarted: start over
		}
	}
}

// --- prices: the bottleneck ---

type priceReq struct{ SKU int }

// prices answers every quote itself, one at a time: under the default load
// it needs more than a second of work per second. It also publishes its
// prices in a table it owns; with the fixed design, shoppers read that
// table and no longer call the server.
type prices struct {
	chaotic
	cost  time.Duration
	table *otp.Table[int, int]
}

func (p *prices) Init(ctx context.Context) error {
	t, err := otp.NewTable[int, int](ctx, "price-list")
	if err != nil {
		return err
	}
	p.table = t
	for sku := range skus {
		t.Insert(ctx, sku, price(sku))
	}
	return nil
}

func price(sku int) int { return 100 + sku%900 }

func (p *prices) HandleCall(ctx context.Context, r priceReq) (int, error) {
	time.Sleep(p.cost) // a pricing service round trip, say
	return price(r.SKU), nil
}

// quote prices one item: through the server, or with the fixed design from
// the table the server owns.
func (s *shop) quote(ctx context.Context, sku int) (int, error) {
	if s.fixed.Load() {
		if t, err := otp.FindTable[int, int](s.node, "price-list"); err == nil {
			if p, ok := t.Lookup(sku); ok {
				return p, nil
			}
		}
	}
	return otp.CallTimeout(ctx, otp.Named[priceReq, int](s.node, "prices"), priceReq{SKU: sku}, checkoutWait)
}

// --- checkout pipeline ---

type basket struct {
	Items []int
	Total int
}

type cart struct {
	chaotic
	payments otp.Ref[basket, int]
}

var errEmpty = errors.New("empty basket")

func (c *cart) HandleCall(ctx context.Context, b basket) (int, error) {
	if len(b.Items) == 0 {
		return 0, errEmpty
	}
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

// --- stats: an agent ---

// count updates the stats agent without waiting.
func (s *shop) count(f func(counts) counts) {
	otp.Cast(otp.Named[func(counts) counts, struct{}](s.node, "stats"), f)
}

// stats reads the stats agent.
func (s *shop) stats(ctx context.Context) (counts, error) {
	var c counts
	_, err := otp.Call(ctx, otp.Named[func(counts) counts, struct{}](s.node, "stats"),
		func(v counts) counts { c = v; return v })
	return c, err
}
