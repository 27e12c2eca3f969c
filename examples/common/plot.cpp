#include "common/plot.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

namespace examples {

std::string picture_dir(const std::string& example) {
  std::filesystem::path dir = std::filesystem::absolute("phijit-pictures") / example;
  std::filesystem::create_directories(dir);
  return dir.string();
}

namespace {
// gnuplot reads titles in double quotes; a quote or backslash in them would end the string.
std::string gnuplot_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}
}  // namespace

bool plot_lines(const std::string& png_path, const std::string& title, const std::string& x_label,
                const std::string& y_label, const std::vector<Series>& series, bool log_y) {
  // One data block per series (blocks are separated by two blank lines; `index k` selects one).
  std::string data_path = png_path + ".dat";
  {
    std::ofstream data(data_path);
    for (const Series& s : series) {
      for (size_t i = 0; i < s.values.size(); ++i) data << i << ' ' << s.values[i] << '\n';
      data << "\n\n";
    }
  }
  FILE* gnuplot = popen("gnuplot 2>&1", "w");
  if (gnuplot == nullptr) {
    std::cerr << "plot skipped: cannot start gnuplot (install gnuplot-nox)\n";
    return false;
  }
  std::string script = "set terminal pngcairo size 900,600\nset output " + gnuplot_string(png_path) +
                       "\nset title " + gnuplot_string(title) + "\nset xlabel " + gnuplot_string(x_label) +
                       "\nset ylabel " + gnuplot_string(y_label) + "\nset grid\n" +
                       (log_y ? "set logscale y\nset format y \"%.0e\"\n" : "") + "plot ";
  for (size_t k = 0; k < series.size(); ++k) {
    script += (k > 0 ? ", " : "") + gnuplot_string(data_path) + " index " + std::to_string(k) +
              " using 1:2 with lines linewidth 2 title " + gnuplot_string(series[k].title);
  }
  script += "\n";
  std::fputs(script.c_str(), gnuplot);
  int status = pclose(gnuplot);
  if (status != 0) {
    std::cerr << "plot skipped: gnuplot failed (exit status " << status << ") on " << png_path << "\n";
    return false;
  }
  std::filesystem::remove(data_path);
  return true;
}

}  // namespace examples
