# MobilityCorp platform — the two commands of the README are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO        ?= go
BIN       := bin
SERVICES  := booking telemetry-ingest genai-gateway payments maps-proxy
MODULES   := pkg cmd/mobility $(addprefix services/,$(SERVICES))
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.build=$(VERSION)
# Root runs the bootstrap directly; anyone else goes through sudo.
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
STATICCHECK_VERSION := v0.8.2
TEST_FLAGS ?= -race -count=1 -timeout 20m
# Go tools the tests run (scripts/install-tools pins their versions); the payments
# Stripe adapter's tests find stripe-mock through STRIPE_MOCK.
TOOLS_BIN ?= $(firstword $(subst :, ,$(shell $(GO) env GOPATH)))/bin
export STRIPE_MOCK ?= $(TOOLS_BIN)/stripe-mock

.PHONY: help bootstrap tools build run test vet lint bench fmt tidy clean

help: ## list targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

bootstrap: ## install and start PostgreSQL (timescaledb, pgvector), Redis and client tools
	@$(SUDO) bash scripts/bootstrap

build: ## build the five services and the mobility CLI into bin/
	@mkdir -p $(BIN)
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/mobility $(foreach s,$(SERVICES),./services/$(s)/cmd/$(s))

run: bootstrap build ## set up and run the whole platform locally (Ctrl-C stops it)
	$(BIN)/mobility up --bin-dir $(BIN)

tools: ## install the pinned Go tools the tests run (stripe-mock) into GOPATH/bin
	@TOOLS_BIN='$(TOOLS_BIN)' GO='$(GO)' bash scripts/install-tools

test: bootstrap tools vet ## set up and run every module's tests against real dependencies
	$(GO) test $(TEST_FLAGS) $(foreach m,$(MODULES),./$(m)/...)

vet: ## go vet every module
	$(GO) vet $(foreach m,$(MODULES),./$(m)/...)

lint: vet ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(foreach m,$(MODULES),./$(m)/...)

BENCHTIME ?= 25000x
bench: bootstrap ## run benchmarks (6 runs each, for benchstat medians; HTTP load benchmarks offer 5,000 req/s)
	@mkdir -p $(BIN)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count 6 -timeout 60m $(foreach m,$(MODULES),./$(m)/...) | tee $(BIN)/bench.txt

fmt: ## gofmt every module
	gofmt -w $(MODULES)

tidy: ## go mod tidy every module
	@for m in $(MODULES); do (cd $$m && $(GO) mod tidy) || exit 1; done

clean: ## remove build output
	rm -rf $(BIN)
