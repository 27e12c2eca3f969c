// The pass registry (API §9, DESIGN decision 10): every graph transform and every analysis is
// registered by name with a one-line summary, and a pipeline is a list of names, so a pass
// written outside the library joins the pipeline by name (PHIJIT_PASSES or set_pipeline).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ir/graph.h"

namespace phijit::passes {

// A transform returns the new graph; an analysis returns its result as text and leaves the
// graph as it is (phijit-opt prints it).
using PassFunction = std::function<ir::Graph(const ir::Graph&)>;
using AnalysisFunction = std::function<std::string(const ir::Graph&)>;

struct RegisteredPass {
  std::string name;
  std::string summary;
  PassFunction transform;     // set for a transform
  AnalysisFunction analysis;  // set for an analysis
  bool is_analysis() const { return static_cast<bool>(analysis); }
};

// Registers a transform or an analysis. Names are lowercase words joined by '_' or '-'; a name
// that is taken is an Error (passes are never replaced behind the pipeline's back).
void register_pass(const std::string& name, const std::string& summary, PassFunction transform);
void register_analysis(const std::string& name, const std::string& summary, AnalysisFunction analysis);

// The registered entry named `name`; an Error listing the registered names otherwise.
RegisteredPass find_pass(std::string_view name);
// Every registered pass and analysis, in order of name.
std::vector<RegisteredPass> registered_passes();

// "a,b,c" → {"a", "b", "c"}, each a registered name (an Error naming the unknown one).
std::vector<std::string> parse_pass_list(std::string_view names);

// The passes every compiled program runs before scheduling, cycled until none changes the graph:
// the list given to set_pipeline, else PHIJIT_PASSES, else default_pipeline().
std::vector<std::string> default_pipeline();
std::vector<std::string> pipeline();
// Sets the pipeline for programs compiled from now on (those compiled before keep their code);
// every name must be a registered transform. An empty list goes back to PHIJIT_PASSES/default.
void set_pipeline(std::vector<std::string> names);

// Runs the named passes once each, in order. `after_each(name, graph, text)` sees the graph
// after every step, and an analysis's result as `text` (empty for transforms).
using PassObserver = std::function<void(const RegisteredPass&, const ir::Graph&, const std::string&)>;
ir::Graph run_passes(const ir::Graph& g, const std::vector<std::string>& names,
                     const PassObserver& after_each = {});

}  // namespace phijit::passes
