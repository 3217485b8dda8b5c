# Entry points. Every target that runs something installs what is missing first.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all build bootstrap demo test bench install format lint clean

all: build

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

build: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

bootstrap:
	scripts/bootstrap

demo: bootstrap
	$(MAKE) build
	scripts/demo

test: bootstrap
	$(MAKE) build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

bench: bootstrap
	scripts/bootstrap --bench
	$(MAKE) build
	scripts/bench

# The Python package into the build's Python (Debian's: /usr/local/lib/python3.*/dist-packages).
install: build
	cmake --install $(BUILD)

format:
	find src include bench python/ext -name '*.h' -o -name '*.cc' | xargs clang-format -i

lint: $(BUILD)/build.ninja
	find src -name '*.cc' ! -name '*_test.cc' | xargs clang-tidy -p $(BUILD) --quiet

clean:
	rm -rf $(BUILD)
