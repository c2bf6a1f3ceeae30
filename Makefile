# turbo-image: the two commands of the README do all set-up on a fresh
# Debian machine (they install what is missing with apt-get).
#
#   make demo   build the example appliance and boot it in QEMU; curl it
#   make test   run every test, including the ones that boot real QEMU
#   make bench  boot, size and build benchmarks (bench/results/latest.md)

GO       ?= go
BIN      := bin/turbo-image
# The kernel cache is shared by the builder and the kernel package's own
# integration test, so one kernel build serves both.
export TURBO_CACHE ?= $(HOME)/.cache/turbo-image
export TURBO_KERNEL_CACHE ?= $(TURBO_CACHE)/kernel

.PHONY: all build deps demo test test-arm64 test-short vet fuzz bench clean

all: build

build:
	$(GO) build -buildvcs=auto -o $(BIN) ./cmd/turbo-image   # stamps the revision even where GOFLAGS has -buildvcs=false

deps:
	./scripts/deps.sh

demo: deps build
	./scripts/demo.sh

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags turbo_dhcp,turbo_disk,turbo_agent,turbo_follow,turbo_limits ./internal/guest/turboinit/
	cd recipes/hello/app && $(GO) vet ./...

# One kernel (tinyconfig + builtin:virt) serves every test: the kernel
# package, vmm's boots, the builder and qemu-tests all use
# $(TURBO_KERNEL_CACHE). The first line builds it alone, with both cores,
# so that on a fresh machine the parallel run below neither races it
# against other packages nor leaves qemu-tests waiting on its lock; on a
# warm cache it is a lookup.
# go test starts packages in the order given, -p (the number of cores) at a
# time: the longest ones (the QEMU boots, the real systemd-boot scenarios,
# the builder, the kernel's configure-and-cancel runs) are named first so
# that they run beside the short ones instead of after them.
# scripts/testsum runs go test -json, prints go test's usual lines and
# ends with "N passed, N failed, N skipped" and the skipped tests' reasons.
# The second line does the same for the arm64 kernel (cross-compiled) that
# qemu-tests' arm64 boots use.
TEST_PKGS := ./qemu-tests/ ./bootloader/ ./builder/ ./internal/host/kernel/ ./...
test: deps vet
	$(GO) test -timeout 50m -run '^TestIntegrationBuildVirtKernel$$/^build$$' ./internal/host/kernel/
	$(GO) test -timeout 50m -run '^TestIntegrationBuildVirtKernelArm64$$' ./internal/host/kernel/
	$(GO) run ./scripts/testsum -timeout 50m $(TEST_PKGS)

# Only the arm64 tests (make test runs them too; see qemu-tests/arm64_test.go).
test-arm64: deps vet
	$(GO) test -timeout 50m -run '^TestIntegrationBuildVirtKernelArm64$$' ./internal/host/kernel/
	$(GO) test -timeout 50m -v -run '^TestArm64' ./qemu-tests/ ./builder/

test-short: vet
	$(GO) test -short ./...

# Short runs of every fuzz target (each 20 s).
fuzz:
	./scripts/fuzz.sh 20s

bench: deps build
	$(GO) run ./bench -out bench/results

clean:
	rm -rf bin out
