package otp_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-observer/observer/otp"
)

// A task supervisor runs one-off work. AsyncNolink is what production code
// uses when the work may fail: the caller survives and gets the failure
// from Await. (Async links the task to the calling process instead: a
// failure takes the caller down, as in Elixir.)
func ExampleAsyncNolink() {
	n := quietNode()
	defer n.Stop()
	tasks, _ := otp.StartTaskSupervisor(n, otp.DynamicSpec{})
	ctx := context.Background()

	quote, _ := otp.AsyncNolink(n, tasks, func(ctx context.Context) (int, error) { return 42, nil })
	v, err := quote.Await(ctx, 5*time.Second)
	fmt.Println(v, err)

	charge, _ := otp.AsyncNolink(n, tasks, func(ctx context.Context) (int, error) { panic("card declined") })
	_, err = charge.Await(ctx, 5*time.Second)
	var pe *otp.PanicError
	fmt.Println(errors.As(err, &pe), pe.Value)

	slow, _ := otp.AsyncNolink(n, tasks, func(ctx context.Context) (int, error) { <-ctx.Done(); return 0, ctx.Err() })
	_, err = slow.Await(ctx, 10*time.Millisecond)
	fmt.Println(errors.Is(err, otp.ErrTimeout))
	// Output:
	// 42 <nil>
	// true card declined
	// true
}

// A registry with unique keys names dynamic children without growing the
// node's global names; the key works wherever a process does.
func ExampleRegistry() {
	n := quietNode()
	defer n.Stop()
	sessions := otp.NewRegistry(n, "sessions", otp.Unique)
	sup, _ := otp.StartDynamicSupervisor(n, otp.DynamicSpec{})

	for _, user := range []string{"ada", "alan"} {
		otp.StartChild(n, sup, otp.Worker("session", func() otp.Server[StockReq, int] { return &Stock{} },
			otp.Via(sessions, "user:"+user)))
	}
	ada := otp.ViaRef[StockReq, int](sessions, "user:ada")
	count, err := otp.Call(context.Background(), ada, StockReq{Op: "add", Item: "tea", N: 2})
	fmt.Println(count, err, sessions.Count())

	// Entries vanish with their process.
	pid, _ := sessions.Whereis("user:alan")
	otp.TerminateChild(n, sup, pid)
	_, ok := sessions.Whereis("user:alan")
	fmt.Println(ok, sessions.Count())
	// Output:
	// 2 <nil> 2
	// false 1
}

// An owned table: the owner writes, any goroutine reads without passing
// through it. The table goes away with its owner.
func ExampleTable() {
	n := quietNode()
	defer n.Stop()
	ctx := context.Background()

	prices, _ := otp.StartTable[string, int](n, "prices")
	prices.Insert(ctx, "apple", 3) // a call to the owner
	prices.Insert(ctx, "pear", 5)

	v, ok := prices.Lookup("apple") // no message, no wait
	fmt.Println(v, ok, prices.Len())

	n.Stop() // stops the owner, and waits for it
	_, err := otp.FindTable[string, int](n, "prices")
	_, ok = prices.Lookup("apple")
	fmt.Println(errors.Is(err, otp.ErrNoTable), ok, prices.Closed())
	// Output:
	// 3 true 2
	// true false true
}
