// zip verify: a compress family's speed guarantee checked again on this machine.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "compress/verify.h"
#include "engine/error.h"
#include "tools/zip/args.h"
#include "tools/zip/commands.h"

namespace zip::cli {

int cmd_verify(int argc, char** argv) {
  Args args("verify", "OUT_DIR [--dense MODEL.zlm] [options]",
            "Times every member of a `zip compress -o OUT_DIR` family side by side with the dense\n"
            "model, in the family's environment (report.json's env), and checks each measured speedup\n"
            "against [0.97, 1.10] x its target: the guarantee, checked where the members will run.\n"
            "Exit status 3 when a member is outside the band. Writes nothing. See docs/COMPRESS.md.",
            {{"--dense", "MODEL.zlm", "the dense model (default: the path report.json recorded)"},
             {"--reps", "N", "timed repetitions per measurement (default 7)"},
             {"--warmup", "N", "untimed repetitions first (default 2)"},
             {"--json", "", "print the result as JSON"}});
  if (!args.parse(argc, argv)) return 0;
  args.expect_positional(1, 1, "OUT_DIR");
  VerifyOptions o;
  o.dense_path = args.str("--dense");
  o.timing.reps = int(args.integer("--reps", o.timing.reps, 1, 1000));
  o.timing.warmup = int(args.integer("--warmup", o.timing.warmup, 0, 1000));
  o.latency = synthetic_latency_from_env();  // tests only (ZIP_COMPRESS_SYNTHETIC)
  o.log = [](const std::string& s) { fmt::print(stderr, "{}\n", s); };
  const std::vector<VerifiedMember> rows = verify_family(args.positional()[0], o);
  int missed = 0;
  nlohmann::json j = nlohmann::json::array();
  for (const VerifiedMember& v : rows) missed += !v.in_band;
  if (args.has("--json")) {
    for (const VerifiedMember& v : rows)
      j.push_back({{"file", v.file}, {"method", v.method}, {"target", v.target}, {"measured_speedup", v.measured},
                   {"recorded_speedup", v.recorded ? nlohmann::json(*v.recorded) : nlohmann::json()}, {"timing_spread", v.spread},
                   {"in_band", v.in_band}});
    fmt::print("{}\n", j.dump(2));
  } else {
    fmt::print("{:<28} {:>7} {:>9} {:>9} {:>8} {:>7}  {}\n", "member", "target", "recorded", "measured", "/target", "spread", "");
    for (const VerifiedMember& v : rows)
      fmt::print("{:<28} {:>6.2f}x {:>9} {:>8.3f}x {:>8.3f} {:>6.1f}%  {}\n", printable(v.file), v.target,
                 v.recorded ? fmt::format("{:.3f}x", *v.recorded) : "-", v.measured, v.measured / v.target, 100 * v.spread,
                 v.in_band ? "in band" : "OUTSIDE [0.97, 1.10]");
  }
  if (rows.empty()) fmt::print(stderr, "zip verify: no member with a speedup target in {}\n", printable(args.positional()[0]));
  if (missed) fmt::print(stderr, "zip verify: {} of {} member(s) measured outside [0.97, 1.10] x target (exit 3)\n", missed, rows.size());
  return missed ? 3 : 0;
}

}  // namespace zip::cli
