package otp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/go-observer/observer/otp"
)

// Stock is a server: its state is its own fields, touched only by its
// goroutine, one message at a time.
type Stock struct{ items map[string]int }

// StockReq is what Stock's callers send.
type StockReq struct {
	Op   string // "add" or "count"
	Item string
	N    int
}

func (s *Stock) Init(ctx context.Context) error {
	s.items = map[string]int{}
	return nil
}

func (s *Stock) HandleCall(ctx context.Context, r StockReq) (int, error) {
	switch r.Op {
	case "add":
		s.items[r.Item] += r.N
		return s.items[r.Item], nil
	case "count":
		return s.items[r.Item], nil
	}
	return 0, fmt.Errorf("unknown op %q", r.Op)
}

func (s *Stock) HandleCast(ctx context.Context, r StockReq) error {
	s.items[r.Item] += r.N
	return nil
}

func quietNode() *otp.Node {
	return otp.NewNode(otp.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// A server: start it, cast to it, call it.
func ExampleStart() {
	n := quietNode()
	defer n.Stop()

	stock, err := otp.Start(n, &Stock{}, otp.Name("stock"))
	if err != nil {
		panic(err)
	}
	otp.Cast(stock, StockReq{Item: "apple", N: 3}) // no reply, no back-pressure
	count, err := otp.Call(context.Background(), stock, StockReq{Op: "add", Item: "apple", N: 2})
	fmt.Println(count, err)
	// Output: 5 <nil>
}

// A call waits for the reply (5 s by default) and says clearly why there
// was none.
func ExampleCall() {
	n := quietNode()
	defer n.Stop()
	ctx := context.Background()

	// By name: the ref follows the name to whichever process holds it.
	stock := otp.Named[StockReq, int](n, "stock")
	_, err := otp.Call(ctx, stock, StockReq{Op: "count", Item: "pear"})
	fmt.Println(errors.Is(err, otp.ErrNoProc))

	otp.Start(n, &Stock{}, otp.Name("stock"))
	_, err = otp.Call(ctx, stock, StockReq{Op: "sell"})
	fmt.Println(err)
	// Output:
	// true
	// unknown op "sell"
}

// A supervisor restarts its children when they fail, here one at a time.
func ExampleStartSupervisor() {
	n := quietNode()
	defer n.Stop()

	sup, err := otp.StartSupervisor(n, otp.SupervisorSpec{
		Strategy: otp.OneForOne,
		Children: []otp.ChildSpec{
			otp.Worker("stock", func() otp.Server[StockReq, int] { return &Stock{} }, otp.Name("stock")),
		},
	})
	if err != nil {
		panic(err)
	}
	children, _ := otp.WhichChildren(n, sup)
	for _, c := range children {
		fmt.Println(c.ID, c.Restart, c.PID != 0)
	}
	// Output: stock permanent true
}
