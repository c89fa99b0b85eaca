package web

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/go-observer/observer/instrument"
)

// restartStorm reports, through the table, what a restart storm leaves:
// payments crashing four times under checkout, which restarts it three
// times and gives up; then 337 mail tasks failing, every 30th with
// another error, burying the give-up under the newest events; and prices,
// crashed once and restarted by shop.
func restartStorm(f *fixture) {
	tb := f.table
	shop := tb.Spawn(instrument.Info{Name: "shop", Kind: instrument.KindSupervisor,
		Supervisor: &instrument.SupervisorInfo{Strategy: "one_for_one", MaxRestarts: 3, Period: 5 * time.Second}})
	checkout := tb.Spawn(instrument.Info{Name: "checkout", Kind: instrument.KindSupervisor, Parent: shop.ID(),
		Supervisor: &instrument.SupervisorInfo{Strategy: "rest_for_one", MaxRestarts: 3, Period: 5 * time.Second}})
	mailer := tb.Spawn(instrument.Info{Name: "mailer", Kind: instrument.KindTaskSupervisor, Parent: shop.ID()})
	prices := tb.Spawn(instrument.Info{Name: "prices", Kind: instrument.KindServer, Parent: shop.ID()})

	pay := tb.Spawn(instrument.Info{Name: "payments", Kind: instrument.KindServer, Parent: checkout.ID()})
	for i := range 4 {
		tb.Exit(pay, instrument.ReasonError, errors.New("card declined"))
		if i == 3 {
			break
		}
		next := tb.Spawn(instrument.Info{Name: "payments", Kind: instrument.KindServer, Parent: checkout.ID()})
		tb.Restarted(checkout, instrument.Restarted{Child: "payments", Old: pay.ID(), New: next.ID(), Count: uint32(i + 1), Reason: instrument.ReasonError, Cause: pay.ID()})
		pay = next
	}
	tb.GaveUp(checkout, instrument.GaveUp{Failures: 4, MaxRestarts: 3, Period: 5 * time.Second, Child: "payments", ChildPID: pay.ID(),
		Reason: instrument.ReasonError, Err: "card declined"})
	tb.Exit(checkout, instrument.ReasonShutdown, nil)

	for i := range 337 {
		task := tb.Spawn(instrument.Info{Kind: instrument.KindTask, Parent: mailer.ID()})
		err := errors.New("receipt bounced: mailbox full")
		if i%30 == 0 {
			err = errors.New("smtp timeout")
		}
		tb.Exit(task, instrument.ReasonError, err)
	}
	tb.Exit(prices, instrument.ReasonError, errors.New("quote: upstream reset"))
	again := tb.Spawn(instrument.Info{Name: "prices", Kind: instrument.KindServer, Parent: shop.ID()})
	tb.Restarted(shop, instrument.Restarted{Child: "prices", Old: prices.ID(), New: again.ID(), Count: 1, Reason: instrument.ReasonError, Cause: prices.ID()})
}

// TestBrowserEventsStorm opens the events page after a restart storm, at
// 1280×800: the give-up is pinned at the top though 337 crashes came
// after it, identical crashes are one row "× N", restarts read old PID →
// new PID, nothing scrolls sideways; filters by kind and text narrow the
// rows, follow into the address and survive a reload; an expanded group
// stays open as frames arrive.
func TestBrowserEventsStorm(t *testing.T) {
	f := newFixture(t, "/debug/observer/", Options{})
	restartStorm(f)
	waitFor(t, 10*time.Second, "the storm in a snapshot", func() bool {
		s := f.obs.Snapshot()
		return s.Events.Older > 0 && len(s.Events.Pinned) == 1 &&
			s.EventSeq == uint64(4+3+1+337+1+1)
	})
	ctx := newTab(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(f.base+"events")); err != nil {
		t.Fatal(err)
	}
	live := `document.getElementById("conn").dataset.state === "live" && +document.body.dataset.tick > 0`
	evalUntil(t, ctx, 10*time.Second, "the live events page", live)

	// Pinned at the top: the first section of the page, above the list.
	if !eval[bool](t, ctx, `(() => {
		const pin = document.querySelector('[data-testid="pinned-event"][data-kind="gave_up"]');
		const first = document.querySelector('#events tbody tr');
		return !!pin && pin.textContent.includes("checkout") && pin.textContent.includes("card declined") &&
			pin.closest("section") === document.querySelector("main section") &&
			pin.getBoundingClientRect().bottom < first.getBoundingClientRect().top;
	})()`) {
		t.Error("the give-up is not pinned at the top of the page")
	}
	if eval[bool](t, ctx, `!!document.querySelector('#events [data-kind="gave_up"]')`) {
		t.Error("the give-up is among the newest events: the storm is too small to test its pin")
	}
	// The storm's crashes are one row (of those among the newest 300).
	group := eval[[]string](t, ctx, `(() => {
		const r = [...document.querySelectorAll('#events tbody > tr')].sort((a, b) => b.dataset.count - a.dataset.count)[0];
		return [r.dataset.count, r.querySelector('[data-testid="event-count"]').textContent, r.querySelector('.err').textContent];
	})()`)
	if n, _ := strconv.Atoi(group[0]); n < 250 || group[1] != "× "+group[0] || group[2] != "receipt bounced: mailbox full" {
		t.Errorf("the biggest row: %q; want the bounced receipts, × 250 or more", group)
	}
	// Restarts read old PID → new PID, each a link to its process.
	if !eval[bool](t, ctx, `(() => {
		const r = document.querySelector('#events tr[data-kind="restart"][data-count="1"] [data-testid="restart-pids"]');
		const a = r && r.querySelectorAll("a.pid");
		return !!r && /^<0\.\d+\.0>\s*→\s*<0\.\d+\.0>$/.test(r.textContent.trim()) && a.length === 2 &&
			a[0].getAttribute("href") === "./process/" + a[0].textContent.slice(3, -3) && a[1].getAttribute("href") === "./process/" + a[1].textContent.slice(3, -3) &&
			r.parentElement.textContent.includes("prices");
	})()`) {
		t.Errorf("no restart row reading <0.a.0> → <0.b.0> beside its name: %q",
			eval[string](t, ctx, `[...document.querySelectorAll('#events tr[data-kind="restart"] td.proc')].map(e => e.textContent.trim().replace(/\s+/g, " ")).join(" | ")`))
	}
	checkNoSideScroll(t, ctx, "events")
	// docs/img/events.png is the demo's page, not this one: see the
	// commit that made it.
	screenshot(t, ctx, "events-storm")

	// An expanded group stays open as new frames replace the list.
	eval[bool](t, ctx, `(d => (d.open = true, true))(document.querySelector('#events [data-testid="event-members"]'))`)
	tick := eval[int](t, ctx, `+document.body.dataset.tick`)
	evalUntil(t, ctx, 10*time.Second, "two more frames", `+document.body.dataset.tick >= `+strconv.Itoa(tick+2))
	if !eval[bool](t, ctx, `document.querySelector('#events [data-testid="event-members"]').open`) {
		t.Error("the expanded group closed when a frame arrived")
	}

	// Filter by kind and text: the rows narrow in place, the address
	// follows.
	rows := `document.querySelectorAll('#events tbody > tr').length`
	before := eval[int](t, ctx, rows)
	eval[bool](t, ctx, `(() => {
		const form = document.getElementById("ev-form");
		form.elements.kind.value = "crash";
		form.elements.q.value = "smtp";
		form.elements.q.dispatchEvent(new Event("input", { bubbles: true }));
		return true;
	})()`)
	narrowed := `(rs => rs.length === 1 && rs[0].dataset.kind === "crash" && rs[0].querySelector(".err").textContent === "smtp timeout" &&
		rs[0].querySelector('[data-testid="event-count"]').textContent === "× " + rs[0].dataset.count)(document.querySelectorAll('#events tbody > tr'))`
	evalUntil(t, ctx, 10*time.Second, "the rows narrowed to the smtp timeouts", narrowed)
	if before <= 1 {
		t.Errorf("rows before filtering: %d, want several", before)
	}
	if got := eval[string](t, ctx, `location.search`); got != "?kind=crash&q=smtp" {
		t.Errorf("address: %q, want ?kind=crash&q=smtp", got)
	}
	screenshot(t, ctx, "events-filtered")
	// The filtered view reloads as it was.
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, 10*time.Second, "the filtered view after a reload", live+` && `+narrowed+` && document.getElementById("ev-form").elements.q.value === "smtp"`)

	// Nothing matches: the filters are named, with a way out.
	if err := chromedp.Do(ctx, chromedp.Navigate(f.base+"events?kind=crash&sup=checkout&q=bounced")); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, 10*time.Second, "the empty state", live+` && document.querySelector('[data-testid="events-empty"]').textContent.includes("No events match kind=crash, sup=checkout, q=bounced")`)

	// At 1600×1000 too.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1600, 1000), chromedp.Navigate(f.base+"events")); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, 10*time.Second, "the events page at 1600×1000", live+` && !!document.querySelector('[data-testid="pinned-event"]')`)
	checkNoSideScroll(t, ctx, "events at 1600×1000")
	screenshot(t, ctx, "events-storm-1600")
}

// checkNoSideScroll fails the test when the page is wider than the
// window, naming the widest elements.
func checkNoSideScroll(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	if got := eval[[]int](t, ctx, `[document.documentElement.scrollWidth, window.innerWidth]`); got[0] != got[1] {
		wide := eval[[]string](t, ctx, `[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 5).map(e => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().width))`)
		t.Errorf("%s: scrollWidth %d, want the window's %d (too wide: %q)", what, got[0], got[1], wide)
	}
}
