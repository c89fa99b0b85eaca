package ui

// SeverityMark is the shape that says a finding's severity beside its
// colour, on the tree's badges and in its legend: "✖" for critical, "▲"
// for warning, "" for the rest (info findings get no badge).
func SeverityMark(sev string) string {
	switch sev {
	case "critical":
		return "✖"
	case "warning":
		return "▲"
	}
	return ""
}
