// Renderers for the `zip compress` report: report.json (built by the compressor) to a Markdown
// report, a compact terminal table, and an SVG plot of quality against measured speedup.
// Pure functions of the JSON: every optional field may be missing (rendered as "–" or skipped);
// write the results with write_file_atomic (engine/file_io.h).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace zip {

// Full Markdown report: header (model, env, calibration, wall times), the dense model, one table
// per speedup target (one row per method; measured/target flagged ✗ outside [0.97, 1.10]),
// infeasible targets, per-layer tables (ZipLM members always, every member when the report is
// short), and the latency table. Throws zip::Error only if `report` is not a JSON object.
std::string render_report_md(const nlohmann::json& report);

// Compact plain-ASCII aligned table for the terminal (method, target, measured speedup, params,
// ppl, calib loss), dense row first. Ends with a newline.
std::string render_summary_table(const nlohmann::json& report);

// Standalone SVG: perplexity (or calibration loss, when some plotted member lacks ppl) against
// measured speedup, one series per method (color + marker, joined in speedup order, legend),
// the dense model as a star at x = 1. Log y when the range spans more than 10×. Each plotted
// member is one element with class="pt", the dense marker has class="dense".
std::string render_report_svg(const nlohmann::json& report);

}  // namespace zip
