package web

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/otp"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// price is a server that spends cost per call: with enough callers it is
// the GenServer bottleneck the advisor must find.
type price struct{ cost time.Duration }

func (p *price) HandleCall(ctx context.Context, item string) (int, error) {
	time.Sleep(p.cost)
	return len(item), nil
}

// worker is a plain server that can be told to crash.
type worker struct{}

func (worker) HandleCall(ctx context.Context, op string) (string, error) {
	if op == "crash" {
		panic("injected crash")
	}
	return op, nil
}

// system is a small supervised application under an observer and a
// dashboard, served over HTTP.
type system struct {
	node  *otp.Node
	obs   *observer.Observer
	dash  *Handler
	srv   *httptest.Server
	base  string // the dashboard's URL, ending in "/"
	flaky otp.Ref[string, string]
	price otp.Ref[string, int]
	stop  chan struct{}
}

type sysOpts struct {
	prefix     string // mount point; default "/debug/observer/"
	bottleneck bool   // start callers that saturate the price server
	sessions   int    // session workers under the sessions supervisor
	web        Options
}

const evilName = `<script>alert("x")</script>'"&amp;`

func newSystem(t testing.TB, o sysOpts) *system {
	t.Helper()
	if o.prefix == "" {
		o.prefix = "/debug/observer/"
	}
	s := &system{node: otp.NewNode(otp.Config{Logger: quiet()}), stop: make(chan struct{})}
	n := s.node
	var sessions []otp.ChildSpec
	for i := range o.sessions {
		sessions = append(sessions, otp.Worker("session-"+strconv.Itoa(i+1), func() otp.Server[string, string] { return worker{} }))
	}
	_, err := otp.StartSupervisor(n, otp.SupervisorSpec{
		Strategy: otp.OneForOne, MaxRestarts: 100, Period: 5 * time.Second,
		Children: []otp.ChildSpec{
			otp.Worker("price", func() otp.Server[string, int] { return &price{cost: 2 * time.Millisecond} }, otp.Name("price")),
			otp.Worker("flaky", func() otp.Server[string, string] { return worker{} }, otp.Name("flaky")),
			otp.Worker(evilName, func() otp.Server[string, string] { return worker{} }, otp.Name(evilName)),
			otp.SupervisorChild("sessions", otp.SupervisorSpec{Strategy: otp.OneForOne, Children: sessions}, otp.Name("sessions")),
		},
	}, otp.Name("app"))
	if err != nil {
		t.Fatalf("start app: %v", err)
	}
	s.flaky = otp.Named[string, string](n, "flaky")
	s.price = otp.Named[string, int](n, "price")
	if o.bottleneck {
		for i := range 6 {
			_, err := otp.Go(n, func(ctx context.Context) error {
				// Each caller monitors the server it depends on; the first
				// also links to the sessions supervisor: relations the
				// tree draws as dashed edges.
				otp.Monitor(ctx, s.price.PID())
				if i == 0 {
					if sup, ok := n.Whereis("sessions"); ok {
						otp.Link(ctx, sup)
					}
				}
				for ctx.Err() == nil {
					otp.CallTimeout(ctx, s.price, "widget", time.Second)
				}
				return nil
			}, otp.Name("checkout-"+strconv.Itoa(i+1)))
			if err != nil {
				t.Fatalf("start caller: %v", err)
			}
		}
	}
	s.obs, err = observer.New(n.ProcessTable(), observer.Options{Tick: observer.MinTick, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.obs.Start(); err != nil {
		t.Fatal(err)
	}
	s.dash, err = New(s.obs, o.web)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.dash.Register(mux, o.prefix)
	s.srv = httptest.NewServer(mux)
	s.base = s.srv.URL + o.prefix
	t.Cleanup(s.close)
	return s
}

func (s *system) close() {
	close(s.stop)
	s.srv.CloseClientConnections()
	s.srv.Close()
	s.dash.Close()
	s.obs.Close()
	if err := s.node.Stop(); err != nil && !errors.Is(err, otp.ErrUnresponsive) {
		panic(err)
	}
}

// crash makes the flaky worker panic; its supervisor restarts it.
func (s *system) crash() {
	otp.CallTimeout(context.Background(), s.flaky, "crash", time.Second)
}

// waitFor polls cond every 20 ms until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pidOf returns the PID registered under name.
func (s *system) pidOf(t testing.TB, name string) instrument.PID {
	t.Helper()
	pid, ok := s.node.Whereis(name)
	if !ok {
		t.Fatalf("no process named %q", name)
	}
	return pid
}
