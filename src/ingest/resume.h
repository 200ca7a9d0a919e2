// Resuming a file capture that stopped early, when its file has grown (see
// DESIGN.md, "Resuming a grown file"). Ingest only; reads files through
// OfflineReader's public interface and SourceFile.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "capdb/capture.h"
#include "capdb/source_file.h"
#include "capdb/store.h"

namespace capdb {

// A packet read from a file, as much as is needed to find its record again.
struct RecordRef {
    std::uint64_t seq = 0;     // 0-based
    std::int64_t offset = -1;  // of its record; -1 unknown
    StoredRecord stored;
};

// The first `bytes` bytes of a file, up to the end of the data of the last
// committed packet's record (its offset, plus its record header and caplen).
struct CommittedPrefix {
    std::uint64_t bytes = 0;
    std::string sha256;  // hex
};

// The committed prefix of the regular file at path after an ingest (of
// capture) stopped with `last` as its last committed packet: the record at
// last.offset is checked to be the one stored (so that the bytes hashed are
// the ones that were read), then the prefix is hashed. nullopt when it cannot
// be established: no packet, no offset, a file that changed or cannot be read.
std::optional<CommittedPrefix> committed_prefix(const std::string& path, CaptureId capture, const RecordRef& last);

// SHA-256 (hex) of the first n bytes of the regular file at path; nullopt when
// it is shorter or cannot be read.
std::optional<std::string> sha256_prefix(const std::string& path, std::uint64_t n);

// Whether the file at path, opened by reader, continues the stopped capture
// of p: the same link type, snaplen and precision, at least p.bytes long, and
// its first p.bytes bytes have SHA-256 p.sha256.
bool continues(const ResumePoint& p, const std::string& path, const OfflineReader& reader);

enum class SkipResult { done, interrupted, mismatch };

// Reads and discards, from a reader at the start of the file at path, the
// p.capture.counts.packets packets p committed, checking their offsets: each
// after the one before and inside the prefix, the last one's data ending it.
// last is set to the last of them. mismatch: the file does not hold them as
// recorded (it changed after continues() said yes).
SkipResult skip_committed(OfflineReader& reader, const ResumePoint& p, const std::string& path, RecordRef& last);

}  // namespace capdb
