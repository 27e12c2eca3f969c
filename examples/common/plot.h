// What the examples share for showing their results: a folder for their pictures, and line
// plots (loss curves, residual histories) drawn by gnuplot from the numbers they computed.
#pragma once

#include <string>
#include <vector>

namespace examples {

// ./phijit-pictures/<example>, created if need be; its absolute path.
std::string picture_dir(const std::string& example);

struct Series {
  std::string title;
  std::vector<double> values;  // plotted against 0, 1, 2, ...
};

// The series as lines in a PNG made by gnuplot (Debian's gnuplot-nox), with a logarithmic y axis
// when `log_y`. Returns false, after saying why on stderr, when gnuplot is missing or fails: the
// plot is an extra, the example goes on.
bool plot_lines(const std::string& png_path, const std::string& title, const std::string& x_label,
                const std::string& y_label, const std::vector<Series>& series, bool log_y);

}  // namespace examples
