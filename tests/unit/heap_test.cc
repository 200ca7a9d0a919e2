// prefer_huge_heap_pages: after it, allocations start on a huge-page
// boundary, in a mapping marked for transparent huge pages.
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "capdb/heap.h"

#if defined(__SANITIZE_ADDRESS__)
#define CAPDB_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CAPDB_SANITIZED 1
#endif
#endif

namespace {

std::uintptr_t huge_page_size() {
    std::ifstream in("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size");
    std::uintptr_t size = 0;
    in >> size;
    return size;
}

// The VmFlags line of the mapping that holds address a ("" if none does).
std::string vm_flags_of(std::uintptr_t a) {
    std::ifstream smaps("/proc/self/smaps");
    std::string line;
    bool inside = false;
    while (std::getline(smaps, line)) {
        std::uintptr_t lo = 0, hi = 0;
        char dash = 0;
        std::istringstream head(line);
        if (head >> std::hex >> lo >> dash >> hi && dash == '-') {  // "lo-hi perms offset ..." 
            inside = lo <= a && a < hi;
            continue;
        }
        if (inside && line.rfind("VmFlags:", 0) == 0) return line;
    }
    return "";
}

TEST(Heap, AllocationsStartOnAHugePage) {
#ifdef CAPDB_SANITIZED
    GTEST_SKIP() << "the sanitizer's allocator is not glibc's heap";
#else
    const std::uintptr_t huge = huge_page_size();
    if (huge == 0) GTEST_SKIP() << "this kernel has no transparent huge pages";
    ASSERT_TRUE(capdb::prefer_huge_heap_pages());
    // Larger than any chunk freed so far: it comes from the top of the heap,
    // which now begins on the boundary (the chunk header is 16 bytes).
    void* p = std::malloc(300 << 10);
    ASSERT_NE(p, nullptr);
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    EXPECT_EQ((a - 16) % huge, 0u) << std::hex << a;
    const std::string flags = vm_flags_of(a);
    EXPECT_NE(flags.find(" hg"), std::string::npos) << flags;
    // The memory is usable, all of it.
    auto* bytes = static_cast<unsigned char*>(p);
    for (std::size_t i = 0; i < (300 << 10); i += 4096) bytes[i] = static_cast<unsigned char>(i);
    EXPECT_EQ(bytes[4096], static_cast<unsigned char>(4096 & 0xff));
    std::free(p);
#endif
}

}  // namespace
