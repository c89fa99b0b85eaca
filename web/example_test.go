package web_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/otp"
	"github.com/go-observer/observer/web"
)

// Mount the dashboard under /debug/observer/ of the application's own
// mux. Open http://127.0.0.1:8080/debug/observer/ in a browser.
func Example() {
	node := otp.NewNode(otp.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer node.Stop()
	obs, _ := observer.New(node.ProcessTable(), observer.Options{})
	obs.Start()
	defer obs.Close()

	dash, err := web.New(obs, web.Options{})
	if err != nil {
		panic(err)
	}
	defer dash.Close()
	mux := http.NewServeMux()
	dash.Register(mux, "/debug/observer/")
	// http.ListenAndServe("127.0.0.1:8080", mux)

	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/debug/observer/api/findings")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Content-Type"))
	// Output: 200 application/json
}

// Behind the application's own authentication and with actions on, under
// a prefix mounted by hand: strip the prefix before the handler.
func ExampleOptions() {
	node := otp.NewNode(otp.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer node.Stop()
	obs, _ := observer.New(node.ProcessTable(), observer.Options{})
	obs.Start()
	defer obs.Close()

	dash, err := web.New(obs, web.Options{
		Actions: true, // kill, restart, trace, state: found through the observer
		Authorize: func(r *http.Request) error {
			if _, pass, ok := r.BasicAuth(); !ok || pass != "s3cret" {
				return errors.New("who are you?")
			}
			return nil
		},
	})
	if err != nil {
		panic(err)
	}
	defer dash.Close()
	mux := http.NewServeMux()
	mux.Handle("/ops/", http.StripPrefix("/ops", dash))

	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, _ := http.Get(srv.URL + "/ops/tree")
	resp.Body.Close()
	fmt.Println("without a password:", resp.StatusCode)
	req, _ := http.NewRequest("GET", srv.URL+"/ops/tree", nil)
	req.SetBasicAuth("ops", "s3cret")
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	fmt.Println("with it:", resp.StatusCode)
	// Output:
	// without a password: 403
	// with it: 200
}
