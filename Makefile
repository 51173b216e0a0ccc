# zip — build. `make` builds build/zip and build/libzip.a; `make test` runs the suite.
#   make PORTABLE=1   portable x86-64 build (no -march=native)
#   make SAN=1        AddressSanitizer + UBSan build in build-san/
#   make fuzz         libFuzzer target for the .zlm reader (clang) in build-fuzz/
CXX      ?= g++
PORTABLE ?= 0
SAN      ?= 0

ifeq ($(SAN),1)
  BUILD    ?= build-san
  OPTFLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDSAN    := -fsanitize=address,undefined
else
  BUILD    ?= build
  OPTFLAGS := -O3 -g1
  LDSAN    :=
endif
ifeq ($(PORTABLE),1)
  ARCHFLAGS :=
else
  ARCHFLAGS := -march=native
endif

# -Wno-restrict: GCC 12 reports false positives inside std::string concatenation at -O3 (PR105329).
CXXFLAGS := -std=c++20 $(OPTFLAGS) $(ARCHFLAGS) -Wall -Wextra -Wno-restrict -pthread -MMD -MP -I. -Iinclude $(EXTRA_CXXFLAGS)
LDLIBS   := -lfmt -lutf8proc -pthread

# zip --version: the release and the commit (with -dirty for uncommitted changes), compiled into
# tools/zip/version.cpp only; the stamp file changes when they do, so nothing else rebuilds.
ZIP_VERSION := 0.1.0
GIT_COMMIT  := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git rev-parse HEAD >/dev/null 2>&1 && ! git diff --quiet HEAD 2>/dev/null && echo -dirty)
VERSION_DEFS := -DZIP_VERSION='"$(ZIP_VERSION)"' -DZIP_GIT_COMMIT='"$(GIT_COMMIT)"'
$(shell mkdir -p $(BUILD) && (echo '$(VERSION_DEFS)' | cmp -s - $(BUILD)/version.stamp || echo '$(VERSION_DEFS)' > $(BUILD)/version.stamp))

LIB_SRCS  := $(wildcard base/*.cpp engine/*.cpp engine/*/*.cpp kernels/cpu/*.cpp kernels/ref/*.cpp models/*.cpp compress/*.cpp prune/*.cpp prune/*/*.cpp distill/*.cpp)
CLI_SRCS  := $(wildcard tools/zip/*.cpp)
TEST_SRCS := $(wildcard tests/*.cpp)

LIB_OBJS  := $(LIB_SRCS:%.cpp=$(BUILD)/obj/%.o)
CLI_OBJS  := $(CLI_SRCS:%.cpp=$(BUILD)/obj/%.o)
TEST_OBJS := $(TEST_SRCS:%.cpp=$(BUILD)/obj/%.o)

# ---- CUDA backend (one section; the rest of this Makefile knows nothing of CUDA) -----------------
#   make CUDA=1 BUILD=build-cuda   adds the CUDA backend: kernels/cuda/*.cu through nvcc, the
#                                  host glue kernels/cuda/*.cpp, cuBLASLt. Needs the CUDA toolkit.
#   default (CUDA=0)               links kernels/cuda/cuda_stub.cpp only: make_cuda_backend()
#                                  throws, cuda_available() is false; no CUDA needed.
# CUDA_ARCH overrides the GPU targets, e.g. CUDA_ARCH=-gencode=arch=compute_90,code=sm_90.
CUDA ?= 0
ifeq ($(CUDA),1)
  ifeq ($(origin BUILD),file)
    $(error make CUDA=1 needs its own build folder: add BUILD=build-cuda)
  endif
  CUDA_HOME ?= /usr/local/cuda
  NVCC      ?= $(CUDA_HOME)/bin/nvcc
  CUDA_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
               -gencode arch=compute_90,code=compute_90
  NVCCFLAGS := -std=c++20 -O3 -g -lineinfo $(CUDA_ARCH) -Xcompiler -Wall,-Wextra -MMD -MP -I. -Iinclude \
               -DZIP_CUDA=1 $(EXTRA_NVCCFLAGS)
  CXXFLAGS  += -DZIP_CUDA=1 -isystem $(CUDA_HOME)/include
  LDLIBS    += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lcudart
  CUDA_CPP  := $(filter-out kernels/cuda/cuda_stub.cpp,$(wildcard kernels/cuda/*.cpp))
  CUDA_OBJS := $(patsubst %.cu,$(BUILD)/obj/%.o,$(wildcard kernels/cuda/*.cu))
$(BUILD)/obj/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@
else
  CUDA_CPP  := kernels/cuda/cuda_stub.cpp
  CUDA_OBJS :=
endif
LIB_SRCS += $(CUDA_CPP)
LIB_OBJS += $(CUDA_CPP:%.cpp=$(BUILD)/obj/%.o) $(CUDA_OBJS)
# ---- end of the CUDA section --------------------------------------------------------------------

.PHONY: all test demo fuzz fuzz-replay clean
all: $(BUILD)/zip $(BUILD)/libzip.a

$(BUILD)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(BUILD)/obj/tools/zip/version.o: CXXFLAGS += $(VERSION_DEFS)
$(BUILD)/obj/tools/zip/version.o: $(BUILD)/version.stamp

$(BUILD)/libzip.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/zip: $(CLI_OBJS) $(BUILD)/libzip.a
	$(CXX) $(LDSAN) -o $@ $(CLI_OBJS) $(BUILD)/libzip.a $(LDLIBS)

$(BUILD)/zip_tests: $(TEST_OBJS) $(BUILD)/libzip.a
	$(CXX) $(LDSAN) -o $@ $(TEST_OBJS) $(BUILD)/libzip.a $(LDLIBS)

# The embedding example uses only include/zip/zip.h; building it in `make test` keeps the API honest.
$(BUILD)/embed: examples/embed.cpp include/zip/zip.h $(BUILD)/libzip.a
	$(CXX) -std=c++20 $(OPTFLAGS) -Wall -Wextra -Iinclude -o $@ $< $(BUILD)/libzip.a $(LDLIBS) $(LDSAN)

test: $(BUILD)/zip $(BUILD)/zip_tests $(BUILD)/embed
	ZIP_BIN=$(abspath $(BUILD)/zip) ZIP_EMBED_BIN=$(abspath $(BUILD)/embed) $(BUILD)/zip_tests $(TEST_ARGS)

# The demo builds zip itself, in parallel (make -j$(nproc)).
demo:
	bash tools/demo.sh $(BUILD)/zip

# libFuzzer target for the .zlm reader. Run: make fuzz && build-fuzz/fuzz_zlm -max_total_time=600 tests/fuzz/corpus
# The library is compiled per object (so make -j parallelises it) with the fuzzer's coverage hooks.
FUZZ_FLAGS := -std=c++20 -O1 -g -I. -Iinclude -pthread
FUZZ_OBJS  := $(LIB_SRCS:%.cpp=build-fuzz/obj/%.o)
fuzz: build-fuzz/fuzz_zlm
build-fuzz/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	clang++ $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link,address,undefined -MMD -MP -c $< -o $@
build-fuzz/fuzz_zlm: tests/fuzz/fuzz_zlm.cpp $(FUZZ_OBJS)
	clang++ $(FUZZ_FLAGS) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS)
# Replays the committed corpus once (CI): every input must load or fail cleanly.
fuzz-replay: build-fuzz/fuzz_zlm
	build-fuzz/fuzz_zlm -runs=0 tests/fuzz/corpus

clean:
	rm -rf build build-san build-fuzz build-*

-include $(LIB_OBJS:.o=.d) $(CLI_OBJS:.o=.d) $(TEST_OBJS:.o=.d) $(FUZZ_OBJS:.o=.d)
