package observer_test

import (
	"context"
	"fmt"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
)

// Read the program's goroutines, grouped by stack, and print the largest
// groups of the application with what they wait on and who started them.
func ExampleObserver_Goroutines() {
	o, err := observer.New(instrument.NewProcessTable(), observer.Options{})
	if err != nil {
		panic(err)
	}
	defer o.Close()
	d, err := o.Goroutines(context.Background())
	if err != nil {
		panic(err)
	}
	if d.Refused != "" { // too many goroutines for a full dump
		fmt.Println(d.Refused)
		return
	}
	fmt.Printf("%d goroutines; the read paused the program %v\n", d.Total, d.Pause)
	for _, g := range d.Groups[:min(len(d.Groups), 5)] {
		fmt.Printf("%d × %s at %s", g.Count, g.States[0].State, g.Function())
		if g.CreatedBy != nil {
			fmt.Printf(", created by %s", g.CreatedBy)
		}
		fmt.Println()
	}
}
