// Shared by the fuzz targets: a failed invariant prints what broke and
// aborts, so that libFuzzer (or the replay runner) reports the input.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace capdb::fuzz {

inline void check(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
    std::abort();
}

}  // namespace capdb::fuzz
