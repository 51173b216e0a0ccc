// The deployment environment of compress/latency.h: `cpu:threads=2,batch=1,ctx=256,phase=decode`.
#include <charconv>

#include "compress/latency.h"
#include "engine/error.h"

namespace zip {

using json = nlohmann::json;

const char* phase_name(Phase p) { return p == Phase::Prefill ? "prefill" : "decode"; }

static const char* kEnvExample = "e.g. cpu:threads=2,batch=1,ctx=256,phase=decode";

static int env_int(const std::string& key, const std::string& v, int lo, int hi) {
  int x = 0;
  auto r = std::from_chars(v.data(), v.data() + v.size(), x);
  if (v.empty() || r.ec != std::errc() || r.ptr != v.data() + v.size() || x < lo || x > hi)
    throw UsageError(fmt::format("--env: {}={} is not an integer in {}..{}", key, v, lo, hi));
  return x;
}

void check_env(const Env& e) {
  auto bad = [](const std::string& m) { throw UsageError("--env: " + m); };
  if (e.device != "cpu" && e.device != "cuda") bad(fmt::format("unknown device '{}' (cpu or cuda)", e.device));
  if (e.threads < 1 || e.threads > 1024) bad(fmt::format("threads={} out of range 1..1024", e.threads));
  if (e.batch < 1 || e.batch > 4096) bad(fmt::format("batch={} out of range 1..4096", e.batch));
  if (e.ctx < 1 || e.ctx > (1 << 20)) bad(fmt::format("ctx={} out of range 1..{}", e.ctx, 1 << 20));
}

Env parse_env(const std::string& s) {
  Env e;
  size_t colon = s.find(':');
  e.device = s.substr(0, colon);
  if (e.device.empty() || e.device.find('=') != std::string::npos)
    throw UsageError(fmt::format("--env '{}': expected a device first (cpu or cuda), {}", s, kEnvExample));
  if (e.device != "cpu" && e.device != "cuda")
    throw UsageError(fmt::format("--env '{}': unknown device '{}' (cpu or cuda)", s, e.device));
  std::set<std::string> seen;
  std::string rest = colon == std::string::npos ? "" : s.substr(colon + 1);
  for (size_t i = 0; i < rest.size() || (colon != std::string::npos && i == 0);) {
    size_t comma = rest.find(',', i);
    std::string item = rest.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw UsageError(fmt::format("--env '{}': '{}' is not key=value, {}", s, item, kEnvExample));
    std::string key = item.substr(0, eq), val = item.substr(eq + 1);
    if (!seen.insert(key).second) throw UsageError(fmt::format("--env '{}': {} given twice", s, key));
    if (key == "threads")
      e.threads = env_int(key, val, 1, 1024);
    else if (key == "batch")
      e.batch = env_int(key, val, 1, 4096);
    else if (key == "ctx")
      e.ctx = env_int(key, val, 1, 1 << 20);
    else if (key == "phase") {
      if (val == "prefill")
        e.phase = Phase::Prefill;
      else if (val == "decode")
        e.phase = Phase::Decode;
      else
        throw UsageError(fmt::format("--env '{}': phase={} (prefill or decode)", s, val));
    } else if (key == "dtype") {
      quant::QuantMix mix{};
      if (!quant::parse_quant_mix(val, &mix) || mix == quant::QuantMix::F32)
        throw UsageError(fmt::format("--env '{}': dtype={} (one of {} but f32)", s, val, quant::kQuantMixNames));
      e.weights = mix;
    } else
      throw UsageError(fmt::format("--env '{}': unknown key '{}' (threads, batch, ctx, phase, dtype)", s, key));
    if (comma == std::string::npos) break;
    i = comma + 1;
    if (i == rest.size()) throw UsageError(fmt::format("--env '{}': trailing comma", s));
  }
  return e;
}

// dtype is left out when unset, so the keys of tables timed before it existed still match.
std::string env_to_string(const Env& e) {
  return fmt::format("{}:threads={},batch={},ctx={},phase={}{}", e.device, e.threads, e.batch, e.ctx,
                     phase_name(e.phase), e.weights ? std::string(",dtype=") + quant::quant_mix_name(*e.weights) : "");
}

json env_to_json(const Env& e) {
  json j = {{"device", e.device}, {"threads", e.threads}, {"batch", e.batch}, {"ctx", e.ctx}, {"phase", phase_name(e.phase)}};
  if (e.weights) j["dtype"] = quant::quant_mix_name(*e.weights);
  return j;
}

Env env_from_json(const json& j) {
  ZIP_CHECK(j.is_object(), "latency env: expected an object");
  Env e;
  try {
    for (auto& [k, v] : j.items()) {
      if (k == "device")
        e.device = v.get<std::string>();
      else if (k == "threads")
        e.threads = v.get<int>();
      else if (k == "batch")
        e.batch = v.get<int>();
      else if (k == "ctx")
        e.ctx = v.get<int>();
      else if (k == "phase") {
        std::string p = v.get<std::string>();
        ZIP_CHECK(p == "prefill" || p == "decode", "latency env: phase '{}' (prefill or decode)", p);
        e.phase = p == "prefill" ? Phase::Prefill : Phase::Decode;
      } else if (k == "dtype") {
        quant::QuantMix mix{};
        const std::string d = v.get<std::string>();
        ZIP_CHECK(quant::parse_quant_mix(d, &mix) && mix != quant::QuantMix::F32, "latency env: dtype '{}'", printable(d));
        e.weights = mix;
      } else
        fail("latency env: unknown field '{}'", k);
    }
  } catch (const json::exception& x) {
    fail("latency env: {}", x.what());
  }
  try {
    check_env(e);
  } catch (const UsageError& x) {
    throw Error(x.what());
  }
  return e;
}

}  // namespace zip
