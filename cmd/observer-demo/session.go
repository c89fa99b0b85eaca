package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/go-observer/observer/otp"
)

// loadGenerator starts shoppers at the load knob's rate. Each is a
// temporary child of the sessions partition supervisor, named
// session-<n> through the registry: dynamic children get registry keys,
// never ever-growing global names.
func (s *shop) loadGenerator(ctx context.Context) error {
	return paced(ctx, &s.load, func() {
		ps := s.sessions.Load()
		if ps == nil {
			return
		}
		id := s.nextID.Add(1)
		key := fmt.Sprintf("session-%d", id)
		spec := otp.FuncWorker(key, s.shopper, otp.Via(s.registry, key))
		spec.Restart = otp.Temporary
		if _, err := ps.StartChild(id, spec); err != nil && !errors.Is(err, otp.ErrMaxChildren) {
			s.log.Debug("no shopper started", "error", err)
		}
	})
}

// shopper browses the catalogue (reads that bypass its owner), prices a
// basket with the price server, checks out through the cart, and has a
// receipt mailed by a task. Then it leaves: a normal exit.
func (s *shop) shopper(ctx context.Context) error {
	var b basket
	for range 2 + rand.IntN(3) {
		sku := rand.IntN(skus)
		if cat, err := otp.FindTable[int, product](s.node, "catalog"); err == nil {
			if p, ok := cat.Lookup(sku); ok && p.Stock > 0 {
				b.Items = append(b.Items, sku)
			}
		}
		if !pause(ctx, time.Duration(100+rand.IntN(400))*time.Millisecond) {
			return nil
		}
	}
	for _, sku := range b.Items {
		p, err := s.quote(ctx, sku)
		if err != nil {
			s.count(func(c counts) counts { c.Failures++; return c })
			return nil // the shopper gives up; not a crash
		}
		b.Total += p
	}
	if _, err := otp.CallTimeout(ctx, otp.Named[basket, int](s.node, "cart"), b, checkoutWait); err != nil {
		s.count(func(c counts) counts { c.Failures++; return c })
		return nil
	}
	s.count(func(c counts) counts { c.Checkouts++; return c })
	if mailer, ok := s.node.Whereis("mailer"); ok {
		otp.StartTask(s.node, mailer, s.receipt(b))
	}
	return nil
}

// errBounced is how some receipt e-mails end.
var errBounced = errors.New("receipt bounced: mailbox full")

// receipt mails a receipt; some bounce, and their tasks fail.
func (s *shop) receipt(b basket) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if !pause(ctx, time.Duration(20+rand.IntN(80))*time.Millisecond) {
			return nil
		}
		if rand.Float64() < receiptFailure {
			s.count(func(c counts) counts { c.Bounced++; return c })
			return errBounced
		}
		s.count(func(c counts) counts { c.Receipts++; return c })
		return nil
	}
}

// pause waits for d, or until ctx is done; it reports whether d passed.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
