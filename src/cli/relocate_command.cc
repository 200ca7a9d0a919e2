// 'capdb relocate ID PATH': points a file capture at its moved file, once
// the file is shown to be the one ingested (its size and SHA-256), so that
// query -w reads its packets there.
#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "capdb/capture.h"
#include "capdb/error.h"
#include "capdb/source_file.h"
#include "capdb/store.h"
#include "cli/cli.h"

namespace capdb::cli {
namespace {

constexpr std::int64_t kNsPerSec = 1'000'000'000;

struct stat stat_file(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        throw InputError(fmt::format("'{}': {}", printable(path), std::strerror(errno)));
    if (!S_ISREG(st.st_mode)) throw InputError(fmt::format("'{}': not a regular file", printable(path)));
    return st;
}

bool same_file_state(const struct stat& a, const struct stat& b) {
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_size == b.st_size &&
           a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

}  // namespace

int run_relocate(const RelocateArgs& a) {
    const std::string db_path = database_path(a.db);
    auto store = open_store(db_path, {.read_only = false, .create = false});
    const auto c = store->capture(a.id);
    if (!c)
        throw UsageError(fmt::format("no such capture {} in '{}' (see 'capdb captures')", a.id, printable(db_path)));
    if (c->meta.live || c->meta.source == "-" || !c->meta.file_size)
        throw UsageError(fmt::format("capture {} was {}: it has no file to relocate", a.id,
                                     c->meta.live ? "captured live" : "read from standard input"));
    if (c->sha256.empty())
        throw UsageError(fmt::format(
            "capture {} has no recorded SHA-256 (its ingest did not finish); ingest the file again instead", a.id));

    const struct stat before = stat_file(a.path);
    const auto size = static_cast<std::uint64_t>(before.st_size);
    const auto refuse = [&](const std::string& why) {
        return SourceError(
            fmt::format("capture {}: '{}' is not its file ({}); nothing changed", a.id, printable(a.path), why));
    };
    if (size != *c->meta.file_size) throw refuse(fmt::format("size {} bytes, expected {}", size, *c->meta.file_size));
    const std::string sha = sha256_file(a.path);
    if (!same_file_state(before, stat_file(a.path)))
        throw InputError(fmt::format("'{}' changed while it was hashed; nothing changed", printable(a.path)));
    if (sha != c->sha256) throw refuse(fmt::format("SHA-256 {}, expected {}", sha, c->sha256));

    char buf[PATH_MAX];
    const std::string source = ::realpath(a.path.c_str(), buf) ? std::string(buf) : a.path;
    store->relocate_capture(a.id, source, std::int64_t{before.st_mtim.tv_sec} * kNsPerSec + before.st_mtim.tv_nsec);
    std::fprintf(stderr, "capdb: capture %lld now reads its packets from '%s'\n", static_cast<long long>(a.id),
                 printable(source).c_str());
    return 0;
}

}  // namespace capdb::cli
