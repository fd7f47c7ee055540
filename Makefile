# adapt — build with `make`, test with `make test`, sanitizer run with `make SAN=1 test`.
# Plain GNU make: every .c under src/ (but src/cli) goes into libadapt.a; src/cli/*.c make `adapt`;
# adapt-mpi is adapt with src/backend/mpi (data-parallel training over Open MPI) in place of
# src/train/data_parallel_single.c;
# tools/adapt-case.c makes the fixture runner (with tools/case_files.c, shared with the GPU tool); tests/test_*.c each make one cmocka test binary.

CC      ?= gcc
SAN     ?= 0
BUILD   ?= $(if $(filter 1,$(SAN)),build-san,build)
PKGS    := libcjson libutf8proc libpcre2-8 liblzma
MPI_PKG := ompi-c
# OpenBLAS built for OpenMP: it shares adapt's OpenMP threads instead of adding its own pthreads
# (2x faster on 2 cores than Debian's default pthread build).
BLAS_DIR := /usr/lib/x86_64-linux-gnu/openblas-openmp
CFLAGS  ?= -O2 -march=x86-64-v3 -g
# -fvect-cost-model=dynamic: -O2's "very cheap" model leaves elementwise loops over pointers that
# might alias scalar; float reductions stay in order either way (no -ffast-math).
CFLAGS  += -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -fopenmp -fvect-cost-model=dynamic -Iinclude -Isrc -Itools \
           -I/usr/include/x86_64-linux-gnu/openblas-openmp $(shell pkg-config --cflags $(PKGS))
LDLIBS  := -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR) -lopenblas $(shell pkg-config --libs $(PKGS)) -lm -lpthread -fopenmp
ifeq ($(SAN),1)
CFLAGS  += -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRC  := $(sort $(shell find src -name '*.c' -not -path 'src/cli/*' -not -path 'src/backend/cuda/*' -not -path 'src/backend/mpi/*'))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_COMMON := $(BUILD)/obj/tests/testutil.o $(BUILD)/obj/tests/case_compare.o $(BUILD)/obj/tests/case_batch.o \
               $(BUILD)/obj/tests/lora_fixture.o
# examples/*.c: programs that see adapt.h only (no -Isrc), e.g. examples/tag-words.c
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(sort $(wildcard examples/*.c)))

# adapt-mpi when Open MPI is installed (`make test` installs it first: scripts/install-deps.sh --mpi)
HAVE_MPI := $(shell pkg-config --exists $(MPI_PKG) && echo 1)
all: $(BUILD)/adapt $(if $(HAVE_MPI),$(BUILD)/adapt-mpi) $(BUILD)/adapt-case $(EXAMPLES) $(TESTS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC  $<"
	@$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libadapt.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/adapt: $(CLI_OBJ) $(BUILD)/libadapt.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# the MPI object first: the archive's single-process data_parallel_single.o is then never linked
$(BUILD)/obj/src/backend/mpi/%.o: src/backend/mpi/%.c
	@mkdir -p $(dir $@)
	@echo "  CC  $<"
	@$(CC) $(CFLAGS) $(shell pkg-config --cflags $(MPI_PKG)) -MMD -MP -c $< -o $@

$(BUILD)/adapt-mpi: $(CLI_OBJ) $(BUILD)/obj/src/backend/mpi/data_parallel_mpi.o $(BUILD)/libadapt.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs $(MPI_PKG))

$(BUILD)/adapt-case: $(BUILD)/obj/tools/adapt-case.o $(BUILD)/obj/tools/case_files.o $(BUILD)/libadapt.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/examples/%: examples/%.c examples/mixed_rows.h include/adapt.h $(BUILD)/libadapt.a
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -Isrc -Itools,$(CFLAGS)) $(LDFLAGS) -o $@ $< $(BUILD)/libadapt.a $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TEST_COMMON) $(BUILD)/libadapt.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# `make test` and `make demo` install missing Debian packages first (the tests also Open MPI), then
# build in a fresh make (pkg-config above must see the packages).
test: deps-mpi
	$(MAKE) --no-print-directory -j$$(nproc) all
	BUILD=$(BUILD) bash scripts/run-tests.sh

demo: deps
	$(MAKE) --no-print-directory -j$$(nproc) $(BUILD)/adapt
	bash scripts/demo.sh $(BUILD)

deps:
	@bash scripts/install-deps.sh

deps-mpi:
	@bash scripts/install-deps.sh --mpi

clean:
	rm -rf build build-san

# `make install [PREFIX=/usr/local] [DESTDIR=]`: the command(s), the library, its one header and a
# pkg-config file, so that `cc prog.c $(pkg-config --cflags --libs adapt)` builds a program.
PREFIX ?= /usr/local
install: $(BUILD)/adapt $(if $(HAVE_MPI),$(BUILD)/adapt-mpi) $(BUILD)/libadapt.a
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 755 $(filter %/adapt %/adapt-mpi,$^) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(BUILD)/libadapt.a $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/adapt.h $(DESTDIR)$(PREFIX)/include/
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' 'Name: adapt' \
	  'Description: parameter-efficient transfer learning with adapters (static library)' 'Version: 0.1' \
	  'Requires: $(PKGS)' 'Cflags: -I$${includedir}' \
	  'Libs: -L$${libdir} -ladapt -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR) -lopenblas -lm -lpthread -fopenmp' \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/adapt.pc

.PHONY: all test demo deps deps-mpi clean install
-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---------------------------------------------------------------- fuzz (issue 8) -----------------
# `make fuzz` builds the libFuzzer targets of fuzz/ with clang into build-fuzz/ (see fuzz/fuzz.mk;
# the rules above are not used) and runs each for FUZZ_TIME seconds (default 30), FUZZ_JOBS at a
# time; it fails when a target crashes. `make fuzz-build` only builds. Details: docs/reliability.md.
FUZZ_TIME ?= 30
FUZZ_JOBS ?= 1
fuzz: deps
	bash scripts/fuzz.sh -t $(FUZZ_TIME) -j $(FUZZ_JOBS)

fuzz-build: deps
	bash scripts/fuzz.sh --build-only

.PHONY: fuzz fuzz-build
# ---------------------------------------------------------------- end fuzz -----------------------

# ==== CUDA backend (owner: the CUDA backend; see docs/gpu.md) ====================================
# `make cuda` builds $(BUILD)/adapt-gpu (nvcc for src/backend/cuda/*.cu, the C compiler for the host
# side, linked with libadapt.a, cuBLAS and the static CUDA runtime). `make cuda-check` compiles
# every CUDA and host file without linking: CI runs it where nvcc exists, no GPU needed.
# `make gpu-dist` packs the tool with the shared libraries a bare CUDA image may lack (gpu-dist/).
# Nothing above depends on this block: the default build never needs CUDA.
NVCC      ?= $(firstword $(wildcard /usr/local/cuda/bin/nvcc) nvcc)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
NVFLAGS   ?= -O3 -lineinfo
NVFLAGS   += -std=c++17 -gencode=arch=compute_90,code=sm_90 -gencode=arch=compute_90,code=compute_90 \
             -Xcompiler -Wall,-Wextra -Werror all-warnings -Iinclude -Isrc $(shell pkg-config --cflags libcjson 2>/dev/null)
CUDA_CU   := $(sort $(wildcard src/backend/cuda/*.cu))
CUDA_HOST := $(sort $(wildcard src/backend/cuda/*.c)) tools/adapt-gpu.c tools/case_files.c
CUDA_OBJ  := $(CUDA_CU:%.cu=$(BUILD)/obj/%.cu.o) $(CUDA_HOST:%.c=$(BUILD)/obj/%.o)
CUDA_LIBS := -L$(CUDA_HOME)/lib64 -Wl,-rpath,'$$ORIGIN/lib' -Wl,-rpath,$(CUDA_HOME)/lib64 \
             -lcublas -lcudart_static -lstdc++ -ldl -lrt

$(BUILD)/obj/%.cu.o: %.cu $(wildcard src/backend/cuda/*.cuh) src/backend/cuda/gpu.h
	@mkdir -p $(dir $@)
	@echo "  NVCC $<"
	@$(NVCC) $(NVFLAGS) -c $< -o $@

$(BUILD)/adapt-gpu: $(CUDA_OBJ) $(BUILD)/libadapt.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CUDA_LIBS)

cuda: $(BUILD)/adapt-gpu

cuda-check: $(CUDA_OBJ)
	@echo "CUDA backend compiles ($(words $(CUDA_OBJ)) files)"

# The device image may lack the Debian libraries: link them statically where an archive exists,
# ship libcjson.so.1 beside the tool, and compress (the static OpenBLAS is large but compresses 13x).
LIBDIR      := /usr/lib/x86_64-linux-gnu
DIST_LDLIBS := -lcjson $(foreach l,utf8proc pcre2-8 lzma,$(firstword $(wildcard $(LIBDIR)/lib$(l).a) -l$(l))) \
               $(firstword $(wildcard $(LIBDIR)/openblas-pthread/libopenblas.a $(LIBDIR)/libopenblas.a) -lopenblas) \
               -lm -lpthread -fopenmp

$(BUILD)/adapt-gpu-dist: $(CUDA_OBJ) $(BUILD)/libadapt.a
	$(CC) $(LDFLAGS) -o $@ $^ $(DIST_LDLIBS) $(CUDA_LIBS)
	strip $@

gpu-dist: $(BUILD)/adapt-gpu-dist
	@mkdir -p gpu-dist/lib
	xz -T0 -6 -c $< > gpu-dist/adapt-gpu.xz
	cp -L $$(ldd $< | awk '/libcjson/ {print $$3}') gpu-dist/lib/
	@ls -la gpu-dist gpu-dist/lib

# Host-side checks of the GPU tool (save format, init, positions, which adapter setups the device
# runs): plain C, no CUDA needed; CI runs them.
$(BUILD)/tests/gpu/test_gpu_host: $(BUILD)/obj/tests/gpu/test_gpu_host.o $(BUILD)/obj/src/backend/cuda/gpu_save.o \
                                  $(BUILD)/obj/src/backend/cuda/gpu_util.o $(BUILD)/obj/src/backend/cuda/gpu_adapter_config.o \
                                  $(BUILD)/libadapt.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

gpu-host-test: $(BUILD)/tests/gpu/test_gpu_host
	$<

.PHONY: cuda cuda-check gpu-dist gpu-host-test
# ==== end of the CUDA backend block ==============================================================
