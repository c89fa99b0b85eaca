// Package instrument is the reporting contract between supervised goroutines
// and whoever watches them.
//
// A process runtime (package otp, the suture adapter, or the Go wrapper in
// this package) registers each of its goroutines in a [ProcessTable] and updates the
// returned [Proc] record's counters as messages flow. An observer lists the
// table, reads each record's [Counters] and subscribes to lifecycle [Event]s:
//
//	t := instrument.NewProcessTable()
//	sub := t.Subscribe(256)
//	defer sub.Close()
//	t.Go(ctx, "indexer", 0, func(ctx context.Context) error { return index(ctx) }) // 0: no parent
//	for ev := range sub.C() { fmt.Println(ev) }
//
// # Hot path
//
// Counters changed per message are a few uncontended atomics on the record's
// own cache lines: no allocation, no lock, no channel, no event. Clock reads
// are not paid per message. Busy time means "not waiting for a message",
// and is measured at the edges of busy periods (from the message taken
// after a wait to the next wait): one period in [BusySampleEvery] is timed
// from its start (every one once periods are slow enough that a clock read
// is noise), and every period from its [LongBusyPeriod]-th message on, so a
// process whose mailbox never empties reads fully busy. The mailbox stamps
// one message in [HeadStampEvery] with its enqueue time.
//
// # Events
//
// Lifecycle events go to subscribers through bounded buffers. Emitting never
// blocks: a full buffer drops the event and counts it ([Subscription.Dropped]).
//
// This package imports only the standard library.
package instrument
