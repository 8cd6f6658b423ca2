# crmsync — build, test, benchmark.
#
#   make build   the binary, ./crmsync
#   make test    everything CI runs: gofmt, go vet, the whole suite with -race
#                (PostgreSQL runs too when CRMSYNC_TEST_POSTGRES is set)
#   make bench   the benchmarks (long: not part of make test), with the
#                initial-sync comparison against mbsync and the CardDAV/CalDAV
#                comparison against vdirsyncer
#   make loadtest  10,000 IMAP mailboxes on one serve and two workers over
#                PostgreSQL (long; not part of make test): see README
#                "Ten thousand mailboxes"; LOADTEST_FLAGS="-accounts 1000" for less

GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: build test bench vet fmt-check loadtest

build:
	$(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o crmsync ./cmd/crmsync

fmt-check:
	@out=$$(gofmt -l cmd internal); if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

test: fmt-check vet
	$(GO) test -race -count=1 -parallel 4 -timeout 15m ./...

# BenchmarkInitialSync (crmsync vs mbsync against Dovecot, 1k and 10k
# messages; CRMSYNC_BENCH_LARGE=1 adds 50k), BenchmarkPIMSync (crmsync vs
# vdirsyncer against Radicale, 5,000 vCards and 1,000 events;
# CRMSYNC_BENCH_PIM_SCALE=0.1 for a quick run) and BenchmarkRelink (1,000
# contacts into 100,000 emails) are one whole scenario per iteration: they
# run once, not 500 times.
bench:
	$(GO) test -run '^$$' -bench . -skip '^Benchmark(InitialSync|PIMSync|Relink.*)$$' -benchtime 500x -timeout 60m ./...
	$(GO) test -run '^$$' -bench '^BenchmarkRelink' -benchtime 1x -timeout 60m ./internal/store/...
	$(GO) test -run '^$$' -bench '^BenchmarkInitialSync$$' -benchtime 1x -timeout 60m ./internal/syncer
	$(GO) test -run '^$$' -bench '^BenchmarkPIMSync$$' -benchtime 1x -timeout 120m ./internal/syncer

# The load test builds crmsync and its IMAP server (internal/testpeer/imapload)
# itself, starts a PostgreSQL cluster of its own, and prints its report.
LOADTEST_FLAGS ?=
loadtest:
	$(GO) run ./internal/loadtest/cmd/loadtest $(LOADTEST_FLAGS)
