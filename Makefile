# scimgate: build, test, run locally, invoke a Lambda function locally, deploy with AWS SAM.
#
#   make run [ARGS="--admin-token-file F"]     build bin/scimgate and serve SCIM locally (--demo: a demo connection)
#   make test                                  vet, template lint, every test, brief fuzzing
#   make stress                                the reliability suite against a real scimgate serve on each store
#   make build                                 the Lambda functions for AWS (linux/arm64) into bin/<name>/bootstrap
#   make invoke FUNCTION=UsersFunction EVENT=events/07-users-create.json  (EventsFunction: EVENT=events/stream/*.json)
#                                              run one function under the Lambda Runtime Interface Emulator
#   make deploy                                sam build && sam deploy
#   make bench-report                          measure and rewrite docs/performance.md and docs/performance.svg

GO ?= go
GOBIN ?= $(or $(shell $(GO) env GOBIN),$(shell $(GO) env GOPATH)/bin)

# The Lambda Runtime Interface Emulator, pinned: make invoke and the end-to-end test run the real bootstrap under it.
RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d
RIE := $(GOBIN)/aws-lambda-rie

# One directory per Lambda function; the template's LogicalId <Name>Function is built from functions/<name>.
FUNCTIONS := $(notdir $(patsubst %/main.go,%,$(wildcard functions/*/main.go)))

# How every Lambda binary is built: no cgo, no RPC fallback of aws-lambda-go (provided.al2023 speaks only the
# Runtime API), no local paths or symbol tables in the binary.
LAMBDA_GOFLAGS := -tags lambda.norpc -trimpath -ldflags "-s -w"
LAMBDA_GOARCH ?= arm64

# The fuzz targets make test runs briefly (go test fuzzes one target per run); make fuzz FUZZTIME=10m for longer.
# The default is a count of inputs, not a duration: Go 1.26's fuzz coordinator can report "context deadline
# exceeded" as a failure when a -fuzztime duration ends while a worker is mid-input (go.dev/issue/75804, fixed in
# Go 1.27), with no failing input written; a count has no deadline to race. 30000 inputs take 5-10 s per target here.
# -fuzzminimizetime: when a worker finds an input that reaches new code, Go shrinks it before adding it to the corpus,
# for up to 60 s by default; one such shrink held FuzzSimpleExpression at the same count of inputs for 55 s. 5 s is
# plenty for these small strings. It does not change how many inputs run, and a failing input still fails the run
# and is written to testdata/fuzz, shrunk for at most 5 s.
FUZZ_TARGETS := FuzzCompileFilter FuzzPatchOperation FuzzSimpleExpression
FUZZTIME ?= 30000x
FUZZMINIMIZETIME ?= 5s

.PHONY: all build run test test-template test-go fuzz bench bench-report stress lint fmtcheck tools invoke deploy clean

all: build

# sam build (BuildMethod: makefile) runs `make build-<LogicalId>` with ARTIFACTS_DIR set. One pattern serves every
# function: build-UsersFunction builds ./functions/users. (Pattern rules cannot be .PHONY; none of these is a file.)
build-%Function:
	$(if $(ARTIFACTS_DIR),,$(error ARTIFACTS_DIR is not set: sam build sets it; make build writes bin/<name>/bootstrap))
	CGO_ENABLED=0 GOOS=linux GOARCH=$(LAMBDA_GOARCH) $(GO) build $(LAMBDA_GOFLAGS) \
		-o $(ARTIFACTS_DIR)/bootstrap ./functions/$(shell echo '$*' | tr '[:upper:]' '[:lower:]')

build:
	@for f in $(FUNCTIONS); do \
		CGO_ENABLED=0 GOOS=linux GOARCH=$(LAMBDA_GOARCH) $(GO) build $(LAMBDA_GOFLAGS) -o bin/$$f/bootstrap ./functions/$$f || exit 1; \
	done
	@for f in $(FUNCTIONS); do \
		wc -c <bin/$$f/bootstrap | awk -v f=$$f -v a=$(LAMBDA_GOARCH) '{ printf "%-10s bin/%s/bootstrap  %d bytes (%.1f MiB, linux/%s)\n", f, f, $$1, $$1/1048576, a }'; \
	done

# Builds the CLI first, saying so: the first build on a fresh machine compiles the AWS SDK and the SQLite driver
# and takes minutes (README, Quick start). The banner's commands then name bin/scimgate, which works as printed.
run:
	@echo "make run: building bin/scimgate (the first build on a fresh machine takes a minute or more; later ones seconds)..."
	@$(GO) build -o bin/scimgate ./cmd/scimgate
	bin/scimgate serve --demo $(ARGS)

tools: $(RIE)

$(RIE):
	$(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)

# go vet runs first: it compiles every package, so that what runs next finds them in the build cache instead of
# compiling them side by side twice. Then the checks that do not depend on each other run side by side: cfn-lint,
# the tests and the brief fuzzing. Many tests spend part of their time waiting on moto, the Lambda emulator or a
# subprocess, and the others use the cores they leave idle. Each one's output is printed whole when it ends
# (--output-sync), so that they do not interleave; a failure of any fails make test.
#
# go test runs as many packages at a time as there are cores; TEST_FIRST names the slowest packages (measured;
# README, Quick start), which start first, so that the run does not end with one of them alone on one core. ./... then adds every
# other package; none runs twice. -vet=off: go vet ./... has run every analyzer on the same packages and their test
# files, a superset of the checks go test would run again on its own. -timeout 30m: go test's default of 10 minutes
# per test binary is a hang detector, and pkg/dynamostore's tests alone took more than 10 minutes on two cores shared
# with other builds and an empty build cache.
TEST_FIRST := ./pkg/dynamostore ./cmd/scimgate ./cmd/perfreport ./pkg/scim ./pkg/httpapi ./functions

test: tools fmtcheck
	$(GO) vet ./...
	@echo "make test: cfn-lint, the tests and the fuzzing run side by side; each one's output appears when it ends"
	@$(MAKE) --no-print-directory -j3 --output-sync=target test-template test-go fuzz

test-template:
	cfn-lint template.yaml

test-go:
	$(GO) test -count=1 -vet=off -timeout 30m $(TEST_FIRST) ./...

fuzz:
	@for f in $(FUZZ_TARGETS); do \
		$(GO) test ./pkg/scim -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) || exit 1; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# The commit whose embedded store commits every write on its own: the throughput replay's "before".
BENCH_BASELINE ?= 59fd435

# Runs the benchmarks (DynamoDB calls and request units on moto, scale curves on both stores, group commit, cold start
# under the emulator, the throughput replay against scimgate serve and against scim2-server) and writes
# docs/performance.md and .svg from them. scim2-server is SCIM2_SERVER (a command, split on spaces) or scim2-server on
# PATH (pip install scim2-server); without either the report says it was not measured.
bench-report: tools
	$(if $(SCIM2_SERVER)$(shell command -v scim2-server),,@echo "bench-report: scim2-server not found (pip install scim2-server, or set SCIM2_SERVER): the report will say it was not measured")
	$(GO) run ./cmd/perfreport -out docs -baseline $(BENCH_BASELINE)

# The reliability suite (cmd/scimgate-stress): builds scimgate, serves it on the embedded store and on DynamoDB
# (moto_server), loopback only, and runs retry storms, contention, oversize input and kill -9 during writes.
# About a minute; not part of make test. STRESS_FLAGS='-stores sqlite' runs one store.
stress:
	$(GO) run ./cmd/scimgate-stress $(STRESS_FLAGS)

lint: fmtcheck
	$(GO) vet ./...
	cfn-lint template.yaml

fmtcheck:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
		if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi

# Builds FUNCTION's bootstrap for this machine, runs it under the emulator against a local DynamoDB (moto_server,
# started unless AWS_ENDPOINT_URL_DYNAMODB points at one), seeds the demo token, sends EVENT and prints the
# response. VARS='userId=... groupId=...' fills the {{placeholders}} of events that need server-assigned ids.
invoke: tools
	@test -n "$(FUNCTION)" -a -n "$(EVENT)" || { echo 'usage: make invoke FUNCTION=<LogicalId> EVENT=events/<file>.json [VARS="userId=..."]'; exit 2; }
	$(GO) run ./functions/internal/invoke -function '$(FUNCTION)' -event '$(EVENT)' -vars '$(VARS)'

deploy:
	sam build && sam deploy

clean:
	rm -rf bin .aws-sam
