#include "ingest/resume.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "capture/sha256.h"
#include "util/unique_fd.h"

namespace capdb {

namespace {

// The offset just past a committed prefix that ends with record last.
std::uint64_t prefix_end(const SourceHeader& header, const RecordRef& last) noexcept {
    return static_cast<std::uint64_t>(last.offset) + record_read_size(header, last.stored.caplen);
}

}  // namespace

std::optional<std::string> sha256_prefix(const std::string& path, std::uint64_t n) {
    const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    struct stat st {};
    if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
    Sha256 hash;
    std::vector<unsigned char> buf(1 << 20);
    std::uint64_t done = 0;
    while (done < n) {
        const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), n - done));
        const ssize_t got = ::pread(fd.get(), buf.data(), want, static_cast<off_t>(done));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return std::nullopt;  // an error, or the file is shorter
        hash.update(buf.data(), static_cast<std::size_t>(got));
        done += static_cast<std::uint64_t>(got);
    }
    return hash.hex();
}

std::optional<CommittedPrefix> committed_prefix(const std::string& path, CaptureId capture, const RecordRef& last) {
    if (last.offset < 0) return std::nullopt;
    try {
        SourceFile file(RecordedFile{capture, path, std::nullopt, std::nullopt, std::nullopt});
        (void)file.read(last.seq, last.offset, last.stored);  // throws unless it is the record stored
        const std::uint64_t end = prefix_end(file.header(), last);
        auto sha = sha256_prefix(path, end);
        if (!sha) return std::nullopt;
        return CommittedPrefix{end, std::move(*sha)};
    } catch (const Error&) {
        return std::nullopt;
    }
}

bool continues(const ResumePoint& p, const std::string& path, const OfflineReader& reader) {
    const CaptureMeta& m = p.capture.meta;
    if (p.capture.counts.packets == 0 || reader.is_stdin() || reader.file_size() < p.bytes) return false;
    if (reader.linktype() != m.linktype || reader.snaplen() != m.snaplen) return false;
    if (m.ts_precision && reader.ts_precision() != 0 && reader.ts_precision() != *m.ts_precision) return false;
    const auto sha = sha256_prefix(path, p.bytes);
    return sha && *sha == p.sha256;
}

SkipResult skip_committed(OfflineReader& reader, const ResumePoint& p, const std::string& path, RecordRef& last) {
    const SourceFile file(RecordedFile{p.capture.id, path, std::nullopt, std::nullopt, std::nullopt});
    RawPacket raw;
    std::int64_t previous = -1;
    for (std::uint64_t seq = 0; seq < p.capture.counts.packets; ++seq) {
        if (!reader.next(raw)) return reader.interrupted() ? SkipResult::interrupted : SkipResult::mismatch;
        if (raw.file_offset <= previous || static_cast<std::uint64_t>(raw.file_offset) >= p.bytes)
            return SkipResult::mismatch;
        previous = raw.file_offset;
        last = {seq, raw.file_offset, {raw.ts_ns, raw.caplen, raw.wirelen, raw.time_invalid}};
    }
    return prefix_end(file.header(), last) == p.bytes ? SkipResult::done : SkipResult::mismatch;
}

}  // namespace capdb
