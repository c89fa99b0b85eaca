package suturehook_test

import (
	"context"
	"fmt"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/instrument/suturehook"
	"github.com/thejerf/suture/v4"
)

// indexer is an ordinary suture service.
type indexer struct{ started chan struct{} }

func (i indexer) Serve(ctx context.Context) error {
	close(i.started)
	<-ctx.Done()
	return ctx.Err()
}

func (indexer) String() string { return "indexer" }

// Build the supervisors with the hook; add services as with suture.
func ExampleHook_New() {
	table := instrument.NewProcessTable()
	hook := suturehook.New(table, func(suture.Event) {})
	root := hook.New("app", suture.Spec{})
	search := hook.New("search", suture.Spec{})
	root.Add(search)
	started := make(chan struct{})
	search.Add(indexer{started})

	ctx, cancel := context.WithCancel(context.Background())
	errc := root.ServeBackground(ctx)
	<-started
	table.Range(func(p *instrument.Proc) bool {
		if p.Name() == "indexer" {
			parent := table.Lookup(p.Parent())
			fmt.Println(p.Name(), p.Kind(), "under", parent.Name(), parent.Kind())
		}
		return true
	})
	cancel()
	<-errc
	// Output: indexer service under search supervisor
}
