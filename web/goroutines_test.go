package web

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-observer/observer/instrument"
	"github.com/go-observer/observer/observer"
)

// get fetches url and returns its status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// post sends an empty POST, with origin as its Origin header when not
// empty, following no redirect.
func post(t *testing.T, url, origin string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestGoroutinesPageAndAPI(t *testing.T) {
	s := newSystem(t, sysOpts{})

	code, body := get(t, s.base+"goroutines")
	if code != http.StatusOK || !strings.Contains(body, `data-testid="goroutines-empty"`) {
		t.Fatalf("before a read: got %d, want 200 with the empty state:\n%s", code, body)
	}
	if !strings.Contains(body, `data-testid="nav-goroutines"`) {
		t.Errorf("the navigation has no Goroutines entry")
	}
	code, body = get(t, s.base+"api/goroutines")
	if code != http.StatusOK || strings.TrimSpace(body) != "null" {
		t.Errorf("API before a read: got %d %q, want 200 null", code, body)
	}

	if resp := post(t, s.base+"goroutines", ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a read without Origin: got %d, want 403", resp.StatusCode)
	}
	resp := post(t, s.base+"goroutines", s.srv.URL)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "goroutines" {
		t.Fatalf("read: got %d to %q, want 303 to goroutines (relative: any prefix)", resp.StatusCode, resp.Header.Get("Location"))
	}

	code, body = get(t, s.base+"goroutines")
	if code != http.StatusOK {
		t.Fatalf("page: got %d", code)
	}
	for _, want := range []string{`data-testid="goroutines-tree"`, `data-testid="goroutines-pause-line"`, "This view paused the program", `data-testid="group"`, `data-testid="group-stack"`, `data-testid="goroutines-own"`, `href="./process/`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(body, evilName) {
		t.Errorf("page holds the evil name unescaped")
	}

	code, body = get(t, s.base+"api/goroutines")
	var d observer.GoroutineDump
	if err := json.Unmarshal([]byte(body), &d); err != nil || code != http.StatusOK {
		t.Fatalf("API: got %d, %v:\n%.500s", code, err, body)
	}
	owned := 0
	for _, g := range d.Groups {
		if len(g.Owners) > 0 {
			owned++
		}
		for _, f := range g.Frames {
			if strings.HasPrefix(f.Function, "github.com/go-observer/observer/web.(*Handler)") {
				t.Errorf("application group %d runs the dashboard's %s: want it among the own groups", g.ID, f.Function)
			}
		}
	}
	if d.Pause <= 0 || len(d.Groups) == 0 || owned == 0 || len(d.OwnGroups) == 0 {
		t.Errorf("API dump: pause %v, %d groups, %d owned, %d own groups; want a pause, groups, owned groups and the observer's own apart", d.Pause, len(d.Groups), owned, len(d.OwnGroups))
	}

	code, body = get(t, s.base+"goroutines?q=supervisor")
	if code != http.StatusOK || !strings.Contains(body, "groups match") || !strings.Contains(body, "g-match") {
		t.Errorf("filtered page: got %d, want matches marked", code)
	}
	code, body = get(t, s.base+"goroutines?q=no-such-function-anywhere")
	if code != http.StatusOK || !strings.Contains(body, `data-testid="goroutines-none"`) {
		t.Errorf("filter matching nothing: got %d, want the no-match note", code)
	}
	if code, _ = get(t, s.base+"goroutines?q="+strings.Repeat("x", MaxQuery+1)); code != http.StatusBadRequest {
		t.Errorf("too long a filter: got %d, want 400", code)
	}
	if code, _ = get(t, s.base+"goroutines?bogus=1"); code != http.StatusBadRequest {
		t.Errorf("unknown parameter: got %d, want 400", code)
	}
	if resp := post(t, s.base+"api/goroutines", s.srv.URL); resp.StatusCode != http.StatusOK {
		t.Errorf("API read: got %d, want 200", resp.StatusCode)
	}
}

func TestGoroutinesPageRefusedAboveCapShowsCensus(t *testing.T) {
	obs, err := observer.New(instrument.NewProcessTable(), observer.Options{DumpMaxGoroutines: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Close()
	h, err := New(obs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()
	if resp := post(t, srv.URL+"/goroutines", srv.URL); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("read: got %d, want 303", resp.StatusCode)
	}
	code, body := get(t, srv.URL+"/goroutines")
	if code != http.StatusOK || !strings.Contains(body, `data-testid="goroutines-refused"`) || !strings.Contains(body, "above 1,") && !strings.Contains(body, "above 1:") {
		t.Fatalf("page: got %d, want the refusal naming the cap:\n%.3000s", code, body)
	}
	if !strings.Contains(body, `data-testid="census"`) || strings.Contains(body, `data-testid="goroutines-tree"`) {
		t.Errorf("refused page: want the census instead of a tree")
	}
}

// The goroutine profile downloads in pprof format that go tool pprof
// reads, with the processes' labels.
func TestPprofDownloadOpensInGoToolPprof(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	s := newSystem(t, sysOpts{})
	resp, err := http.Get(s.base + "api/pprof/goroutine")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Disposition"), "goroutine.pb.gz") {
		t.Fatalf("download: got %d %q, %v", resp.StatusCode, resp.Header.Get("Content-Disposition"), err)
	}
	path := filepath.Join(t.TempDir(), "goroutine.pb.gz")
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(gobin, "tool", "pprof", "-top", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "otp.(*supervisor).run") {
		t.Fatalf("go tool pprof -top: %v\n%s", err, out)
	}
	out, err = exec.Command(gobin, "tool", "pprof", "-tags", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "otp.pid") {
		t.Fatalf("go tool pprof -tags: %v, want the otp.pid label\n%s", err, out)
	}
	if code, _ := get(t, s.base+"api/pprof/cmdline"); code != http.StatusNotFound {
		t.Errorf("a profile not offered: got %d, want 404", code)
	}
}
