// Fuzz target: the packet store's segment file names, as recovery reads
// them from the store directory (every file there is judged by its name;
// a name that is not a segment's must never be taken for one).
//
// Oracle: a name is accepted only in its one canonical form (the name
// built from what was parsed is the input), with capture and n at least 1.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "store/packets/segment_store.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view name(reinterpret_cast<const char*>(data), size);
    if (const auto parsed = capdb::store::parse_segment_name(name)) {
        capdb::fuzz::check(capdb::store::segment_file_name(*parsed) == name, "a segment name is canonical");
        capdb::fuzz::check(parsed->capture >= 1 && parsed->n >= 1, "capture and segment number are positive");
    }
    return 0;
}
