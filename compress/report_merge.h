// Several compress reports in one figure (`zip plot`): every method of several runs — one-shot,
// gradual, Minitron, each with and without distillation — on one perplexity-against-speedup plot.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace zip {

struct LabelledReport {
  std::string label;  // the runs' series name ("gradual"); empty: the members' own method names
  std::string where;  // for messages: the folder or file it came from
  nlohmann::json report;
};

// Reads OUT_DIR/report.json (or a report .json file itself). Throws zip::Error with one line
// when it is missing, not JSON, or not a compress report.
nlohmann::json read_report(const std::string& dir_or_file);

// One report holding every report's members, each member's method replaced by its report's label
// when one is given (the plot keys its series by method, so two ZipLM runs need labels to stay
// apart); the dense model, model path and env are the first report's. Throws zip::Error when the
// reports come from different dense models (parent_hash) or environments (their speedups would
// not compare), or when two of them would draw a series under the same name.
nlohmann::json merge_reports(const std::vector<LabelledReport>& reports);

}  // namespace zip
