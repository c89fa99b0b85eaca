// Package ui holds the dashboard's templ components and the view structs
// they print. Components are pure: a view struct in, HTML out; they call
// nothing that reads the clock or the observer. Package web builds the
// view structs and serves the HTML, whole pages and the fragments its
// websocket pushes, which come from the same components.
package ui
