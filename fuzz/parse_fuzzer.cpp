// libFuzzer target of the textual IR's parser (ir/parser.h; how to build and run it: README.md).
// Bad input must end in a phijit::Error (a ParseError, in practice); anything else — another
// exception, a crash, a sanitizer report, a hang, memory beyond -rss_limit_mb — is a finding.
// Text that parses must also print and read back to the same text: the round trip the tests
// check on random graphs, here on whatever the fuzzer makes up.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "ir/error.h"
#include "ir/parser.h"

namespace {

using phijit::Buffer;
using phijit::DType;

// Buffers for `data=@name`, so that constants by reference are read too: c0 (float64 × 100),
// c1 (float32 × 65), c2 (int64 × 200), c3 (bool × 70), c4 (int32 × 1000). The corpus uses them.
const phijit::ir::ConstantTable& constants() {
  static const phijit::ir::ConstantTable table = [] {
    phijit::ir::ConstantTable t;
    auto add = [&t](const char* name, DType dtype, int64_t count) {
      auto b = std::make_shared<Buffer>(dtype, count);
      for (int64_t i = 0; i < count; ++i) b->set_real(i, static_cast<double>(i % 7) - 3.5);
      t.emplace(name, std::move(b));
    };
    add("c0", DType::f64, 100);
    add("c1", DType::f32, 65);
    add("c2", DType::i64, 200);
    add("c3", DType::boolean, 70);
    add("c4", DType::i32, 1000);
    return t;
  }();
  return table;
}

[[noreturn]] void finding(const char* what, const std::string& detail) {
  std::fprintf(stderr, "parse_fuzzer: %s\n%s\n", what, detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  phijit::ir::Graph g;
  try {
    g = phijit::ir::parse(text, &constants());
  } catch (const phijit::Error&) {
    return 0;  // the expected outcome of bad input; other exceptions escape and are findings
  }
  const std::string printed = phijit::ir::print(g);
  const phijit::ir::ConstantTable refs = phijit::ir::referenced_constants(g);
  std::string again;
  try {
    again = phijit::ir::print(phijit::ir::parse(printed, &refs));
  } catch (const phijit::Error& e) {
    finding("the printed form of a parsed graph does not parse", std::string(e.what()) + "\n" + printed);
  }
  if (again != printed) finding("print(parse(print(g))) != print(g)", printed + "---\n" + again);
  // The key of compiled code is printed from the same graphs.
  (void)phijit::ir::print(g, /*constant_values=*/false);
  return 0;
}
