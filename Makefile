# Two commands do everything on a fresh machine: `make run` and `make test`.
# Each step skips what is already done.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)

.PHONY: deps configure build run test clean

deps:
	@scripts/bootstrap.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release > $(BUILD_DIR).configure.log 2>&1 || { cat $(BUILD_DIR).configure.log; exit 1; }

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# The main job, its report in reports/quick/report/index.html:
# - the paper's quick study on the frameworks that load in seconds, its comparisons in
#   3 rounds (about fifteen minutes on 2 cores);
# - ResNet50 cold and warm load time on every framework, then offline at batches 1 and 8 in
#   3 rounds (each round in a new order; the report pairs frameworks round by round),
#   including those that compile ahead of time (TVM, IREE, TensorFlow's conversion), whose
#   compiles of all four models would take hours here (about 30 minutes: the first round
#   compiles into the frameworks' caches, later rounds find what it compiled).
# Rerunning continues where it stopped; `rm -rf reports/quick` starts anew.
QUICK_BACKENDS ?= onnxruntime,openvino,opencv,libtorch
ALL_BACKENDS ?= onnxruntime,openvino,tvm,iree,tensorflow,libtorch,opencv
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

test: build
	@ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD_DIR) $(BUILD_DIR).configure.log
