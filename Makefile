# lvskit — see README.md. `sudo make setup test` runs every test tier this
# machine can run; CI runs the same through .ci/run with LVSKIT_STRICT=1, so a
# tier that cannot run fails instead of skipping.
GO ?= go
GOFILES = $(shell git ls-files '*.go')

.PHONY: setup demo test lint unit bench

setup:
	bash scripts/setup.sh

demo:
	$(GO) run ./examples/demo

test: lint
	$(GO) test -race -timeout 60m ./...

# unit is tier 1 only: no root needed, nothing privileged runs.
unit:
	$(GO) test -race -short ./...

lint:
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=darwin $(GO) build ./...
	GOOS=windows $(GO) build ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./vrrp/...
