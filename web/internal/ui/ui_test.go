package ui

import (
	"context"
	"os"
	"strings"
	"testing"
)

// A busy bar is SVG attributes, not an inline style: it holds under a
// strict Content-Security-Policy.
func ExampleBusyBar() {
	BusyBar(42, 3).Render(context.Background(), os.Stdout)
	// Output: <svg class="bar" viewBox="0 0 100 8" preserveAspectRatio="none" aria-hidden="true"><rect class="bar-bg" width="100" height="8"></rect><rect class="bar-fg heat-3" width="42" height="8"></rect></svg> <span class="pct">42%</span>
}

func TestFindingsFrag(t *testing.T) {
	var b strings.Builder
	f := FindingView{ID: "bottleneck/7", Kind: "bottleneck", Severity: "critical", Subject: PidRef{PID: 7, Text: `<b>"price"</b>`},
		Summary: "price is a bottleneck", Advice: "spread it", Evidence: []EvidenceView{{Name: "busy", Value: "100%"}}}
	if err := FindingsFrag("findings", "../", []FindingView{f}, 2, false).Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		`data-testid="finding" data-kind="bottleneck" data-pid="7"`,
		`href="../process/7"`,
		`&lt;b&gt;&#34;price&#34;&lt;/b&gt;`,
		`+2 more in the advisor`,
		`<b>Advice.</b> spread it`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("FindingsFrag lacks %s in:\n%s", want, got)
		}
	}
	b.Reset()
	FindingsFrag("findings", "./", nil, 0, true).Render(context.Background(), &b)
	if !strings.Contains(b.String(), `data-testid="all-clear"`) {
		t.Errorf("no findings: want the all-clear, got %s", b.String())
	}
}
