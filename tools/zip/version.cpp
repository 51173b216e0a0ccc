// zip --version: the release, the git commit it was built from (baked in by the Makefile), the
// compiler and the SIMD level the kernels were compiled for.
#include <cstdio>

#include "base/simd.h"
#include "tools/zip/commands.h"

#ifndef ZIP_VERSION
#define ZIP_VERSION "unknown"
#endif
#ifndef ZIP_GIT_COMMIT
#define ZIP_GIT_COMMIT "unknown"
#endif

namespace zip::cli {

static const char* simd_level() {
#if ZIP_SIMD_AVX512
  return "AVX-512 (F, BW, VL)";
#elif ZIP_SIMD_AVX2
  return "AVX2 + FMA + F16C";
#else
  return "scalar (portable build)";
#endif
}

static const char* compiler() {
#if defined(__clang__)
  return "clang " __clang_version__;
#elif defined(__GNUC__)
  return "gcc " __VERSION__;
#else
  return "unknown compiler";
#endif
}

void print_version() {
  std::printf("zip %s (commit %s)\ncompiler: %s\nSIMD: %s\n", ZIP_VERSION, ZIP_GIT_COMMIT, compiler(), simd_level());
}

}  // namespace zip::cli
