# lvskit — see README.md. `sudo make setup test` runs every test tier this
# machine can run; CI runs the same through .ci/run with LVSKIT_STRICT=1, so a
# tier that cannot run fails instead of skipping.
GO ?= go
GOFILES = $(shell git ls-files '*.go')

.PHONY: setup demo test lint unit bench bench-micro bench-vrrp bench-health bench-keepalived bench-ipvs

setup:
	bash scripts/setup.sh

demo:
	$(GO) run ./examples/demo

# -count=1: results are never taken from the test cache; the privileged tiers depend
# on the machine as much as on the code.
test: lint
	$(GO) test -race -count=1 -timeout 60m ./...

# unit is tier 1 only: no root needed, nothing privileged runs.
unit:
	$(GO) test -race -short ./...

lint:
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=darwin $(GO) build ./...
	GOOS=windows $(GO) build ./...
	cd bench/ipvs && $(GO) vet ./...

# bench reproduces BENCHMARKS.md (root; about an hour). Each part can run alone.
bench: bench-micro bench-vrrp bench-health bench-keepalived bench-ipvs

bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem ./vrrp/...
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 20000x ./vip ./arp
	$(GO) test -run '^$$' -bench Parse1000 -benchmem -benchtime 10x ./examples/keepalived/kaconf

bench-vrrp:
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 40m ./internal/vrrpit/

bench-health:
	$(GO) run ./health/internal/healthbench -sizes 1000,10000 -kinds tcp,tcpnet,http,httpka,noop
	$(GO) run ./health/internal/healthbench -sizes 50000 -kinds tcp,http,noop

bench-keepalived:
	$(GO) test -run '^$$' -bench Reload1000 -benchtime 20x ./examples/keepalived/daemon/
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./examples/keepalived/e2e/

bench-ipvs:
	cd bench/ipvs && $(GO) run .
