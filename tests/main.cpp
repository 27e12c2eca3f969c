// Catch2's test runner entry point, shared by every test binary.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

// Allocations that fail reach phijit as a null pointer outside the sanitizer; ASan's allocator
// aborts on them by default, so its out-of-memory Errors could not be tested there.
#if defined(__SANITIZE_ADDRESS__)
extern "C" const char* __asan_default_options() { return "allocator_may_return_null=1"; }
#endif
