package web

import (
	"bytes"
	"errors"
	"net/http"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/go-observer/observer/observer"
)

// pprofProfiles are the runtime's profiles the dashboard lets one
// download in pprof format, for `go tool pprof`. The goroutine profile
// carries the otp.pid and otp.name labels of process goroutines. The
// mutex and block profiles hold samples only where the program turned
// them on (runtime.SetMutexProfileFraction, runtime.SetBlockProfileRate);
// the dashboard does not. The CPU profile is served apart (apiPprofCPU).
var pprofProfiles = []string{"goroutine", "heap", "allocs", "mutex", "block", "threadcreate"}

// apiPprof serves one profile in pprof format, as an attachment.
func (h *Handler) apiPprof(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r); err != nil {
		writeParamError(w, err)
		return
	}
	name := r.PathValue("name")
	known := false
	for _, p := range pprofProfiles {
		known = known || p == name
	}
	p := pprof.Lookup(name)
	if !known || p == nil {
		writeJSONError(w, http.StatusNotFound, "name", "no profile "+trunc(name, 40)+"; want cpu or one of "+strings.Join(pprofProfiles, ", "))
		return
	}
	var buf bytes.Buffer
	if err := p.WriteTo(&buf, 0); err != nil {
		writeJSONError(w, http.StatusInternalServerError, "", "web: "+name+" profile: "+err.Error())
		return
	}
	writeProfile(w, name+".pb.gz", buf.Bytes())
}

// defaultCPUSeconds is how long a CPU profile taken for a download runs
// when the request does not say.
const defaultCPUSeconds = 5

// apiPprofCPU serves a CPU profile in pprof format, with the otp.pid and
// otp.name labels: the observer's newest (the one the Profile page
// shows), or, with seconds=N or before the first, a fresh one of N
// seconds (5 by default), as net/http/pprof's profile does. Go runs one
// CPU profile at a time: when another is running (the application's own,
// or another request's), it answers 409 and says so, and the profile
// already taken stays as it was. The X-Profile-Start (RFC 3339) and
// X-Profile-Seconds headers say which window the profile covers.
func (h *Handler) apiPprofCPU(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r, "seconds"); err != nil {
		writeParamError(w, err)
		return
	}
	secs := 0
	if s := r.URL.Query().Get("seconds"); s != "" {
		maxS := int(observer.MaxProfile / time.Second)
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxS {
			writeJSONError(w, http.StatusBadRequest, "seconds", "seconds: want a whole number from 1 to "+strconv.Itoa(maxS))
			return
		}
		secs = n
	}
	if secs == 0 {
		if p, ok := h.obs.LastCPUProfile(); ok {
			writeCPUProfile(w, p)
			return
		}
		secs = defaultCPUSeconds
	}
	d := time.Duration(secs) * time.Second
	ctx, cancel := profileCtx(r, d)
	defer cancel()
	_, err := h.obs.ProfileCPU(ctx, d)
	switch {
	case errors.Is(err, observer.ErrProfilerBusy):
		msg := "no CPU profile taken: " + err.Error() + "; try again when it ends"
		if p, ok := h.obs.LastCPUProfile(); ok {
			msg += "; the newest one taken here (" + fmtDur(p.Duration.Round(time.Millisecond)) + " from " + p.Start.UTC().Format(time.RFC3339) + ") is at api/pprof/cpu, without seconds"
		}
		writeJSONError(w, http.StatusConflict, "", msg)
		return
	case err != nil:
		writeJSONError(w, http.StatusServiceUnavailable, "", err.Error())
		return
	}
	p, ok := h.obs.LastCPUProfile()
	if !ok {
		writeJSONError(w, http.StatusInternalServerError, "", "web: cpu profile: taken but not kept")
		return
	}
	writeCPUProfile(w, p)
}

func writeCPUProfile(w http.ResponseWriter, p observer.RawCPUProfile) {
	w.Header().Set("X-Profile-Start", p.Start.UTC().Format(time.RFC3339Nano))
	w.Header().Set("X-Profile-Seconds", strconv.FormatFloat(p.Duration.Seconds(), 'f', 3, 64))
	writeProfile(w, "cpu-"+p.Start.UTC().Format("20060102T150405Z")+".pb.gz", p.Data)
}

// writeProfile answers a profile in pprof format as an attachment.
func writeProfile(w http.ResponseWriter, filename string, data []byte) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(data)
}
