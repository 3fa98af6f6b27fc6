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

# The main job: the paper's quick study on every framework of this build (about ten
# minutes on 2 cores), its report in reports/quick/report/index.html. Rerunning continues
# the study where it stopped; `rm -rf reports/quick` starts it anew.
run: build
	@$(BUILD_DIR)/infermark zoo stats vgg19 resnet50 densenet201 efficientnet_b0
	@echo
	@$(BUILD_DIR)/infermark backends
	@$(BUILD_DIR)/infermark paper --quick --out reports/quick

test: build
	@ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD_DIR) $(BUILD_DIR).configure.log
