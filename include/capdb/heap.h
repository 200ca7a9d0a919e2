// Heap placement for short-lived commands.
#pragma once

#include <cstddef>

namespace capdb {

// Makes the next allocations of this process come from heap memory the
// kernel may back with a transparent huge page (2 MiB on x86-64).
//
// A query touches a few hundred KiB of fresh heap (page cache, decompression
// context, decoded pages). Each 4 KiB page touched for the first time is a
// page fault, and on virtual machines that virtualise page tables in
// software a fault costs over 10 us: 120 of them were a fifth of a query's
// run time. One huge page is one fault.
//
// glibc's malloc only: it grows the brk heap past a huge-page boundary,
// marks the part beyond it MADV_HUGEPAGE, and pads the heap up to the
// boundary so that the following allocations start on it. Where any step
// does not apply (another allocator, a sanitizer, transparent huge pages
// compiled out) it changes nothing. Returns whether the heap was prepared;
// whether the kernel then uses a huge page is up to it (THP "never", or no
// free 2 MiB of physical memory, means ordinary pages).
bool prefer_huge_heap_pages() noexcept;

}  // namespace capdb
