// zip plot: several compress runs in one figure.
#include <fmt/format.h>

#include "compress/report.h"
#include "compress/report_merge.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "tools/zip/args.h"
#include "tools/zip/commands.h"

namespace zip::cli {

int cmd_plot(int argc, char** argv) {
  Args args("plot", "-o OUT.svg DIR[=LABEL]...",
            "Draws the members of several `zip compress` runs (their OUT_DIR/report.json, or report\n"
            "files) in one perplexity-against-measured-speedup figure, as report.svg draws one run:\n"
            "distilled members as two curves, before and after KD. LABEL names a run's series (two\n"
            "runs of one method need labels). The runs must share the dense model and environment.",
            {{"-o", "OUT.svg", "the figure to write"}});
  if (!args.parse(argc, argv)) return 0;
  args.expect_positional(1, 64, "DIR[=LABEL]");
  const std::string out = args.str("-o");
  if (out.empty()) throw UsageError("zip plot: -o OUT.svg is required");
  std::vector<LabelledReport> reports;
  for (const std::string& a : args.positional()) {
    const size_t eq = a.rfind('=');
    LabelledReport lr;
    lr.where = eq == std::string::npos ? a : a.substr(0, eq);
    lr.label = eq == std::string::npos ? "" : a.substr(eq + 1);
    if (eq != std::string::npos && lr.label.empty()) throw UsageError(fmt::format("zip plot: {}: empty label after '='", printable(a)));
    lr.report = read_report(lr.where);
    reports.push_back(std::move(lr));
  }
  const nlohmann::json merged = merge_reports(reports);
  write_file_atomic(out, render_report_svg(merged));
  fmt::print(stderr, "wrote {} ({} members from {} runs)\n", printable(out), merged["members"].size(), reports.size());
  return 0;
}

}  // namespace zip::cli
