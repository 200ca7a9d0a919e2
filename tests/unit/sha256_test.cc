#include "capture/sha256.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <new>

#include "capdb/capture.h"
#include "capdb/error.h"
#include "testutil.h"

// This test program replaces the global allocator so that a test can make
// large allocations fail: sha256_file must not leak its descriptor when
// something after the open() throws.
namespace {
bool g_fail_large_allocations = false;
constexpr std::size_t kLarge = 64 * 1024;
}  // namespace

void* operator new(std::size_t n) {
    if (g_fail_large_allocations && n >= kLarge) throw std::bad_alloc();
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace capdb {
namespace {

using testing::TempDir;

std::size_t open_descriptors() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
    return n;
}

TEST(Sha256, KnownDigests) {
    Sha256 empty;
    EXPECT_EQ(empty.hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    Sha256 abc;
    abc.update("abc", 3);
    EXPECT_EQ(abc.hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(abc.hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, FileDigestAndErrors) {
    TempDir dir;
    const std::string path = dir.file("abc");
    std::ofstream(path) << "abc";
    EXPECT_EQ(sha256_file(path), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_THROW((void)sha256_file(dir.file("missing")), InputError);
}

TEST(Sha256, NoDescriptorLeaksWhenSetUpThrows) {
    TempDir dir;
    const std::string path = dir.file("abc");
    std::ofstream(path) << "abc";
    const std::size_t before = open_descriptors();
    g_fail_large_allocations = true;
    EXPECT_THROW((void)sha256_file(path), std::bad_alloc);
    g_fail_large_allocations = false;
    EXPECT_EQ(open_descriptors(), before);
}

}  // namespace
}  // namespace capdb
