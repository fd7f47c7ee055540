# Builds the libFuzzer targets (used by scripts/fuzz.sh; `make -f fuzz/fuzz.mk` works too).
# The library sources are compiled here with clang, coverage + ASan + UBSan, into $(FUZZ_BUILD);
# the main build (Makefile, build/, build-san/) is not touched.
FUZZ_CC    ?= clang
FUZZ_BUILD ?= build-fuzz
PKGS       := libcjson libutf8proc libpcre2-8 liblzma openblas
SANFLAGS   := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=c11 -g -O1 -D_GNU_SOURCE -fopenmp -Iinclude -Isrc -Ifuzz $(SANFLAGS) \
               $(shell pkg-config --cflags $(PKGS))
FUZZ_LIBS  := $(shell pkg-config --libs $(PKGS)) -lm -lpthread -fopenmp

LIB_SRC     := $(sort $(shell find src -name '*.c' -not -path 'src/cli/*' -not -path 'src/backend/cuda/*' -not -path 'src/backend/mpi/*'))
LIB_OBJ     := $(LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
TARGET_SRC  := $(sort $(wildcard fuzz/fuzz_*.c))
TARGETS     := $(TARGET_SRC:fuzz/%.c=$(FUZZ_BUILD)/%)

all: $(TARGETS)

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC (fuzz)  $<"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/libadapt-fuzz.a: $(LIB_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/fuzz/fuzz_%.o $(FUZZ_BUILD)/libadapt-fuzz.a
	@echo "  LD (fuzz)  $@"
	@$(FUZZ_CC) $(SANFLAGS) -fsanitize=fuzzer -o $@ $^ $(FUZZ_LIBS)

.PHONY: all
.SECONDARY:
-include $(shell find $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)
