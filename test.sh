#!/usr/bin/env bash
# The project's test command: what CI runs and what a developer runs.
# Checks formatting, vet, generated templ files, then every test with the
# race detector, browser tests included (headless Chromium), then the
# allocation tests without it (the race detector allocates), on the Go
# the machine has (1.26) and again on the current release (1.27, fetched
# by the go command from the module proxy; GO127=skip skips it).
set -euo pipefail
cd "$(dirname "$0")"
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"

# Browser tests need Chromium. CI installs it; elsewhere they skip without it.
if ! command -v chromium >/dev/null 2>&1; then
	if [ "${CI:-}" = true ]; then
		echo "== installing chromium for the browser tests"
		export DEBIAN_FRONTEND=noninteractive
		sudo=""
		[ "$(id -u)" = 0 ] || sudo=sudo
		$sudo apt-get update -qq
		$sudo apt-get install -y -qq chromium >/dev/null
	else
		echo "note: chromium not found; browser tests will skip (apt-get install chromium)"
	fi
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

if grep -q 'a-h/templ/cmd/templ' go.mod; then
	echo "== templ output up to date"
	go tool templ generate >/dev/null
	if ! git diff --exit-code --stat -- '*_templ.go'; then
		echo "generated templ files are stale: run 'go tool templ generate' and commit"; exit 1
	fi
fi

echo "== go vet"
go vet ./...

echo "== go test -race ($(go env GOVERSION))"
go test -race -count=1 -timeout 12m ./...

echo "== allocation tests and load-pace tests, without -race"
go test -count=1 -run 'Allocat' ./...
go test -count=1 -run 'TestServerThatNeverWaitsReadsBusy|TestMapReadServerWithManyCallersIsFound' ./observer/

if [ "${GO127:-}" != skip ]; then
	export GOTOOLCHAIN=go1.27.3
	echo "== go vet and go test -race ($(go env GOVERSION))"
	go vet ./...
	go test -race -count=1 -timeout 12m ./...
	go test -count=1 -run 'Allocat' ./...
	go test -count=1 -run 'TestServerThatNeverWaitsReadsBusy|TestMapReadServerWithManyCallersIsFound' ./observer/
fi
