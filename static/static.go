// Package static holds the dashboard's browser assets — its stylesheet,
// scripts and the vendored d3-hierarchy and uPlot with their licences —
// embedded in the binary so that a page never loads anything from another
// origin.
//
//	http.Handle("/assets/", http.StripPrefix("/assets/", http.FileServerFS(static.FS)))
//
// Package web serves them under its own prefix; most programs never import
// this package directly.
package static

import "embed"

// FS holds the assets: app.css, the scripts (*.js), the icon and vendor/<library>/
// with each library's minified build and LICENSE.
//
//go:embed *.css *.js *.svg vendor
var FS embed.FS
