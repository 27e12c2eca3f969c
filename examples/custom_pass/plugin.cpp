// square_pow as a plugin of phijit-opt: `phijit-opt --load=libcustom_pass_plugin.so
// --passes=square_pow file.phir`. Loading it registers the pass.
#include "square_pow.h"

namespace {
const bool registered = (square_pow::register_pass(), true);
}  // namespace
