#include "stats/spill.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "capdb/error.h"

namespace capdb::stats {

SpillFile::~SpillFile() {
    if (fd_ >= 0) ::close(fd_);
}

void SpillFile::open() {
    const char* env = std::getenv("TMPDIR");
    dir_ = env && *env ? env : "/tmp";
    std::string name = dir_ + "/capdb-spill-XXXXXX";
    fd_ = ::mkstemp(name.data());
    if (fd_ < 0)
        throw InputError(
            fmt::format("cannot make a temporary file in '{}' (TMPDIR): {}", printable(dir_), std::strerror(errno)));
    ::unlink(name.c_str());
}

std::uint64_t SpillFile::append(const void* data, std::size_t bytes) {
    if (fd_ < 0) open();
    const std::uint64_t at = size_;
    const auto* p = static_cast<const char*>(data);
    std::size_t left = bytes;
    while (left > 0) {
        const ssize_t n = ::pwrite(fd_, p, left, static_cast<off_t>(size_));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            throw InputError(fmt::format("cannot write a temporary file in '{}' (TMPDIR): {}", printable(dir_),
                                         std::strerror(n < 0 ? errno : ENOSPC)));
        p += n;
        left -= static_cast<std::size_t>(n);
        size_ += static_cast<std::uint64_t>(n);
    }
    return at;
}

void SpillFile::read_at(std::uint64_t offset, void* data, std::size_t bytes) const {
    auto* p = static_cast<char*>(data);
    while (bytes > 0) {
        const ssize_t n = ::pread(fd_, p, bytes, static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            throw InputError(fmt::format("cannot read back a temporary file in '{}' (TMPDIR): {}", printable(dir_),
                                         n < 0 ? std::strerror(errno) : "it is shorter than written"));
        p += n;
        bytes -= static_cast<std::size_t>(n);
        offset += static_cast<std::uint64_t>(n);
    }
}

}  // namespace capdb::stats
