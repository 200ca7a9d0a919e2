#include "capdb/heap.h"

#include <cstdint>
#include <cstdlib>

#if defined(__GLIBC__) && defined(__linux__)
#include <fcntl.h>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>
#define CAPDB_GLIBC_HEAP 1
#endif

namespace capdb {

#ifdef CAPDB_GLIBC_HEAP
namespace {

// The kernel's transparent huge page size, or 0 when it has none.
std::uintptr_t huge_page_size() noexcept {
    const int fd = ::open("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char text[32];
    const ssize_t n = ::read(fd, text, sizeof text - 1);
    ::close(fd);
    if (n <= 0) return 0;
    text[n] = '\0';
    char* end = nullptr;
    const unsigned long long size = std::strtoull(text, &end, 10);
    // A power of two, and small enough to be worth it (arm64 with 64 KiB
    // base pages has 512 MiB huge pages).
    if (end == text || size < 4096 || size > (std::uintptr_t{32} << 20) || (size & (size - 1)) != 0) return 0;
    return static_cast<std::uintptr_t>(size);
}

std::uintptr_t address(const void* p) noexcept { return reinterpret_cast<std::uintptr_t>(p); }

}  // namespace
#endif

bool prefer_huge_heap_pages() noexcept {
#if defined(CAPDB_GLIBC_HEAP) && defined(MADV_HUGEPAGE)
    const std::uintptr_t huge = huge_page_size();
    if (huge == 0) return false;
    // Keep buffers up to several huge pages on the heap (by default those
    // over 128 KiB go to mmap, in 4 KiB pages), grow the heap in steps of
    // two huge pages, and do not give it back in small steps.
    if (mallopt(M_MMAP_THRESHOLD, static_cast<int>(8 * huge)) != 1 ||
        mallopt(M_TOP_PAD, static_cast<int>(2 * huge)) != 1 ||
        mallopt(M_TRIM_THRESHOLD, static_cast<int>(16 * huge)) != 1)
        return false;

    // One allocation larger than any free chunk comes from the top of the
    // heap, growing it: it says where the top begins, and spans two whole
    // huge-page windows that nothing has touched yet (malloc writes only
    // chunk headers, at its two ends). A window must be untouched when it is
    // marked: a page table already in place keeps it in 4 KiB pages.
    void* grow = std::malloc(3 * huge);
    if (grow == nullptr) return false;
    const std::uintptr_t start = address(grow);
    const std::uintptr_t end = address(::sbrk(0));
    const std::uintptr_t boundary = (start + huge - 1) & ~(huge - 1);
    // Not carved from the brk heap (an mmap'd arena, a sanitizer's allocator).
    const bool on_heap = start < end && end - start >= 3 * huge;
    const bool marked = on_heap && ::madvise(reinterpret_cast<void*>(boundary), 2 * huge, MADV_HUGEPAGE) == 0;
    std::free(grow);  // back into the top chunk
    if (!marked) return false;
    if (boundary == start) return true;

    // Fill the heap up to the boundary with one chunk that is never used,
    // so that the top chunk (where the next allocations come from) starts on
    // it. A chunk is its request plus an 8-byte header, in 16-byte steps,
    // and begins 16 bytes before the pointer malloc returns.
    void* pad = std::malloc(boundary - start + 8);
    if (pad != grow) {  // not from the top after all: leave the heap as it was
        std::free(pad);
        return false;
    }
    return true;
#else
    return false;
#endif
}

}  // namespace capdb
