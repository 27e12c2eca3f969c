// phijit-opt: reads textual IR (ir/parser.h), runs named passes and analyses from the registry
// (passes/registry.h) and prints the result, for people who write and test passes:
//
//   phijit-opt --passes=fold_constants,cse,autodiff file.phir   # the graph after the passes
//   phijit-opt --pipeline file.phir                             # what compiled programs run
//   phijit-opt --passes=schedule file.phir                      # an analysis prints its result
//   phijit-opt --load=./libmy_pass.so --passes=my_pass file.phir
//   phijit-opt --list-passes
//
// The input is a file, or standard input for "-" or no file. An analysis's result is printed
// where it runs, under a `// <name>` line; the graph is printed last. Errors go to standard
// error as `file:line:column: message` and the exit status is 1.
#include <dlfcn.h>
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "ir/error.h"
#include "ir/parser.h"
#include "passes/pipeline.h"
#include "passes/registry.h"

namespace {

using namespace phijit;

constexpr const char* kUsage =
    "usage: phijit-opt [--passes=a,b,...] [--pipeline] [--print-after-each] [--load=plugin.so]... [file.phir|-]\n"
    "       phijit-opt --list-passes\n"
    "Reads textual IR, runs the named passes and analyses in order (--pipeline: the compiled programs'\n"
    "pipeline, cycled until nothing changes) and prints the resulting graph. A plugin registers its\n"
    "passes when it is loaded (phijit::passes::register_pass in a static initializer).\n";

struct Options {
  std::string passes;  // comma-separated, checked once the plugins are loaded
  bool pipeline = false;
  bool list = false;
  bool print_after_each = false;
  std::vector<std::string> plugins;
  std::string file = "-";
};

[[noreturn]] void usage_error(const std::string& message) {
  fmt::print(stderr, "phijit-opt: {}\n{}", message, kUsage);
  std::exit(2);
}

Options parse_options(int argc, char** argv) {
  Options o;
  bool have_file = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value_of = [&](std::string_view flag) -> std::optional<std::string> {
      if (arg.rfind(flag, 0) != 0) return std::nullopt;
      return arg.substr(flag.size());
    };
    if (arg == "--help" || arg == "-h") {
      fmt::print("{}", kUsage);
      std::exit(0);
    } else if (arg == "--list-passes") {
      o.list = true;
    } else if (arg == "--pipeline") {
      o.pipeline = true;
    } else if (arg == "--print-after-each") {
      o.print_after_each = true;
    } else if (auto v = value_of("--passes=")) {
      o.passes = *v;
    } else if (auto v = value_of("--load=")) {
      o.plugins.push_back(*v);
    } else if (arg.size() > 1 && arg[0] == '-') {
      usage_error(fmt::format("unknown option '{}'", arg));
    } else if (have_file) {
      usage_error(fmt::format("one input file, got '{}' and '{}'", o.file, arg));
    } else {
      o.file = arg;
      have_file = true;
    }
  }
  if (o.pipeline && !o.passes.empty()) usage_error("--pipeline and --passes exclude each other");
  return o;
}

void load_plugin(const std::string& path) {
  // The plugin's passes refer to this executable's registry (it exports its symbols).
  if (dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
    throw Error(fmt::format("cannot load the plugin '{}': {}", path, dlerror()));
  }
}

std::string read_input(const std::string& file) {
  std::stringstream text;
  if (file == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in(file);
    if (!in) throw Error(fmt::format("cannot read '{}'", file));
    text << in.rdbuf();
  }
  return text.str();
}

int run(const Options& o) {
  for (const std::string& plugin : o.plugins) load_plugin(plugin);
  if (o.list) {
    for (const passes::RegisteredPass& p : passes::registered_passes()) {
      fmt::print("{:<22} {}{}\n", p.name, p.is_analysis() ? "(analysis) " : "", p.summary);
    }
    return 0;
  }
  std::vector<std::string> names = passes::parse_pass_list(o.passes);
  std::string text = read_input(o.file);
  ir::Graph g;
  try {
    g = ir::parse(text);
  } catch (const ParseError& e) {
    // file:line:column: message, as compilers write it.
    fmt::print(stderr, "{}:{}\n", o.file == "-" ? "<stdin>" : o.file, e.what());
    return 1;
  }
  if (o.pipeline) {
    g = passes::run_pipeline(g);
  } else {
    g = passes::run_passes(g, names, [&](const passes::RegisteredPass& p, const ir::Graph& now, const std::string& out) {
      if (p.is_analysis()) {
        fmt::print("// {}\n{}", p.name, out);
      } else if (o.print_after_each) {
        fmt::print("// after {}\n{}", p.name, ir::print(now));
      }
    });
  }
  fmt::print("{}", ir::print(g));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options = parse_options(argc, argv);
  try {
    return run(options);
  } catch (const std::exception& e) {
    fmt::print(stderr, "phijit-opt: {}\n", e.what());
  }
  return 1;
}
