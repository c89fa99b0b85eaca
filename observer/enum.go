package observer

import (
	"fmt"
	"strconv"
	"strings"
)

func enumString(names []string, i int, what string) string {
	if i >= 0 && i < len(names) {
		return names[i]
	}
	return what + "(" + strconv.Itoa(i) + ")"
}

func enumParse(names []string, s, what string) (int, error) {
	for i, n := range names {
		if strings.EqualFold(n, s) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("observer: unknown %s %q (want one of %s)", what, s, strings.Join(names, ", "))
}
