// Package web is the observer's dashboard: an [http.Handler] that shows
// the live supervision tree, processes, advisor findings, crash reports
// and CPU profiles in the browser, kept live over a websocket.
//
//	obs, _ := observer.New(node.Table(), observer.Options{})
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
// Pages: "" (overview), tree, processes, process/{pid}, advisor, events,
// profile, tables. Assets: static/. The websocket: ws. The JSON API:
// api/snapshot, api/processes?sort=&limit=&q=, api/process/{pid},
// api/process/{pid}/stack, api/children/{pid}, api/events?since=,
// api/findings; POST api/profile?seconds=, api/census and, when actions
// are on, api/process/{pid}/{kill,restart,state,trace}. A bad parameter
// gets 400 with {"error": ..., "param": ...}.
//
// # Safety
//
// The dashboard is read-only unless Options.Actions is set. Every page
// carries a strict Content-Security-Policy: scripts and styles come only
// from the embedded assets, nothing leaves the page's origin. Names and
// state are escaped by templ in HTML and set with textContent in scripts.
// The websocket accepts pages from the dashboard's own origin and
// Options.AllowedOrigins only; client messages are small JSON view
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
