#include "passes/registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>

#include "ir/error.h"
#include "passes/autodiff.h"
#include "passes/eliminate_dead_code.h"
#include "passes/fold_constants.h"
#include "passes/linearize.h"
#include "passes/schedule.h"
#include "passes/simplify_algebra.h"

namespace phijit::passes {

namespace {

bool valid_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

// The gradient of output 0 with respect to every floating-point input.
ir::Graph gradient_of_all_inputs(const ir::Graph& g) {
  std::vector<int> wrt;
  for (size_t i = 0; i < g.inputs().size(); ++i) {
    if (is_float(g.type(g.inputs()[i]).dtype)) wrt.push_back(static_cast<int>(i));
  }
  return run_gradient(g, wrt);
}

class Registry {
 public:
  static Registry& instance() {
    static Registry registry;
    return registry;
  }

  void add(RegisteredPass entry) {
    if (!valid_name(entry.name)) {
      throw Error(fmt::format(
          "register_pass: '{}' is not a pass name; use lowercase letters, digits, '_' and '-'", entry.name));
    }
    if (!entry.transform && !entry.analysis) {
      throw Error(fmt::format("register_pass: the pass '{}' has no function", entry.name));
    }
    std::lock_guard lock(mutex_);
    if (passes_.count(entry.name) != 0) {
      throw Error(fmt::format("register_pass: a pass named '{}' is registered already ({})", entry.name,
                              passes_.at(entry.name).summary));
    }
    passes_.emplace(entry.name, std::move(entry));
  }

  RegisteredPass find(std::string_view name) const {
    std::lock_guard lock(mutex_);
    auto it = passes_.find(std::string(name));
    if (it == passes_.end()) {
      std::vector<std::string> names;
      for (const auto& [n, p] : passes_) names.push_back(n);
      throw Error(
          fmt::format("unknown pass '{}'; the registered passes are {}", name, fmt::join(names, ", ")));
    }
    return it->second;
  }

  std::vector<RegisteredPass> all() const {
    std::lock_guard lock(mutex_);
    std::vector<RegisteredPass> out;
    for (const auto& [n, p] : passes_) out.push_back(p);
    return out;
  }

  std::optional<std::vector<std::string>> chosen_pipeline() const {
    std::lock_guard lock(mutex_);
    return chosen_;
  }
  void choose_pipeline(std::optional<std::vector<std::string>> names) {
    std::lock_guard lock(mutex_);
    chosen_ = std::move(names);
  }

 private:
  Registry() {
    auto transform = [this](const char* name, const char* summary, PassFunction fn) {
      passes_.emplace(name, RegisteredPass{name, summary, std::move(fn), {}});
    };
    auto analysis = [this](const char* name, const char* summary, AnalysisFunction fn) {
      passes_.emplace(name, RegisteredPass{name, summary, {}, std::move(fn)});
    };
    transform("fold_constants", "elementwise ops on scalar constants become constants", run_fold_constants);
    transform("simplify_algebra", "IEEE-exact identities: x*1, x/1, x-(+0), --x, no-op layout ops",
              run_simplify_algebra);
    transform("eliminate_dead_code", "drops nodes no output depends on", run_eliminate_dead_code);
    transform("cse", "merges structurally equal nodes", run_cse);
    transform("autodiff", "appends the gradient of output 0 with respect to every float input",
              gradient_of_all_inputs);
    analysis("linearize", "the sparse form of a function affine in input 0 (its stencil terms and bias)",
             [](const ir::Graph& g) { return str(run_linearize(g)); });
    analysis("schedule", "the fused kernels, what each loads, and the buffers that are stored",
             [](const ir::Graph& g) { return str(run_schedule(g), g); });
  }

  mutable std::mutex mutex_;
  std::map<std::string, RegisteredPass, std::less<>> passes_;
  std::optional<std::vector<std::string>> chosen_;
};

std::vector<std::string> checked_transforms(std::vector<std::string> names, std::string_view where) {
  for (const std::string& name : names) {
    if (find_pass(name).is_analysis()) {
      throw Error(fmt::format("{}: '{}' is an analysis; a pipeline holds transforms only", where, name));
    }
  }
  return names;
}

}  // namespace

void register_pass(const std::string& name, const std::string& summary, PassFunction transform) {
  Registry::instance().add({name, summary, std::move(transform), {}});
}

void register_analysis(const std::string& name, const std::string& summary, AnalysisFunction analysis) {
  Registry::instance().add({name, summary, {}, std::move(analysis)});
}

RegisteredPass find_pass(std::string_view name) { return Registry::instance().find(name); }

std::vector<RegisteredPass> registered_passes() { return Registry::instance().all(); }

std::vector<std::string> parse_pass_list(std::string_view names) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= names.size()) {
    size_t comma = names.find(',', start);
    std::string_view word = names.substr(start, comma == std::string_view::npos ? names.npos : comma - start);
    while (!word.empty() && word.front() == ' ') word.remove_prefix(1);
    while (!word.empty() && word.back() == ' ') word.remove_suffix(1);
    if (word.empty()) {
      if (comma == std::string_view::npos && out.empty()) break;  // "" is the empty list
      throw Error(fmt::format("pass list '{}': an empty name at position {}", names, start));
    }
    find_pass(word);  // throws for an unknown name
    out.emplace_back(word);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

std::vector<std::string> default_pipeline() {
  return {"fold_constants", "simplify_algebra", "eliminate_dead_code"};
}

std::vector<std::string> pipeline() {
  if (auto chosen = Registry::instance().chosen_pipeline()) return *chosen;
  if (const char* env = std::getenv("PHIJIT_PASSES"); env != nullptr && *env != '\0') {
    return checked_transforms(parse_pass_list(env), "PHIJIT_PASSES");
  }
  return default_pipeline();
}

void set_pipeline(std::vector<std::string> names) {
  if (names.empty()) {
    Registry::instance().choose_pipeline(std::nullopt);
    return;
  }
  for (const std::string& name : names) find_pass(name);
  Registry::instance().choose_pipeline(checked_transforms(std::move(names), "set_pipeline"));
}

ir::Graph run_passes(const ir::Graph& g, const std::vector<std::string>& names,
                     const PassObserver& after_each) {
  ir::Graph current = g;
  for (const std::string& name : names) {
    RegisteredPass pass = find_pass(name);
    std::string text;
    if (pass.is_analysis()) {
      text = pass.analysis(current);
    } else {
      ir::Graph next = pass.transform(current);
      try {
        ir::verify(next);
      } catch (const Error& e) {
        throw Error(fmt::format("pass '{}' returned a graph that does not verify: {}", name, e.what()));
      }
      current = std::move(next);
    }
    if (after_each) after_each(pass, current, text);
  }
  return current;
}

}  // namespace phijit::passes
