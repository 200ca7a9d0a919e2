// Storage interface. capdb's commands talk to a Store; the SQLite block store
// (store/sqlite_store.cc) is the one implementation today.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "capdb/batch.h"
#include "capdb/filter.h"
#include "capdb/packet.h"

namespace capdb {

enum class CaptureState { running, complete, failed, interrupted };
const char* capture_state_name(CaptureState s) noexcept;

// Counts kept per capture, by decoding outcome. Every packet is in exactly
// one of ipv4, ipv6, other, malformed and unsupported.
struct PacketCounts {
    std::uint64_t packets = 0;
    std::uint64_t ipv4 = 0;  // IPv4 decoded as expected
    std::uint64_t ipv6 = 0;
    std::uint64_t other = 0;        // non-IP link payloads (ARP, LLDP, ...)
    std::uint64_t malformed = 0;    // truncated or malformed headers, IP or not
    std::uint64_t unsupported = 0;  // unsupported link type, stored undecoded
    std::uint64_t bytes = 0;        // sum of wire lengths

    void add(const Summary& s, std::uint32_t wirelen) noexcept;
    PacketCounts& operator+=(const PacketCounts& o) noexcept {
        packets += o.packets;
        ipv4 += o.ipv4;
        ipv6 += o.ipv6;
        other += o.other;
        malformed += o.malformed;
        unsupported += o.unsupported;
        bytes += o.bytes;
        return *this;
    }
};

// What is known of a capture when it starts.
struct CaptureMeta {
    std::string source;  // file path, "-" for stdin, or interface name
    bool live = false;
    std::string filter;  // BPF expression for live captures
    std::uint32_t linktype = 0;
    std::uint32_t snaplen = 0;
    std::uint32_t preview_bytes = 16;
    std::optional<std::uint64_t> file_size;
    // The file's modification time (ns since the epoch) when it was read;
    // with file_size, how query -w knows the file is still the one ingested.
    // Unset for stdin, live captures and captures from before schema 3.
    std::optional<std::int64_t> file_mtime_ns;
    // Decimal digits of the source's timestamps: 6 (microsecond pcap, and
    // pcapng's default), 9 (nanosecond pcap, pcapng if_tsresol 9); unset
    // when unknown (live, and captures from before schema 3).
    std::optional<std::uint32_t> ts_precision;
};

// Live capture statistics from pcap_stats.
struct LiveStats {
    std::uint64_t received = 0;
    std::uint64_t dropped_kernel = 0;
    std::uint64_t dropped_iface = 0;
};

struct CaptureInfo {
    CaptureId id = 0;
    CaptureMeta meta;
    CaptureState state = CaptureState::running;
    std::string sha256;  // hex; empty until the capture is complete
    std::optional<std::int64_t> first_ts_ns;
    std::optional<std::int64_t> last_ts_ns;
    PacketCounts counts;
    std::optional<LiveStats> live_stats;
    std::int64_t started_at_ns = 0;  // wall clock
    std::string error;               // why it failed, if it did
};

// Appends one capture's packets. Packets become visible to readers when a
// batch commits: every `batch` packets, soon after request_commit(), and in
// finish()/fail(). Commits happen on a storage thread of the writer's own,
// fed through one queue bounded in bytes; append() waits only while that
// queue is over its bound, and request_commit() never waits. Committed
// packets always form a prefix of the capture, and the capture row's counts
// agree with them.
class CaptureWriter {
public:
    virtual ~CaptureWriter() = default;
    [[nodiscard]] virtual CaptureId id() const noexcept = 0;
    // Hands the next packets (in file order) to the storage thread.
    virtual void append(PacketBatch&& batch) = 0;
    // An empty batch to fill, with the capacity of a spent one when there is
    // one.
    [[nodiscard]] virtual PacketBatch spare_batch() = 0;
    // Most packets the next batch should hold, so that commits fall every
    // `batch` packets (at most kBatchPackets).
    [[nodiscard]] virtual std::uint32_t batch_room() const noexcept = 0;
    // Appends one packet (copied); handed over in batches. For writers of a
    // few packets (tests); readers fill PacketBatches.
    virtual void append(const PacketView& p) = 0;
    // Asks the storage thread to commit everything appended so far, and
    // returns without waiting for the commit (a live capture must not stop
    // for an fsync). The packets are visible once it is done.
    virtual void request_commit() = 0;
    // Commits and marks the capture complete, or interrupted (a file ingest
    // stopped by a signal before the end of its input), with its identity and
    // statistics.
    virtual void finish(CaptureState final_state, const std::string& sha256, const std::optional<LiveStats>& stats) = 0;
    // Commits what was appended and marks the capture failed with a reason.
    // sha256 is the file's identity when it was read to the end despite the
    // failure (a damaged record), else empty.
    virtual void fail(const std::string& reason, const std::string& sha256 = {}) = 0;
};

// Called for each matching packet in order; return false to stop.
using RowCallback = std::function<bool(const PacketView&)>;

// Blocks are the store's unit of commit. A commit adds blocks whose ids are
// larger than those of every block committed before it, so a reader that
// remembers max_block_id() can later ask for exactly what was committed since
// (`capdb query --follow`). Ids are only reused after a capture holding the
// newest blocks is removed.
struct BlockRange {
    std::int64_t after = 0;    // exclusive
    std::int64_t through = 0;  // inclusive
};

class Store {
public:
    virtual ~Store() = default;

    [[nodiscard]] virtual std::vector<CaptureInfo> captures() = 0;
    [[nodiscard]] virtual std::optional<CaptureInfo> capture(CaptureId id) = 0;
    // A capture whose file was read to its end (complete, or failed on damage
    // that was recorded with the file's SHA-256) with this SHA-256 (hex), if any.
    [[nodiscard]] virtual std::optional<CaptureInfo> find_by_sha256(const std::string& sha256) = 0;
    // Whether any such capture has a file of exactly this size.
    [[nodiscard]] virtual bool has_file_of_size(std::uint64_t size) = 0;
    // Removes the file captures of this source that were never read to the end
    // (left by a crash or an interruption), with their packets. Returns how
    // many were removed.
    virtual std::uint64_t remove_unfinished(const std::string& source) = 0;
    // Removes one capture and its packets.
    virtual void remove_capture(CaptureId id) = 0;
    // A capture's interfaces, by index (none recorded for captures from
    // before schema 4).
    [[nodiscard]] virtual std::vector<InterfaceRecord> interfaces(CaptureId /*id*/) { return {}; }

    // batch: packets per committed batch; queue_bytes: the bound of the
    // writer's queue.
    [[nodiscard]] virtual std::unique_ptr<CaptureWriter> begin_capture(
        const CaptureMeta& meta, std::uint32_t batch, std::size_t queue_bytes = kDefaultQueueBytes) = 0;

    // Every packet p with matches(filter, p), in (ts_ns, capture, seq) order,
    // at most filter.limit of them.
    virtual void query(const Filter& filter, const RowCallback& on_row) = 0;
    [[nodiscard]] virtual std::uint64_t count(const Filter& filter) = 0;

    // The id of the newest committed block; 0 when there is none.
    [[nodiscard]] virtual std::int64_t max_block_id() = 0;
    // As query(), restricted to the packets of the blocks in range.
    virtual void query_blocks(const Filter& filter, const BlockRange& range, const RowCallback& on_row) = 0;
};

struct StoreOptions {
    bool read_only = false;
    bool create = false;  // create the database if missing (ingest); never for query
};

// Opens (or creates) the SQLite store at path. Throws DatabaseError naming the
// path when it is missing, not a capdb database, corrupt or from a newer capdb.
std::unique_ptr<Store> open_sqlite_store(const std::string& path, const StoreOptions& options);

}  // namespace capdb
