package web

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The dashboard's boundary. Two checks, before anything else runs:
//
//   - The Host header must name a host the dashboard is served under
//     (checkHost). A page on evil.example that rebinds its own name to
//     this server's address (DNS rebinding) is same-origin to the browser,
//     so only the Host it sends gives it away.
//   - A request that changes something (any method but GET, HEAD and
//     OPTIONS) must prove it comes from the dashboard's own page
//     (checkProof): an Origin the dashboard serves, or, from a browser
//     that sends no Origin, Sec-Fetch-Site: same-origin. A form, image or
//     script on another site cannot produce either.

// refusal is why the boundary refused a request, and which header said so.
type refusal struct {
	header string // the header at fault
	msg    string
}

func (r *refusal) Error() string { return r.msg }

// checkHost refuses a Host header that names none of the hosts the
// dashboard is served under: loopback names and addresses, any IP address
// (an address cannot be rebound to another server), the hosts of
// Options.AllowedOrigins and Options.AllowedHosts.
func (h *Handler) checkHost(r *http.Request) error {
	if h.anyHost {
		return nil
	}
	host := hostname(r.Host)
	switch {
	case host == "":
		return &refusal{"Host", "refused: the request names no host"}
	case host == "localhost" || strings.HasSuffix(host, ".localhost"):
		return nil // RFC 6761: always loopback, never looked up
	case net.ParseIP(host) != nil:
		return nil
	case h.hosts[host]:
		return nil
	}
	return &refusal{"Host", "refused: host " + strconv.Quote(trunc(r.Host, 100)) +
		" is not served here; add it to web.Options.AllowedHosts if the dashboard is reached under that name"}
}

// hostname returns the host of a Host header or URL host, without port
// or brackets, lowercased and without a trailing dot.
func hostname(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

// safeMethod reports whether a method only reads.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// checkProof refuses a state-changing request that does not prove it
// comes from the dashboard's own page (see [Options.AllowedOrigins]).
func (h *Handler) checkProof(r *http.Request) error {
	if origin := r.Header.Get("Origin"); origin != "" {
		return h.checkOrigin(r)
	}
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "same-origin":
		return nil
	case "":
		return &refusal{"Origin", "refused: a request that changes something must come from the dashboard's page, " +
			"and this one has neither an Origin nor a Sec-Fetch-Site header; a script sends Origin: " + ownOrigin(r)}
	default:
		return &refusal{"Sec-Fetch-Site", "refused: Sec-Fetch-Site is " + strconv.Quote(trunc(site, 30)) +
			" and there is no Origin header: the request does not come from the dashboard's page"}
	}
}

// checkOrigin refuses an Origin header other than the dashboard's own
// (the request's Host) and Options.AllowedOrigins. A missing Origin
// passes: it is checkProof's business.
func (h *Handler) checkOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" || h.origins["*"] || h.origins[strings.ToLower(origin)] {
		return nil
	}
	if u, err := url.Parse(origin); err == nil && (u.Scheme == "http" || u.Scheme == "https") && strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	return &refusal{"Origin", "refused: origin " + strconv.Quote(trunc(origin, 100)) + " is not the dashboard's (" +
		ownOrigin(r) + "); add it to web.Options.AllowedOrigins if its pages may use the dashboard"}
}

// ownOrigin is the origin a page of the dashboard has, as far as the
// request tells: the scheme it came in with and its Host.
func ownOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + trunc(r.Host, 100)
}

// guard runs the boundary's checks and answers a refused request with
// 403 and a JSON error. It reports whether the request may go on.
func (h *Handler) guard(w http.ResponseWriter, r *http.Request) bool {
	err := h.checkHost(r)
	if err == nil && !safeMethod(r.Method) {
		err = h.checkProof(r)
	}
	if err == nil {
		return true
	}
	var rf *refusal
	if errors.As(err, &rf) {
		writeJSONError(w, http.StatusForbidden, rf.header, rf.msg)
	} else {
		writeJSONError(w, http.StatusForbidden, "", err.Error())
	}
	return false
}

// servedHosts validates Options.AllowedHosts and returns the set of host
// names the dashboard is served under besides loopback and IP addresses:
// those and the hosts of the allowed origins. any reports a "*".
func servedHosts(hosts, origins []string) (set map[string]bool, any bool, err error) {
	set = map[string]bool{}
	for _, h := range hosts {
		if h == "*" {
			any = true
			continue
		}
		if !validHostname(h) {
			return nil, false, fmt.Errorf("AllowedHosts: %q is not a host name (want one such as ops.example.com, without scheme or port)", h)
		}
		set[hostname(h)] = true
	}
	for _, o := range origins {
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			set[hostname(u.Host)] = true
		}
	}
	return set, any, nil
}

// validHostname reports whether s is a DNS name or an IP address, without
// port: letters, digits, hyphens and dots.
func validHostname(s string) bool {
	if net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")) != nil {
		return true
	}
	if s == "" || len(s) > 253 || strings.HasPrefix(s, ".") || strings.Contains(s, "..") {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
