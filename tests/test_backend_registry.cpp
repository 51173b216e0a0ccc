// Device names → backends (engine/backend_registry.h): the one parser every command and the public
// API go through, its usage errors, and the one-line refusal of a device this build or machine
// cannot use.
#include "engine/backend_registry.h"
#include "engine/cuda.h"
#include "engine/error.h"
#include "tests/test_util.h"

using namespace zip;

TEST_CASE("backends: device names parse to a kind and an index") {
  auto check = [](const char* name, const char* kind, int index) {
    INFO(name);
    DeviceName d = parse_device(name);
    CHECK(d.kind == kind);
    CHECK(d.index == index);
  };
  check("cpu", "cpu", 0);
  check("ref", "ref", 0);
  check("cuda", "cuda", 0);
  check("cuda:0", "cuda", 0);
  check("cuda:3", "cuda", 3);
  for (const char* bad : {"", "gpu", "CPU", "cuda:", "cuda:-1", "cuda:1x", "cuda: 1", "cuda:99999999999", "cpu:1"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_device(bad), UsageError);
  }
  // The message is one printable line, even for a name that is not.
  try {
    parse_device("gp\nu");
    FAIL("accepted a bad name");
  } catch (const UsageError& e) {
    CHECK(std::string(e.what()) == "unknown device 'gp?u' (cpu, ref, cuda, cuda:N)");
  }
}

TEST_CASE("backends: make_backend builds cpu and ref, refuses unknown names and unusable devices") {
  auto cpu = make_backend("cpu", 3);
  CHECK(std::string(cpu->name()) == "cpu");
  CHECK(cpu->threads() == 3);
  auto ref = make_backend("ref", 8);
  CHECK(std::string(ref->name()) == "ref");
  CHECK(ref->threads() == 1);
  CHECK_THROWS_AS(make_backend("tpu", 1), UsageError);
  std::string why;
  if (cuda_available(&why)) {
    MESSAGE("a CUDA GPU is present: make_backend(\"cuda\") is checked by the cuda tests");
    CHECK(std::string(make_backend("cuda", 1)->name()) == "cuda");
    return;
  }
  try {
    make_backend("cuda:1", 1);
    FAIL("make_backend(cuda:1) succeeded without a usable GPU");
  } catch (const UsageError&) {
    FAIL("a usage error for a well-formed device name");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "--device cuda:1: " + why);
  }
}

TEST_CASE("backends: list_backends names every kind, with why one cannot be used") {
  auto v = list_backends();
  REQUIRE(v.size() == 3);
  CHECK(v[0].name == "cpu");
  CHECK(v[0].available);
  CHECK(v[1].name == "ref");
  CHECK(v[1].available);
  CHECK(v[2].name == "cuda");
  std::string why;
  CHECK(v[2].available == cuda_available(&why));
  CHECK(v[2].why == (v[2].available ? "" : why));
#ifndef ZIP_CUDA
  CHECK(v[2].why == "this build of zip has no CUDA backend (build with make CUDA=1)");
#endif
}
