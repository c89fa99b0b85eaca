package web

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/go-observer/observer/observer"
	"github.com/go-observer/observer/static"
)

// Link is an entry of the dashboard's navigation that leads out of it.
type Link struct {
	Text string // what the navigation shows
	Href string // where it leads
}

// Options configure a [Handler]. The zero Options is a read-only
// dashboard, open to whoever can reach it, whose websocket accepts only
// same-origin pages. [New] validates them and fills the defaults listed.
type Options struct {
	// Actions turns on what the dashboard may do to processes: kill a
	// process, restart a supervisor's child, trace it, show its state
	// (for processes that opt in). Off by default: a request for an
	// action then gets 403. The actions are the ones each process's
	// runtime offers, found through the observer.
	Actions bool
	// Authorize, when set, is asked about every request, pages, assets,
	// API and websocket alike. A non-nil error refuses the request with
	// 403 and the error's text. It runs on the request's goroutine.
	Authorize func(*http.Request) error
	// AllowedOrigins lists the origins (scheme://host[:port]) whose pages
	// may open the websocket and send requests that change something
	// (actions, profile, census), besides the dashboard's own origin; their
	// hosts are also served (see AllowedHosts). "*" allows any origin: do
	// not use it where the dashboard is reachable from a browser that
	// visits other sites.
	AllowedOrigins []string
	// AllowedHosts lists the host names (ops.example.com, without scheme
	// or port) the dashboard is served under besides loopback names
	// (localhost), IP addresses and the hosts of AllowedOrigins. A request
	// whose Host header names any other host gets 403: that is how a page
	// that rebinds its own name to this server's address (DNS rebinding)
	// is told apart. Set it when the dashboard is reached by a name, or
	// through a proxy that passes the public name on. "*" serves any host.
	AllowedHosts []string
	// Title is shown in the page header and the browser tab. Default
	// "observer".
	Title string
	// Links are the application's own pages, shown after the dashboard's
	// in its navigation (an admin page, a demo's control panel). Their
	// addresses are the application's: absolute paths are safest, since
	// the dashboard's own links are relative to its prefix.
	Links []Link
	// TopN is how many rows the processes page shows by default. Default
	// the observer's Options.TopN (the top of each sort key every snapshot
	// keeps, see observer.Snapshot.TopN); at most [MaxLimit].
	TopN int
	// WriteTimeout bounds each websocket write. A browser that does not
	// take a frame within it is dropped. Default 10 s.
	WriteTimeout time.Duration
	// PingPeriod is how often the server pings each websocket; a client
	// that answers no ping for two periods is dropped. Default 20 s.
	PingPeriod time.Duration
	// MaxClients caps the websockets served at once; more get 503.
	// Default 256.
	MaxClients int
}

// Limits on what clients may ask for.
const (
	// MaxLimit is the largest limit the processes page and API accept.
	MaxLimit = 1000
	// MaxMessage is the largest message a websocket client may send, in
	// bytes. A larger one closes the connection with status 1009.
	MaxMessage = 1024
	// MaxQuery is the longest search string accepted, in bytes.
	MaxQuery = 200
)

// ErrOptions is matched (errors.Is) by every error [New] returns for
// invalid options.
var ErrOptions = errors.New("invalid options")

func (o Options) withDefaults() (Options, error) {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("web: %w: %s is %v, want %s", ErrOptions, field, v, want)
	}
	if o.Title == "" {
		o.Title = "observer"
	}
	switch {
	case o.TopN < 0 || o.TopN > MaxLimit:
		return o, bad("TopN", o.TopN, fmt.Sprintf("0 (default) to %d", MaxLimit))
	}
	durs := []struct {
		name string
		p    *time.Duration
		def  time.Duration
	}{{"WriteTimeout", &o.WriteTimeout, 10 * time.Second}, {"PingPeriod", &o.PingPeriod, 20 * time.Second}}
	for _, d := range durs {
		switch {
		case *d.p < 0:
			return o, bad(d.name, *d.p, "0 (default) or more")
		case *d.p == 0:
			*d.p = d.def
		}
	}
	switch {
	case o.MaxClients < 0:
		return o, bad("MaxClients", o.MaxClients, "0 (default) or more")
	case o.MaxClients == 0:
		o.MaxClients = 256
	}
	for _, origin := range o.AllowedOrigins {
		if origin == "*" {
			continue
		}
		u, err := url.Parse(origin)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return o, bad("AllowedOrigins", origin, "scheme://host[:port] or *")
		}
	}
	if _, _, err := servedHosts(o.AllowedHosts, nil); err != nil {
		return o, fmt.Errorf("web: %w: %w", ErrOptions, err)
	}
	return o, nil
}

// Handler is the dashboard: pages, assets, JSON API and websocket under
// one root. It knows nothing about where it is mounted: every link is
// relative, so mount it with [Handler.Register] or behind
// [http.StripPrefix]. Its methods are safe for concurrent use.
type Handler struct {
	obs    *observer.Observer
	opts   Options
	mux    *http.ServeMux
	assets http.Handler
	hub    *hub

	hosts   map[string]bool // served host names besides loopback and IP addresses
	anyHost bool            // AllowedHosts has "*"
	origins map[string]bool // AllowedOrigins, lowercased, without a trailing slash

	closeOnce sync.Once
}

var _ http.Handler = (*Handler)(nil)

// New returns a dashboard of obs, which the caller starts and closes.
// It fails for a nil observer and for invalid options (see [Options]).
// It starts no goroutine until a browser connects; [Handler.Close]
// disconnects every browser and waits for their goroutines.
func New(obs *observer.Observer, opts Options) (*Handler, error) {
	if obs == nil {
		return nil, errors.New("web: nil observer")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if opts.TopN == 0 {
		opts.TopN = min(obs.Snapshot().TopN, MaxLimit) // as many as every snapshot answers exactly
	}
	h := &Handler{obs: obs, opts: opts, mux: http.NewServeMux(), origins: map[string]bool{}}
	h.hosts, h.anyHost, _ = servedHosts(opts.AllowedHosts, opts.AllowedOrigins) // validated above
	for _, o := range opts.AllowedOrigins {
		h.origins[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
	}
	h.hub = newHub(h)
	h.assets = http.StripPrefix("/static/", http.FileServerFS(static.FS))
	h.routes()
	return h, nil
}

// Register mounts h on mux under prefix ("/debug/observer/", or "/"):
// it registers prefix as a subtree, strips it before h sees the request,
// and redirects the prefix without its trailing slash to it.
func (h *Handler) Register(mux *http.ServeMux, prefix string) {
	if !strings.HasPrefix(prefix, "/") {
		prefix = "/" + prefix
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	mux.Handle(prefix, http.StripPrefix(strings.TrimSuffix(prefix, "/"), h))
}

// Close sends every websocket a close frame, 1001 (going away) with a
// reason, and waits for their goroutines: a browser then reconnects by
// itself when the server is back, instead of seeing the connection fail.
// A connection whose writer is stuck on a browser that does not read is
// closed under it after two seconds, so Close returns within about that.
// The pages and API keep answering; new websockets are refused. Call it
// before shutting the HTTP server down: http.Server.Shutdown does not
// wait for, nor close, websockets. Close is idempotent and always
// returns nil.
func (h *Handler) Close() error {
	h.closeOnce.Do(h.hub.close)
	return nil
}

// ServeHTTP serves the dashboard. The request's path is taken relative to
// the handler's root: "/" is the overview, "/tree" the tree, and so on.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", csp)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "same-origin")
	hdr.Set("X-Frame-Options", "SAMEORIGIN")
	if !h.guard(w, r) {
		return
	}
	if h.opts.Authorize != nil {
		if err := h.opts.Authorize(r); err != nil {
			http.Error(w, "forbidden: "+err.Error(), http.StatusForbidden)
			return
		}
	}
	if r.URL.Path == "" {
		r.URL.Path = "/"
	}
	// The dashboard's work, and the goroutines it starts (a websocket's
	// reader and writer), are the observer's own in a census, not the
	// application's: a browser connecting is no goroutine leak.
	pprof.Do(r.Context(), dashboardLabels, func(context.Context) { h.mux.ServeHTTP(w, r) })
}

// dashboardLabels mark the dashboard's goroutines (observer.LabelRole).
var dashboardLabels = pprof.Labels(observer.LabelRole, "dashboard")

// csp allows only the page's own origin: scripts and styles from files
// (no inline code), the websocket back to the server.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"

func (h *Handler) routes() {
	m := h.mux
	m.HandleFunc("GET /{$}", h.overviewPage)
	m.HandleFunc("GET /tree", h.treePage)
	m.HandleFunc("GET /processes", h.processesPage)
	m.HandleFunc("GET /process/{pid}", h.processPage)
	m.HandleFunc("GET /advisor", h.advisorPage)
	m.HandleFunc("GET /events", h.eventsPage)
	m.HandleFunc("GET /profile", h.profilePage)
	m.HandleFunc("GET /tables", h.tablesPage)
	h.goroutineRoutes(m)
	m.HandleFunc("GET /static/", h.serveAsset)
	m.HandleFunc("GET /static", h.notFound) // else the mux redirects it to /static/, out of the prefix
	m.HandleFunc("GET /ws", h.serveWS)

	m.HandleFunc("GET /api/snapshot", h.apiSnapshot)
	m.HandleFunc("GET /api/processes", h.apiProcesses)
	m.HandleFunc("GET /api/process/{pid}", h.apiProcess)
	m.HandleFunc("GET /api/process/{pid}/stack", h.apiStack)
	m.HandleFunc("GET /api/children/{pid}", h.apiChildren)
	m.HandleFunc("GET /api/node/{pid}", h.apiNode)
	m.HandleFunc("GET /api/events", h.apiEvents)
	m.HandleFunc("GET /api/findings", h.apiFindings)
	m.HandleFunc("GET /api/tree", h.apiTree)
	m.HandleFunc("GET /api/timeline", h.apiTimeline)
	m.HandleFunc("GET /api/recording", h.apiRecording)
	m.HandleFunc("GET /api/traces", h.apiTraces)
	m.HandleFunc("GET /api/traces/{seq}", h.apiTrace)
	m.HandleFunc("GET /api/traces/{seq}/stacks", h.apiTraceStacks)
	m.HandleFunc("POST /api/profile", h.apiProfile)
	m.HandleFunc("POST /api/census", h.apiCensus)
	m.HandleFunc("POST /api/process/{pid}/{action}", h.apiAction)
	m.HandleFunc("/", h.notFound)
}

// allowedMethods lists the methods the handler serves at r's address:
// GET, HEAD for pages, assets and queries, POST for what changes
// something; none for an address it does not serve.
func (h *Handler) allowedMethods(r *http.Request) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		probe := *r
		probe.Method = m
		if _, pattern := h.mux.Handler(&probe); pattern != "" && pattern != "/" {
			out = append(out, m)
			if m == http.MethodGet {
				out = append(out, http.MethodHead)
			}
		}
	}
	return out
}

// serveAsset serves a file of the embedded assets; a directory gets the
// not-found page, not a listing.
func (h *Handler) serveAsset(w http.ResponseWriter, r *http.Request) {
	name := strings.Trim(strings.TrimPrefix(r.URL.Path, "/static/"), "/")
	if name == "" {
		name = "."
	}
	if fi, err := fs.Stat(static.FS, name); err != nil || fi.IsDir() {
		h.notFound(w, r)
		return
	}
	h.assets.ServeHTTP(w, r)
}

// root returns the relative path from the request's page to the
// handler's root: "./" for /tree, "../" for /process/42. It counts the
// slashes of the path as the browser sent it: an escaped slash (a%2Fb)
// is part of a name to the browser, not a directory.
func root(r *http.Request) string {
	depth := strings.Count(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	if depth == 0 {
		return "./"
	}
	return strings.Repeat("../", depth)
}

// profileCtx bounds an on-demand profile by the request and the maximum.
func profileCtx(r *http.Request, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), d+10*time.Second)
}
