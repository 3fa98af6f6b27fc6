# Two commands do everything on a fresh machine: `make run` and `make test`.
# Each step skips what is already done.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)

# The frameworks, from backends/frameworks.cmake (the one list of them), read with awk from the
# first line of each entry: field 2 the name, 3 its install step (- when it cannot be built
# here), 4 its test suite that compiles ahead of time (- when its tests are quick).
read_frameworks = $(shell awk -F'[^-_.a-zA-Z0-9]+' '$$1 == "infermark_framework" && $(1)' backends/frameworks.cmake)
FRAMEWORKS := $(call read_frameworks,$$3 != "-" { print $$2 })
SLOW_FRAMEWORKS := $(call read_frameworks,$$3 != "-" && $$4 != "-" { print $$2 })
SLOW_SUITES := $(call read_frameworks,$$3 != "-" && $$4 != "-" { print $$4 })
comma := ,
space := $(subst ,, )
joined = $(subst $(space),$(1),$(strip $(2)))

.PHONY: deps configure build run test test-fast format format-check test-sanitize fuzz lint clean conformance

deps:
	@scripts/bootstrap.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release > $(BUILD_DIR).configure.log 2>&1 || { cat $(BUILD_DIR).configure.log; exit 1; }

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# The main job, its report in reports/quick/report/index.html:
# - the paper's quick study on the frameworks that load in seconds, its comparisons in
#   3 rounds, the server's peak too (it prints its estimate before it starts);
# - ResNet50 cold and warm load time on every framework, then offline at batches 1 and 8 in
#   3 rounds (each round in a new order; the report pairs frameworks round by round),
#   including those that compile ahead of time (TVM, IREE, TensorFlow's conversion), whose
#   compiles of all four models would take hours here (about 30 minutes: the first round
#   compiles into the frameworks' caches, later rounds find what it compiled).
# Rerunning continues where it stopped; `rm -rf reports/quick` starts anew.
# QUICK_BACKENDS: the frameworks that load in seconds (no slow suite in the list). ALL_BACKENDS:
# every framework, those of RUN_ORDER first and in its order (each round shuffles the cells from
# it: the same order keeps the same sequence of cells), then any other of the list.
RUN_ORDER = onnxruntime openvino tvm iree tensorflow libtorch opencv
QUICK_BACKENDS ?= $(call joined,$(comma),$(filter-out $(SLOW_FRAMEWORKS),$(FRAMEWORKS)))
ALL_BACKENDS ?= $(call joined,$(comma),$(foreach f,$(RUN_ORDER),$(filter $(f),$(FRAMEWORKS))) \
  $(filter-out $(RUN_ORDER),$(FRAMEWORKS)))
run: build
	@$(BUILD_DIR)/infermark zoo stats vgg19 resnet50 densenet201 efficientnet_b0
	@echo
	@$(BUILD_DIR)/infermark backends
	@$(BUILD_DIR)/infermark paper --quick --backends $(QUICK_BACKENDS) --out reports/quick
	@$(BUILD_DIR)/infermark bench --models resnet50 --backends $(ALL_BACKENDS) --batches 1,8 \
	  --scenario load --cell-timeout 1200 --resume --out reports/quick/frameworks.jsonl
	@$(BUILD_DIR)/infermark bench --models resnet50 --backends $(ALL_BACKENDS) --batches 1,8 \
	  --scenario offline --rounds 3 --warmup 1 --min-duration 2 --min-iterations 3 --cell-timeout 1200 \
	  --resume --out reports/quick/frameworks.jsonl
	@$(BUILD_DIR)/infermark report reports/quick/results.jsonl reports/quick/frameworks.jsonl \
	  --out reports/quick/report

test: build format-check
	@ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

# The inner loop: every test but those that build with the ahead-of-time compilers and
# converters (TVM, IREE, TensorFlow's conversion: the frameworks with a slow suite in
# backends/frameworks.cmake, their own suites and their contract tests), the pretrained models,
# the conformance suite, the exporter-style models (`check --backends all`, every compiler
# included) and the fuzz run (a clang build of its own); `make test` runs them all.
SLOW_TESTS = ^($(call joined,|,$(SLOW_SUITES) Conformance Pretrained ExporterModels Fuzz))|/($(call joined,|,$(SLOW_FRAMEWORKS)))( |$$)
test-fast: build
	@ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS) -E '$(SLOW_TESTS)'

# The conformance matrix (docs/conformance.md): torchvision's classification families (the
# smallest member of each, random weights) exported by PyTorch at its default opset (14) and at
# 17, each on every framework in a process of its own. Resumable: run it again to go on. Hours
# on 2 cores (the compilers' builds of the larger models dominate).
CONFORMANCE_DIR ?= reports/conformance
conformance: build
	@/usr/bin/python3 scripts/conformance/export_torchvision.py --out $(CONFORMANCE_DIR)/models-opset14
	@/usr/bin/python3 scripts/conformance/export_torchvision.py --opset 17 --out $(CONFORMANCE_DIR)/models-opset17
	@$(BUILD_DIR)/infermark conformance --models $(CONFORMANCE_DIR)/models-opset14,$(CONFORMANCE_DIR)/models-opset17 \
	  --backends all --out $(CONFORMANCE_DIR)/conformance.jsonl
	@$(BUILD_DIR)/infermark report $(CONFORMANCE_DIR)/conformance.jsonl --out $(CONFORMANCE_DIR)/report

# Our C++ sources in the style of .clang-format (clang-format as Debian ships it): the tracked
# ones and the new ones git does not ignore, so that a file not yet added is checked too.
CXX_SOURCES = $(shell git ls-files --cached --others --exclude-standard '*.cc' '*.h')
format: deps
	@clang-format -i $(CXX_SOURCES)
format-check: deps
	@clang-format --dry-run -Werror $(CXX_SOURCES) || { echo "make format-check: run 'make format'"; exit 1; }

# AddressSanitizer and UndefinedBehaviorSanitizer over the suites that load no framework
# (frameworks opened with RTLD_DEEPBIND cannot run under ASan): core, zoo, meters, scenarios,
# report, the sweep with the fake plugin, the child process, the command line. Without
# -Werror: GCC warns falsely inside the standard library when sanitizers instrument it
# (maybe-uninitialized in std::function, as its manual says such builds may).
SANITIZE_DIR ?= build-sanitize
NO_FRAMEWORKS = $(foreach f,$(shell echo $(FRAMEWORKS) | tr a-z A-Z),-DINFERMARK_WITH_$(f)=OFF)
SANITIZE_SUITES = core_test|zoo_test|meters_test|scenarios_test|report_test|prepare_test|sweep_test|child_process_test|cli_test|serve_test|load_test|verify_test
# The command-line tests that run a real framework (built OFF here).
NEEDS_FRAMEWORK = Cli\.(BackendsJson|InferWritesOutputsAndCheckAgrees|BackendErrorsGetOneClearLine|RealImagesThroughInferCheckAndAccuracy)
test-sanitize: deps
	@cmake -S . -B $(SANITIZE_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DINFERMARK_SANITIZE=ON \
	  -DINFERMARK_WERROR=OFF \
	  $(NO_FRAMEWORKS) > $(SANITIZE_DIR).configure.log 2>&1 || { cat $(SANITIZE_DIR).configure.log; exit 1; }
	@cmake --build $(SANITIZE_DIR) -j $(JOBS)
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  ctest --test-dir $(SANITIZE_DIR) --output-on-failure -j $(JOBS) -L '$(SANITIZE_SUITES)' -E '$(NEEDS_FRAMEWORK)'

# libFuzzer over every parser of outside bytes (fuzz/: the KServe v2 protocol, serve's HTTP front,
# .npy files, JPEG and PNG images, result files, studies, ONNX files with their statistics), built
# by clang-14 with ASan and UBSan in build-fuzz: each target from its seed corpus
# (fuzz/corpus/<target>/) for FUZZ_RUNS inputs or FUZZ_SECONDS (600) seconds, whichever comes
# first, with a summary per target (scripts/fuzz.sh). ctest runs 10,000 protocol inputs
# (Fuzz.ProtocolParsers10k) and 3,000 of each file parser (Fuzz.FileParsers3k).
FUZZ_DIR ?= build-fuzz
FUZZ_RUNS ?= 1000000
fuzz: deps
	@FUZZ_DIR=$(CURDIR)/$(FUZZ_DIR) scripts/fuzz.sh $(FUZZ_RUNS)

# clang-tidy's bugprone, performance and concurrency checks (.clang-tidy) over our sources.
# -Wno-unknown-warning-option: the compile commands are GCC's, and clang does not know
#   GCC-only flags such as -Wno-restrict (CMakeLists.txt).
# backends/libtorch/ is left out: every file there includes the torch headers, and clang 14
#   cannot parse Debian's libtorch 1.13 headers with libstdc++ 12 (ATen/core/ivalue_inl.h
#   uses c10::IValue while it is incomplete), so clang-tidy reports only those errors.
LINT_DIRS = core|zoo|meters|scenarios|prepare|sweep|report|cli|backends/(?!libtorch/)
lint: configure
	@run-clang-tidy -quiet -p $(BUILD_DIR) -j $(JOBS) -extra-arg=-Wno-unknown-warning-option \
	  '^$(CURDIR)/($(LINT_DIRS))'

clean:
	rm -rf $(BUILD_DIR) $(BUILD_DIR).configure.log $(SANITIZE_DIR) $(SANITIZE_DIR).configure.log \
	  $(FUZZ_DIR) $(FUZZ_DIR).configure.log
