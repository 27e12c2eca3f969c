# make run   — install what is missing, build (Release, Ninja), run the examples (heat, poisson, inverse, smoke, custom_pass);
#              their pictures go to ./phijit-pictures/
# make test  — the same, then the whole test suite
# make bench — the same, then the benchmarks
BUILD ?= build
CMAKE_FLAGS ?=

.PHONY: all deps configure build run test bench sanitize clean format tidy

all: build

deps:
	@scripts/install-deps.sh

configure: deps
	@[ -f $(BUILD)/build.ninja ] || cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: configure
	@cmake --build $(BUILD)

run: build
	@$(BUILD)/examples/heat
	@echo
	@$(BUILD)/examples/poisson
	@echo
	@$(BUILD)/examples/inverse
	@echo
	@$(BUILD)/examples/smoke
	@echo
	@$(BUILD)/examples/custom_pass

test: build
	@cd $(BUILD) && ctest --output-on-failure -j 2

bench: build
	@for b in $(BUILD)/bench/bench_*; do [ -x "$$b" ] && "$$b"; done; true

# ASan + UBSan build and test run, in its own build folder.
sanitize:
	@$(MAKE) test BUILD=build-sanitize CMAKE_FLAGS="-DCMAKE_BUILD_TYPE=Debug -DPHIJIT_SANITIZE=ON"

format:
	@git ls-files '*.h' '*.cpp' | xargs clang-format -i

tidy: configure
	@git ls-files 'ir/*.cpp' 'passes/*.cpp' 'codegen/*.cpp' 'runtime/*.cpp' 'frontend/*.cpp' | xargs clang-tidy -p $(BUILD) --quiet

clean:
	@rm -rf build build-sanitize
