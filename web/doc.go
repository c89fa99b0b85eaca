// Package web is the observer's dashboard: an [http.Handler] that shows
// the live supervision tree, processes, advisor findings, crash reports
// and CPU profiles in the browser, kept live over a websocket.
//
//	obs, _ := observer.New(node.ProcessTable(), observer.Options{})
//	obs.Start()
//	dash, _ := web.New(obs, web.Options{})
//	mux := http.NewServeMux()
//	dash.Register(mux, "/debug/observer/")
//
// # Mounting
//
// The handler knows nothing about its prefix: every link it writes is
// relative. [Handler.Register] mounts it on a mux the application passes
// in; to mount it some other way, strip the prefix first
// (http.StripPrefix("/debug/observer", dash)) and make sure the prefix
// itself redirects to its trailing-slash form. Wrap it in the
// application's own middleware for authentication, or use
// Options.Authorize.
//
// # Addresses under the prefix
//
// Pages: "" (overview), tree, processes, process/{pid}, advisor,
// events?kind=&proc=&sup=&q=, profile, tables. Assets: static/. The websocket: ws. The JSON API:
// api/snapshot, api/processes?sort=&limit=&q=, api/process/{pid}, api/tree,
// api/process/{pid}/stack, api/events?since=&limit=&pid= (and the events
// page's filters), api/findings, and, for the
// tree, api/children/{pid}?offset=&limit= and api/node/{pid}, which answer
// in the tree's own node shape (the one its websocket frames carry); POST api/profile?seconds=, api/census and, when actions
// are on, api/process/{pid}/{kill,restart,state,trace,suspend,resume}.
// Profiles in pprof format, for go tool pprof: api/pprof/cpu (the newest
// CPU profile the observer took, or with ?seconds=N a fresh one; 409 while
// another runs), api/pprof/{goroutine,heap,allocs,mutex,block,threadcreate}.
// Flame graphs as JSON: api/flame/cpu (the newest CPU profile) and
// api/process/{pid}/flame (its wall time, while it is sampled). The Tree
// page's goroutine panel: goroutine-panel?q= (an HTML fragment).
// History: api/snapshot, api/findings, api/processes and api/tree take
// at= (RFC 3339 or Unix milliseconds) and answer as of that moment, from
// the observer's history (observer.Observer.At); api/timeline says how
// far back it goes and when each finding was on. A moment older than the
// history gets 404 saying how far back it goes. api/recording downloads
// the history as one file (cmd/observer-replay serves it); api/traces
// lists the evidence kept when findings turned on (with
// observer.Options.FlightRecorder), api/traces/{seq} downloads one's
// execution trace and api/traces/{seq}/stacks shows, as text, the stacks
// of the processes it named.
// A bad parameter gets 400 with {"error": ..., "param": ...}; a known
// address asked with the wrong method 405 with an Allow header; an
// action the process does not support 422, one that fails 409. The
// directories of static/ are not listed.
//
// # Safety
//
// The dashboard is read-only unless Options.Actions is set. Two checks
// come before anything else, [Options.Authorize] included:
//
//   - The Host header must name a host the dashboard is served under:
//     localhost, an IP address, a host of Options.AllowedOrigins or
//     Options.AllowedHosts. Anything else gets 403, so a page that
//     rebinds its own name to this server's address (DNS rebinding)
//     reaches nothing.
//   - A request that changes something (every POST: actions, profile,
//     census) must prove it comes from the dashboard's own page: an Origin
//     header equal to the dashboard's origin or in Options.AllowedOrigins,
//     or, without Origin, Sec-Fetch-Site: same-origin. Otherwise 403 with a
//     JSON error that names the header at fault.
//
// Browsers send these headers themselves. A script sends the Origin the
// dashboard is served under:
//
//	curl -X POST -H 'Origin: http://127.0.0.1:8080' \
//	  http://127.0.0.1:8080/debug/observer/api/process/42/kill
//
// Every page carries a strict Content-Security-Policy: scripts and styles
// come only from the embedded assets, nothing leaves the page's origin.
// Names and state are escaped by templ in HTML and set with textContent
// in scripts. The websocket accepts pages from the dashboard's own origin
// and Options.AllowedOrigins only; client messages are small JSON view
// requests, and a malformed or oversized one closes that connection with
// a close reason that says why.
//
// # Cost
//
// Nothing runs until a browser connects. While browsers are connected one
// goroutine subscribes to the observer's snapshots; each frame is built
// once per view and tick and shared by every browser on that view, and
// after the first (full) frame only what changed is sent. A browser that
// does not keep up skips frames; one that does not take a frame within
// Options.WriteTimeout is disconnected. Neither slows the observer or the
// program.
package web
