# The two commands (see README): `make run` and `make test`. Both install what they need first.
BUILD ?= build
ASAN_BUILD ?= build-asan
CMAKE_FLAGS ?=
CTEST_JOBS ?= 2
PORT ?= 8080
DATA_DIR ?= ./basin-data

.PHONY: all build setup run test test-fast test-asan bench format format-check clean

all: build

setup:
	@bash scripts/setup.sh

$(BUILD)/build.ninja: | setup
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

build: setup $(BUILD)/build.ninja
	cmake --build $(BUILD)

run: build
	$(BUILD)/basin serve --demo --data-dir $(DATA_DIR) --port $(PORT)

# The whole suite: release build (unit, declarative .test, end-to-end), then the unit tests under
# AddressSanitizer + UBSan (scripts/test.sh runs both and reports both).
test: build
	BUILD=$(BUILD) ASAN_BUILD=$(ASAN_BUILD) CTEST_JOBS=$(CTEST_JOBS) bash scripts/test.sh

# Unit and .test scenarios only; what to run while iterating.
test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(CTEST_JOBS) -L 'unit|scenario'

$(ASAN_BUILD)/build.ninja: | setup
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DBASIN_SANITIZE=ON -DBASIN_BUILD_BENCH=OFF

test-asan: setup $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(CTEST_JOBS) -L unit --timeout 600

bench: build
	bash bench/run.sh

FORMATTED = $$(git ls-files 'src/*.cpp' 'src/*.h' 'tests/*.cpp' 'tests/*.h' 'bench/*.cpp')

format:
	clang-format -i $(FORMATTED)

format-check:
	clang-format --dry-run --Werror $(FORMATTED)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
