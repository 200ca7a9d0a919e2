// The packet store's files (see DESIGN.md, "Packet store"): the directory
// beside the database, segment naming, writing segments through PcapWriter,
// the lock that keeps a prune from unlinking a segment an export reads, and
// recovery of segments after a crash. No SQLite: the store's catalogue of
// segments (the segments table) is kept by the caller.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "capdb/batch.h"
#include "capdb/error.h"
#include "capdb/pcap_writer.h"
#include "capdb/store.h"

namespace capdb::store {

// "<database path>.packets": the store directory of a database.
std::string packet_dir_of(const std::string& db_path);
// The lock file inside it.
std::string packet_lock_of(const std::string& dir);

// A segment's file name: "<capture id>-<n>.pcap" or ".pcapng", n from 1.
struct SegmentName {
    CaptureId capture = 0;
    std::uint32_t n = 0;
    SegmentFormat format = SegmentFormat::pcap;
};
std::string segment_file_name(const SegmentName& name);
// The inverse of segment_file_name(), for names exactly in that form
// (decimal without sign or leading zeros, capture >= 1, n >= 1); nullopt for
// anything else (the lock file, editors' leftovers).
std::optional<SegmentName> parse_segment_name(std::string_view file_name) noexcept;
const char* segment_format_name(SegmentFormat f) noexcept;

// Creates the store directory (mode 0700) and its lock file (0600) if they
// are missing. Throws DatabaseError naming the directory.
void ensure_packet_dir(const std::string& dir);

// flock() on the store's lock file, released on destruction.
class PacketLock final : public PacketReadHold {
public:
    enum class Mode { shared, exclusive };
    // Waits for the lock. nullptr when the store has no lock file (no
    // store yet: there is nothing to protect). Throws DatabaseError.
    static std::unique_ptr<PacketLock> acquire(const std::string& dir, Mode mode);
    // Without waiting: nullptr when another process holds it (or no store).
    static std::unique_ptr<PacketLock> try_exclusive(const std::string& dir);
    ~PacketLock() override;
    PacketLock(const PacketLock&) = delete;
    PacketLock& operator=(const PacketLock&) = delete;

private:
    explicit PacketLock(int fd) : fd_(fd) {}
    int fd_;
};

// The packet store's disk is full (ENOSPC, EDQUOT). A SegmentWriter that
// throws it from write() has cut the segment back to where it was before
// the block and may be asked to write the block again, once there is room.
struct DiskFullError : DatabaseError {
    explicit DiskFullError(const std::string& m) : DatabaseError(m) {}
};

// What a segment's header says: the format, and the one interface.
struct SegmentSpec {
    SegmentFormat format = SegmentFormat::pcap;
    std::uint32_t linktype = 1;      // DLT
    std::uint32_t snaplen = 262144;  // as the capture's
    std::uint32_t ts_precision = 9;  // 6 or 9 decimal digits
};

// Writes one capture's packets into its segments, a block at a time (the
// storage thread's). A block lies wholly in one segment; a new segment
// begins before a block when the current one holds rotate_bytes or more.
// Durability: sync() makes everything written durable (fdatasync), and is
// called before the transaction that commits the blocks; committed() then
// records that length as committed.
class SegmentWriter {
public:
    SegmentWriter(std::string dir, CaptureId capture, const SegmentSpec& spec, std::uint64_t rotate_bytes);
    ~SegmentWriter();
    SegmentWriter(const SegmentWriter&) = delete;
    SegmentWriter& operator=(const SegmentWriter&) = delete;

    struct Placement {
        bool new_segment = false;  // the block opened this segment
        std::string name;          // its file name
        std::uint64_t bytes = 0;   // the segment's length after the block
    };
    // Appends the block's packets (batches in file order, each packet with
    // its data kept) and sets each packet's file_offset to its record's
    // offset in the segment. Throws DatabaseError naming the segment and
    // leaves the segment as it was before the block; DiskFullError (the
    // message says the disk is full) leaves the writer usable, so that the
    // block can be written again once the caller has made room.
    Placement write(std::vector<PacketBatch>& block);
    // Makes everything written so far durable.
    void sync();
    // Everything written so far is committed.
    void committed() noexcept;
    // Cuts the current segment back to its committed length (removes it
    // when nothing in it was committed) and closes it: after a failed write
    // or commit. The writer writes nothing more.
    void discard_uncommitted() noexcept;

private:
    void open_next();
    void close_current();
    // After a failed write: the current segment cut back to length, where
    // the next write goes. False when that fails.
    bool cut_back(std::uint64_t length) noexcept;
    [[noreturn]] void fail_write(int err, const std::string& what);

    std::string dir_;
    CaptureId capture_;
    SegmentSpec spec_;
    std::uint64_t rotate_bytes_;
    std::uint32_t n_ = 0;  // current segment number; 0: none open
    std::string path_;     // current segment
    std::FILE* file_ = nullptr;
    std::unique_ptr<PcapWriter> writer_;
    std::uint64_t size_ = 0;       // bytes written to the current segment
    std::uint64_t committed_ = 0;  // of them, committed
    std::uint64_t header_ = 0;     // the segment header's length
    bool sync_dir_ = false;        // a file was created since the last sync
    bool placed_ = false;          // a block was written to the current segment
    bool failed_ = false;
};

// Recovery after a crash, when a database is opened for writing. Lists the
// directory first, then asks verdict() about each segment file (so that a
// segment created after the listing by a live writer is never judged): keep
// it (its capture is still being written), cut it to `bytes` when longer
// (bytes past the last commit), or remove it (no row, capture not running).
enum class SegmentAction { keep, truncate, remove };
struct SegmentVerdict {
    SegmentAction action = SegmentAction::keep;
    std::uint64_t bytes = 0;  // truncate: the committed length
};
struct RecoveryResult {
    std::uint64_t truncated = 0;
    std::uint64_t removed = 0;
};
RecoveryResult recover_segments(const std::string& dir,
                                const std::function<SegmentVerdict(const SegmentName&, const std::string&)>& verdict);

}  // namespace capdb::store
