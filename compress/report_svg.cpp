// The SVG plot of compress/report.h: quality against measured speedup, one series per method.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <numbers>
#include <optional>
#include <vector>

#include "compress/report.h"
#include "compress/report_fields.h"
#include "engine/error.h"

namespace zip {

using nlohmann::json;
using namespace report_detail;

namespace {

// XML text/attribute escaping; control characters (invalid in XML 1.0) become spaces.
std::string xml(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&apos;"; break;
      default: o += (static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
    }
  }
  return o;
}

// Cuts a UTF-8 string to at most n bytes without splitting a character.
std::string clip(const std::string& s, size_t n) {
  if (s.size() <= n) return s;
  size_t k = n;
  while (k > 0 && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) --k;
  return s.substr(0, k) + "…";
}

struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  std::vector<double> ticks;
  int decimals = 0;
  // Position in [0, 1] along the axis.
  double frac(double v) const {
    if (log) return (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
    return (v - lo) / (hi - lo);
  }
  std::string label(double v) const {
    return log ? fmt::format("{:g}", v) : fmt::format("{:.{}f}", v, decimals);
  }
};

// Linear axis over [lo, hi] padded by 5%, ticks at multiples of a 1-2-2.5-5 step inside it.
Axis linear_axis(double lo, double hi) {
  double span = hi - lo;
  double pad = span > 1e-12 * std::max(1.0, std::fabs(hi)) ? 0.05 * span
                                                            : std::max(0.1 * std::fabs(hi), 1e-3);
  lo -= pad;
  hi += pad;
  double raw = (hi - lo) / 5;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double f = raw / mag;
  double step = (f <= 1.5 ? 1 : f <= 2.25 ? 2 : f <= 3.5 ? 2.5 : f <= 7.5 ? 5 : 10) * mag;
  Axis a;
  a.lo = lo;
  a.hi = hi;
  for (double k = std::ceil(lo / step - 1e-9); k * step <= hi + 1e-9 * step; k += 1) {
    double t = k * step;
    a.ticks.push_back(std::fabs(t) < 1e-9 * step ? 0.0 : t);
  }
  while (a.decimals < 8) {
    double scaled = step * std::pow(10.0, a.decimals);
    if (std::fabs(scaled - std::round(scaled)) < 1e-6 * std::max(1.0, scaled)) break;
    ++a.decimals;
  }
  return a;
}

// Log axis (lo > 0): ticks at 1, 2, 5 × 10^k (just powers of ten past three decades).
Axis log_axis(double lo, double hi) {
  double llo = std::log10(lo), lhi = std::log10(hi), pad = 0.05 * (lhi - llo);
  Axis a;
  a.log = true;
  a.lo = std::pow(10.0, llo - pad);
  a.hi = std::pow(10.0, lhi + pad);
  bool few = lhi - llo <= 3;
  for (int e = static_cast<int>(std::floor(llo - pad)); e <= static_cast<int>(std::ceil(lhi + pad)); ++e) {
    for (double m : {1.0, 2.0, 5.0}) {
      if (m != 1.0 && !few) continue;
      double t = m * std::pow(10.0, e);
      if (t >= a.lo && t <= a.hi) a.ticks.push_back(t);
    }
  }
  return a;
}

struct Style {
  const char* color;
  int shape;  // 0 circle, 1 square, 2 triangle, 3 diamond, 4 triangle down, 5 cross
  int order;  // legend order: known methods first
  bool hollow = false;  // a distilled member before its distillation: open marker, dashed line
};

Style style_for(const std::string& method, int& next_unknown) {
  static const char* const colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                       "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};
  static const char* const known[] = {"ziplm", "ziplm-no-update", "magnitude", "uniform", "minitron", "importance",
                                      "importance-no-update"};
  constexpr int n_known = int(std::size(known));
  int idx = -1;
  for (int k = 0; k < n_known; ++k)
    if (method == known[k]) idx = k;
  if (idx < 0) idx = n_known + next_unknown++;
  return {colors[idx % 10], idx % 6, 2 * idx};
}

// One marker element; with a tooltip it gets a <title> child.
std::string marker(int shape, double x, double y, const char* color, const std::string& cls,
                   const std::string& tip, bool hollow = false) {
  const double r = 5;
  std::string attrs = hollow ? fmt::format("class=\"{}\" fill=\"#ffffff\" stroke=\"{}\" stroke-width=\"1.5\"", cls, color)
                             : fmt::format("class=\"{}\" fill=\"{}\" stroke=\"#ffffff\" stroke-width=\"1\"", cls, color);
  auto poly = [&](std::vector<std::pair<double, double>> pts) {
    std::string p;
    for (auto [dx, dy] : pts) p += fmt::format("{}{:.2f},{:.2f}", p.empty() ? "" : " ", x + dx, y + dy);
    return fmt::format("<polygon {} points=\"{}\"", attrs, p);
  };
  std::string open;
  std::string tag = "polygon";
  switch (shape) {
    case 0: open = fmt::format("<circle {} cx=\"{:.2f}\" cy=\"{:.2f}\" r=\"{}\"", attrs, x, y, r); tag = "circle"; break;
    case 1: open = fmt::format("<rect {} x=\"{:.2f}\" y=\"{:.2f}\" width=\"{}\" height=\"{}\"", attrs, x - r * 0.9, y - r * 0.9, 1.8 * r, 1.8 * r); tag = "rect"; break;
    case 2: open = poly({{0, -r * 1.2}, {r * 1.1, r * 0.8}, {-r * 1.1, r * 0.8}}); break;
    case 3: open = poly({{0, -r * 1.3}, {r * 1.1, 0}, {0, r * 1.3}, {-r * 1.1, 0}}); break;
    case 4: open = poly({{0, r * 1.2}, {r * 1.1, -r * 0.8}, {-r * 1.1, -r * 0.8}}); break;
    case 5: open = poly({{-r, -r * 0.4}, {-r * 0.4, -r * 0.4}, {-r * 0.4, -r}, {r * 0.4, -r}, {r * 0.4, -r * 0.4}, {r, -r * 0.4},
                         {r, r * 0.4}, {r * 0.4, r * 0.4}, {r * 0.4, r}, {-r * 0.4, r}, {-r * 0.4, r * 0.4}, {-r, r * 0.4}});
            break;
    default: {  // star (the dense model)
      std::vector<std::pair<double, double>> pts;
      for (int k = 0; k < 10; ++k) {
        double a = -std::numbers::pi / 2 + k * std::numbers::pi / 5, rr = (k % 2 ? 0.45 : 1.0) * r * 1.6;
        pts.push_back({rr * std::cos(a), rr * std::sin(a)});
      }
      open = poly(pts);
    }
  }
  if (tip.empty()) return open + "/>\n";
  return fmt::format("{}><title>{}</title></{}>\n", open, xml(tip), tag);
}

struct Pt {
  double x, y;
  std::string tip;
};

struct Series {
  std::string method;
  Style style;
  std::vector<Pt> pts;
};

// The quantity on the y axis: perplexity, else STS-B Spearman, else the held-out calibration loss.
struct YKey {
  const char* key;
  const char* label;
  bool eval;  // ppl or Spearman (an --eval file)
};

YKey y_key(const std::vector<const Member*>& cand, const json& d) {
  auto all_have = [&](const char* k) {
    bool all = num(d, k).has_value() || !cand.empty();
    for (const Member* m : cand) all &= num(*m->j, k).has_value();
    return all;
  };
  if (all_have("ppl")) return {"ppl", "perplexity", true};
  if (all_have("spearman")) return {"spearman", "STS-B Spearman", true};
  return {"calib_loss", "calibration loss", false};
}

// One series per method, known methods in a fixed order, then the rest as they came; points in
// speedup order. A distilled member (--distill-tokens) is two points: "<method> + KD" (as written)
// and "<method> before KD" (its one-shot model, hollow), each at its own measured speedup.
std::vector<Series> plot_series(const std::vector<const Member*>& cand, const YKey& y) {
  std::vector<Series> series;
  int next_unknown = 0;
  auto add = [&](const Member& m, const std::string& name, bool hollow, std::optional<double> x, std::optional<double> v) {
    if (!x || !v || *x <= 0) return;
    auto it = std::find_if(series.begin(), series.end(), [&](const Series& s) { return s.method == name; });
    if (it == series.end()) {
      Style st = style_for(m.method, next_unknown);
      st.hollow = hollow, st.order += hollow;
      series.push_back({name, st, {}});
      it = series.end() - 1;
    }
    it->pts.push_back({*x, *v, fmt::format("{}, target {}: measured {:.2f}×, {} {:.4g}", name, fx(m.target, 2, "×"), *x, y.label, *v)});
  };
  for (const Member* m : cand) {
    const json& before = sub(sub(*m->j, "distill"), "before");
    const json& after = sub(sub(*m->j, "distill"), "after");
    if (after.is_object() && !after.empty()) {
      auto or_member = [&](const char* k) { return num(after, k) ? num(after, k) : num(*m->j, k); };
      add(*m, m->method + " + KD", false, or_member("measured_speedup"), or_member(y.key));
      add(*m, m->method + " before KD", true, num(before, "measured_speedup"), num(before, y.key));
    } else {
      add(*m, m->method, false, num(*m->j, "measured_speedup"), num(*m->j, y.key));
    }
  }
  std::sort(series.begin(), series.end(), [](const Series& a, const Series& b) { return a.style.order < b.style.order; });
  for (auto& s : series)
    std::stable_sort(s.pts.begin(), s.pts.end(), [](const Pt& a, const Pt& b) { return a.x < b.x; });
  return series;
}

// The plot's geometry: axes over every point (and the dense one at x = 1).
struct Plot {
  static constexpr double W = 800, H = 480, L = 80, T = 64, PW = 480, PH = 340, LX = L + PW + 24;
  Axis ax, ay;
  size_t n_pts = 0;
  double px(double x) const { return L + ax.frac(x) * PW; }
  double py(double y) const { return T + (1 - ay.frac(y)) * PH; }
};

Plot make_plot(const std::vector<Series>& series, std::optional<double> dense_y) {
  Plot p;
  double xlo = 1.0, xhi = 1.0, ylo = INFINITY, yhi = -INFINITY;
  auto take = [&](double x, double y) {
    xlo = std::min(xlo, x), xhi = std::max(xhi, x), ylo = std::min(ylo, y), yhi = std::max(yhi, y);
  };
  for (const auto& s : series)
    for (const auto& pt : s.pts) take(pt.x, pt.y), ++p.n_pts;
  if (dense_y) take(1.0, *dense_y);
  bool have = std::isfinite(ylo);
  if (!have) ylo = 0, yhi = 1;
  p.ax = linear_axis(xlo, xhi);
  p.ay = (have && ylo > 0 && yhi / ylo > 10) ? log_axis(ylo, yhi) : linear_axis(ylo, yhi);
  return p;
}

// Title, grid, ticks and axis labels.
void svg_frame(std::string& o, const Plot& p, const json& r, const YKey& y, bool empty) {
  const double W = Plot::W, H = Plot::H, L = Plot::L, T = Plot::T, PW = Plot::PW, PH = Plot::PH;
  o += fmt::format("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
                   "viewBox=\"0 0 {0} {1}\" font-family=\"Helvetica, Arial, sans-serif\">\n",
                   W, H);
  o += fmt::format("<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n", W, H);
  std::string model = str(r, "model").value_or(kDash), env = str(r, "env").value_or(kDash);
  o += fmt::format("<text x=\"{}\" y=\"24\" font-size=\"15\" font-weight=\"bold\" "
                   "text-anchor=\"middle\">{}</text>\n",
                   W / 2, xml(clip(fmt::format("{}: {} vs measured speedup", model, y.label), 90)));
  std::string sub_title = env;
  if (y.eval)
    if (auto f = str(sub(r, "dense"), "eval_file")) sub_title += (std::string(y.key) == "ppl" ? "; ppl on " : "; Spearman on ") + *f;
  o += fmt::format("<text x=\"{}\" y=\"44\" font-size=\"12\" fill=\"#555555\" "
                   "text-anchor=\"middle\">{}</text>\n",
                   W / 2, xml(clip(sub_title, 110)));
  o += "<g class=\"grid\" stroke=\"#e0e0e0\" stroke-width=\"1\">\n";
  for (double t : p.ax.ticks)
    o += fmt::format("<line x1=\"{0:.2f}\" y1=\"{1}\" x2=\"{0:.2f}\" y2=\"{2}\"/>\n", p.px(t), T, T + PH);
  for (double t : p.ay.ticks)
    o += fmt::format("<line x1=\"{1}\" y1=\"{0:.2f}\" x2=\"{2}\" y2=\"{0:.2f}\"/>\n", p.py(t), L, L + PW);
  o += "</g>\n";
  o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" "
                   "stroke=\"#333333\" stroke-width=\"1\"/>\n", L, T, PW, PH);
  o += "<g class=\"ticks\" font-size=\"11\" fill=\"#333333\">\n";
  for (double t : p.ax.ticks)
    o += fmt::format("<text x=\"{:.2f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", p.px(t),
                     T + PH + 16, xml(p.ax.label(t)));
  for (double t : p.ay.ticks)
    o += fmt::format("<text x=\"{}\" y=\"{:.2f}\" text-anchor=\"end\">{}</text>\n", L - 6,
                     p.py(t) + 4, xml(p.ay.label(t)));
  o += "</g>\n";
  o += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"13\" text-anchor=\"middle\">measured "
                   "speedup (×)</text>\n", L + PW / 2, T + PH + 40);
  o += fmt::format("<text x=\"{0}\" y=\"{1}\" font-size=\"13\" text-anchor=\"middle\" "
                   "transform=\"rotate(-90 {0} {1})\">{2}{3}</text>\n",
                   L - 52, T + PH / 2, y.label, p.ay.log ? " (log scale)" : "");
  if (empty)
    o += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"13\" fill=\"#888888\" "
                     "text-anchor=\"middle\">no measured points</text>\n", L + PW / 2, T + PH / 2);
}

// Series (a line through the points in speedup order, then the markers on top), the dense
// star, the legend.
void svg_points(std::string& o, const Plot& p, const std::vector<Series>& series, std::optional<double> dense_y,
                const YKey& y) {
  for (const auto& s : series) {
    o += fmt::format("<g class=\"series\" data-method=\"{}\">\n", xml(s.method));
    if (s.pts.size() > 1) {
      std::string pts;
      for (const auto& pt : s.pts) pts += fmt::format("{}{:.2f},{:.2f}", pts.empty() ? "" : " ", p.px(pt.x), p.py(pt.y));
      o += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"{}/>\n",
                       pts, s.style.color, s.style.hollow ? " stroke-dasharray=\"4 3\"" : "");
    }
    for (const auto& pt : s.pts) o += marker(s.style.shape, p.px(pt.x), p.py(pt.y), s.style.color, "pt", pt.tip, s.style.hollow);
    o += "</g>\n";
  }
  if (dense_y)
    o += marker(6, p.px(1.0), p.py(*dense_y), "#000000", "dense", fmt::format("dense: 1.00×, {} {:.4g}", y.label, *dense_y));
  o += "<g class=\"legend\" font-size=\"12\">\n";
  double ly = Plot::T + 10;
  for (const auto& s : series) {
    o += marker(s.style.shape, Plot::LX + 8, ly, s.style.color, "legend-marker", "", s.style.hollow);
    o += fmt::format("<text x=\"{}\" y=\"{:.2f}\">{}</text>\n", Plot::LX + 20, ly + 4, xml(clip(s.method, 30)));
    ly += 20;
  }
  if (dense_y) {
    o += marker(6, Plot::LX + 8, ly, "#000000", "legend-marker", "");
    o += fmt::format("<text x=\"{}\" y=\"{:.2f}\">dense</text>\n", Plot::LX + 20, ly + 4);
  }
  o += "</g>\n</svg>\n";
}

}  // namespace

std::string render_report_svg(const json& r) {
  ZIP_CHECK(r.is_object(), "report: expected a JSON object, got {}", r.type_name());
  auto ms = members_of(r);
  // Plotted members: feasible, with a measured speedup. ppl only if every one of them has it.
  std::vector<const Member*> cand;
  for (const auto& m : ms)
    if (m.feasible) {
      auto x = num(*m.j, "measured_speedup");
      if (x && *x > 0) cand.push_back(&m);
    }
  const json& d = sub(r, "dense");
  const YKey y = y_key(cand, d);
  const std::vector<Series> series = plot_series(cand, y);
  const auto dense_y = num(d, y.key);
  const Plot p = make_plot(series, dense_y);
  std::string o = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  svg_frame(o, p, r, y, p.n_pts == 0 && !dense_y);
  svg_points(o, p, series, dense_y, y);
  return o;
}

}  // namespace zip