package observer_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/otp"
)

// The metrics reach Prometheus through the OpenTelemetry exporter: a
// scrape shows mailbox depth, busy share, call latency, restarts and
// crashes, labelled by kind and name.
func TestPrometheusEndpoint(t *testing.T) {
	reg := promclient.NewRegistry()
	exporter, err := prometheus.New(prometheus.WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer mp.Shutdown(context.Background())

	n := node(t)
	ref, err := otp.Start[int, int](n, &sleeper{d: time.Millisecond}, otp.Name("inventory"))
	if err != nil {
		t.Fatal(err)
	}
	o := start(t, n.ProcessTable(), observer.Options{Tick: observer.MinTick, MeterProvider: mp})
	sub := o.Subscribe()
	defer sub.Close()
	crashed := make(chan struct{})
	_, err = otp.StartSupervisor(n, otp.SupervisorSpec{
		Strategy: otp.OneForOne, MaxRestarts: 3, Period: 5 * time.Second,
		Children: []otp.ChildSpec{otp.FuncWorker("flaky", func(ctx context.Context) error {
			select {
			case <-crashed:
				<-ctx.Done()
				return nil
			default:
				close(crashed)
				return errors.New("flaky")
			}
		})},
	}, otp.Name("flaky-sup"))
	if err != nil {
		t.Fatal(err)
	}
	stop := load(2, func(ctx context.Context) { otp.Call(ctx, ref, 1) })
	defer stop()

	await(t, sub, 20, "restart seen", func(s *observer.Snapshot) bool {
		return len(o.Events(observer.EventQuery{Kinds: []observer.LogKind{observer.EventRestart}}).Events) > 0
	})
	next(t, sub)

	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	text := string(body)
	for _, want := range []string{
		"otp_process_count",
		"otp_mailbox_depth",
		"otp_process_busy_ratio",
		"otp_call_latency_seconds",
		"otp_process_restarts_total",
		"otp_process_crashes_total",
		"otp_top_busy_ratio",
		`otp_process_name="inventory"`,
		`otp_supervisor_name="flaky-sup"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", text)
	}
}
