package ui

import "strconv"

// plural writes a count of things: "1 row", "3 rows".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return strconv.Itoa(n) + " " + thing + "s"
}

// ariaInvalid is the aria-invalid attribute's value.
func ariaInvalid(bad bool) string {
	if bad {
		return "true"
	}
	return "false"
}
