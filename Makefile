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

# The main job: Table 1 of the paper, the frameworks of this build, their agreement on
# ResNet50, and a short benchmark of ResNet50 on each (results/quick.jsonl, rewritten).
run: build
	@$(BUILD_DIR)/infermark zoo stats vgg19 resnet50 densenet201 efficientnet_b0
	@echo
	@$(BUILD_DIR)/infermark backends
	@$(BUILD_DIR)/infermark check --model resnet50 --backends onnxruntime,openvino
	@echo
	@mkdir -p results && rm -f results/quick.jsonl
	@$(BUILD_DIR)/infermark bench --models resnet50 --backends onnxruntime,openvino \
	  --scenario offline,single-stream --batches 1,8 --min-duration 3 --min-iterations 5 \
	  --out results/quick.jsonl --csv results/quick.csv

test: build
	@ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD_DIR) $(BUILD_DIR).configure.log
