# adapt — build with `make`, test with `make test`, sanitizer run with `make SAN=1 test`.
# Plain GNU make: every .c under src/ (but src/cli) goes into libadapt.a; src/cli/*.c make `adapt`;
# tools/adapt-case.c makes the fixture runner; tests/test_*.c each make one cmocka test binary.

CC      ?= gcc
SAN     ?= 0
BUILD   ?= $(if $(filter 1,$(SAN)),build-san,build)
PKGS    := libcjson libutf8proc libpcre2-8 liblzma openblas
CFLAGS  ?= -O2 -march=x86-64-v3 -g
CFLAGS  += -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -fopenmp -Iinclude -Isrc \
           $(shell pkg-config --cflags $(PKGS))
LDLIBS  := $(shell pkg-config --libs $(PKGS)) -lm -lpthread -fopenmp
ifeq ($(SAN),1)
CFLAGS  += -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRC  := $(sort $(shell find src -name '*.c' -not -path 'src/cli/*' -not -path 'src/backend/cuda/*'))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_COMMON := $(BUILD)/obj/tests/testutil.o $(BUILD)/obj/tests/case_compare.o

all: $(BUILD)/adapt $(BUILD)/adapt-case $(TESTS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC  $<"
	@$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libadapt.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/adapt: $(CLI_OBJ) $(BUILD)/libadapt.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/adapt-case: $(BUILD)/obj/tools/adapt-case.o $(BUILD)/libadapt.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TEST_COMMON) $(BUILD)/libadapt.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# `make test` and `make demo` install missing Debian packages first, then build in a fresh make
# (pkg-config above must see the packages).
test: deps
	$(MAKE) --no-print-directory all
	BUILD=$(BUILD) bash scripts/run-tests.sh

demo: deps
	$(MAKE) --no-print-directory all
	bash scripts/demo.sh $(BUILD)

deps:
	@bash scripts/install-deps.sh

clean:
	rm -rf build build-san

.PHONY: all test demo deps clean
-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
