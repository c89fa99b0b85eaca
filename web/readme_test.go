package web_test

import (
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/otp"
	"github.com/go-observer/observer/web"
)

// The README's "Put it in your app", as a program: compiled with the
// tests, so the snippet cannot rot. TestREADMESnippetIsTheExample checks
// that the README shows this body, line for line.
func Example_readme() {
	node := otp.NewNode(otp.Config{})
	defer node.Stop()
	obs, _ := observer.New(node.ProcessTable(), observer.Options{})
	obs.Start()
	defer obs.Close()
	dash, _ := web.New(obs, web.Options{}) // read-only; web.Options{Actions: true} allows kill/trace/state
	defer dash.Close()                     // tells open dashboards the server is going away
	mux := http.NewServeMux()
	dash.Register(mux, "/debug/observer/")
	http.ListenAndServe("127.0.0.1:8080", mux) // open http://127.0.0.1:8080/debug/observer/
}

func TestREADMESnippetIsTheExample(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("readme_test.go")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)## Put it in your app\n\n```go\n(.*?)```").FindSubmatch(readme)
	body := regexp.MustCompile(`(?s)func Example_readme\(\) \{\n(.*?)\n\}\n`).FindSubmatch(src)
	if block == nil || body == nil {
		t.Fatal("README's snippet under \"Put it in your app\" or Example_readme not found")
	}
	lines := func(b []byte) []string {
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			out = append(out, strings.Join(strings.Fields(l), " "))
		}
		return out
	}
	got, want := lines(block[1]), lines(body[1])
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("README snippet:\n%s\n\nwant the body of Example_readme:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
