package web

import (
	"bytes"
	"net/http"
	"runtime/pprof"
	"strings"
)

// pprofProfiles are the runtime's profiles the dashboard lets one
// download in pprof format, for `go tool pprof`. The goroutine profile
// carries the otp.pid and otp.name labels of process goroutines. The
// mutex and block profiles hold samples only where the program turned
// them on (runtime.SetMutexProfileFraction, runtime.SetBlockProfileRate);
// the dashboard does not.
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
		writeJSONError(w, http.StatusNotFound, "name", "no profile "+trunc(name, 40)+"; want one of "+strings.Join(pprofProfiles, ", "))
		return
	}
	var buf bytes.Buffer
	if err := p.WriteTo(&buf, 0); err != nil {
		writeJSONError(w, http.StatusInternalServerError, "", "web: "+name+" profile: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.pb.gz"`)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}
