module github.com/go-observer/observer

go 1.26
