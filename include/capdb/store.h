// Storage interface. capdb's commands talk to a Store: the SQLite block store
// (store/sqlite/), or the ClickHouse store (store/clickhouse/) for a
// clickhouse:// URL; open_store() picks one by the location's form.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "capdb/aggregates.h"
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
    std::uint64_t malformed = 0;    // truncated or malformed headers, IP or not, or tunnels too deep
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

// Where a capture's whole packets can be read back (query -w): its original
// file, capdb's packet store (segments beside the database), or nowhere
// (summaries only: --no-packets, or live and standard input before the store).
enum class PacketsAt { file, store, none };
const char* packets_at_name(PacketsAt p) noexcept;

// The packet store's segment format: pcap (one link type), or pcapng when the
// input was pcapng.
enum class SegmentFormat { pcap, pcapng };

// A packet-store segment rotates (at a block boundary) once it holds this
// many bytes, unless --segment-size says otherwise.
inline constexpr std::uint64_t kDefaultSegmentBytes = std::uint64_t{64} << 20;

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
    // Where its packets are kept. With PacketsAt::store the writer writes
    // each packet's captured bytes (PacketBatch::add_with_data) to segments
    // of this format and timestamp precision (6 or 9 decimal digits).
    PacketsAt packets_at = PacketsAt::file;
    SegmentFormat segment_format = SegmentFormat::pcap;
    std::uint32_t segment_ts_precision = 9;
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
    std::uint64_t store_bytes = 0;   // committed bytes of its packet-store segments
    // The sensor that wrote it (ClickHouse: --sensor or the writer's host
    // name); empty in an SQLite database, whose captures are all its own.
    std::string sensor;
};

// One packet-store segment of a capture: an ordinary pcap or pcapng file
// holding packets first_seq .. first_seq + packets - 1, whose first `bytes`
// bytes are committed.
struct SegmentInfo {
    std::string path;
    SegmentFormat format = SegmentFormat::pcap;
    std::uint64_t first_seq = 0;
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;
};

// Held while segment files are read (query -w): a prune unlinks segment
// files only while no such hold exists. Released on destruction.
class PacketReadHold {
public:
    virtual ~PacketReadHold() = default;
};

// Appends one capture's packets. Packets become visible to readers when a
// batch commits: every `batch` packets, soon after request_commit(), and in
// finish()/fail(). Commits happen on a storage thread of the writer's own,
// fed through one queue bounded in bytes; append() waits only while that
// queue is over its bound, and request_commit() never waits. Committed
// packets form a prefix of the capture (less what a prune removed since),
// and the capture row's counts agree with them.
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

// The committed prefix of a file capture that stopped early (failed or
// interrupted): its file's first `bytes` bytes, ending with the record of its
// last committed packet, had SHA-256 `sha256`. A file that begins with those
// bytes resumes the capture (DESIGN.md, "Resuming a grown file").
struct ResumePoint {
    CaptureInfo capture;
    std::uint64_t bytes = 0;
    std::string sha256;  // hex
};

// Called for each matching packet in order; return false to stop.
using RowCallback = std::function<bool(const PacketView&)>;
// Offered a block's aggregates; returns whether they serve (when not, the
// block's rows go to the RowCallback instead).
using AggregatesCallback = std::function<bool(const BlockAggregates&)>;

// Blocks are the store's unit of commit. A commit adds blocks whose ids are
// larger than those of every block committed before it, so a reader that
// remembers max_block_id() can later ask for exactly what was committed since
// (`capdb query --follow`). Ids are never reused, also after a prune.
struct BlockRange {
    std::int64_t after = 0;    // exclusive
    std::int64_t through = 0;  // inclusive
};

// Retention (see DESIGN.md, "Retention"). A prune removes blocks with
// their pages and postings (and, for a capture kept in the packet store,
// whole segments with their blocks) in one transaction; a capture's row
// counts only what stays. It never touches a capture's original file.
struct PruneRequest {
    // Remove the blocks whose newest packet is older than this (ns since the
    // epoch): a block straddling it stays whole.
    std::optional<std::int64_t> before_ns;
    // Only this capture; alone (no before_ns, no keep_bytes), all of it.
    std::optional<CaptureId> capture;
    // Then remove the oldest blocks (by their newest packet) until the
    // database (pages in use), its WAL and the packet store measure at most
    // this many bytes.
    std::optional<std::uint64_t> keep_bytes;
    // Compute everything, change nothing.
    bool dry_run = false;
};

// What a database occupies, in bytes. Free pages (left by deletions, reused
// before the file grows; `capdb vacuum` returns them) do not count.
struct StoreSize {
    std::uint64_t database = 0;  // pages in use times the page size
    std::uint64_t free = 0;      // free pages in the database file
    std::uint64_t wal = 0;       // the -wal file
    std::uint64_t packets = 0;   // files of the packet store directory
    [[nodiscard]] std::uint64_t total() const noexcept { return database + wal + packets; }
};

struct PrunedCapture {
    CaptureId id = 0;
    std::uint64_t blocks = 0;
    std::uint64_t packets = 0;  // packets removed
    std::uint64_t kept = 0;     // packets left
    bool removed = false;       // the capture row went too (nothing left of it)
};

struct PruneResult {
    std::vector<PrunedCapture> captures;  // the captures that lost packets, by id
    std::uint64_t blocks = 0;
    std::uint64_t packets = 0;
    std::uint64_t segments = 0;  // packet store files deleted (or to delete, dry run)
    // Every packet at or after this time is still there (the newest removed
    // packet's time + 1); unset when nothing was removed.
    std::optional<std::int64_t> kept_from_ns;
    StoreSize before, after;
    bool dry_run = false;
};

struct VacuumResult {
    StoreSize before, after;
    std::uint64_t file_before = 0, file_after = 0;  // the database file's size
    bool wal_truncated = false;                     // the WAL was emptied (no reader held it)
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
    // Removes the captures of a file with this SHA-256 (hex) whose rows,
    // blocks, pages or posting lists are damaged (see capdb verify), so that
    // ingesting the file again replaces them. Returns their ids.
    virtual std::vector<CaptureId> remove_damaged(const std::string& /*sha256*/) { return {}; }
    // A live capture's statistics samples, oldest first (schema 7; none for
    // other captures).
    [[nodiscard]] virtual std::vector<LiveSample> live_samples(CaptureId /*id*/) { return {}; }
    // A capture's interfaces, by index (none recorded for captures from
    // before schema 4).
    [[nodiscard]] virtual std::vector<InterfaceRecord> interfaces(CaptureId /*id*/) { return {}; }

    // batch: packets per committed batch; queue_bytes: the bound of the
    // writer's queue.
    [[nodiscard]] virtual std::unique_ptr<CaptureWriter> begin_capture(
        const CaptureMeta& meta, std::uint32_t batch, std::size_t queue_bytes = kDefaultQueueBytes) = 0;

    // The newest failed or interrupted file capture of this source with a
    // recorded committed prefix, whose writer is gone; nullopt if none.
    [[nodiscard]] virtual std::optional<ResumePoint> resume_point(const std::string& source) = 0;
    // Records a stopped capture's committed prefix (after fail() or
    // finish(interrupted)).
    virtual void set_resume_point(CaptureId id, std::uint64_t bytes, const std::string& sha256) = 0;
    // Reopens a stopped capture for writing: it is running again in this
    // process, with meta's file identity (file_size, file_mtime_ns,
    // ts_precision), no error, SHA-256 or resume point; the writer appends
    // after its capture.counts.packets committed packets, with its counts.
    [[nodiscard]] virtual std::unique_ptr<CaptureWriter> resume_capture(const CaptureInfo& capture,
                                                                        const CaptureMeta& meta, std::uint32_t batch,
                                                                        std::size_t queue_bytes) = 0;
    // Points a file capture at its file's new path (`capdb relocate`), with
    // the file's modification time (ns since the epoch).
    virtual void relocate_capture(CaptureId id, const std::string& source, std::int64_t file_mtime_ns) = 0;

    // Every packet p with matches(filter, p), in (ts_ns, capture, seq) order,
    // at most filter.limit of them.
    virtual void query(const Filter& filter, const RowCallback& on_row) = 0;
    [[nodiscard]] virtual std::uint64_t count(const Filter& filter) = 0;
    // Every packet p with matches(filter, p), in no particular order (the
    // store's own; for SQLite, block by block), ignoring filter.limit; stops
    // when on_row returns false. For aggregates (stats, flows): it needs no
    // merge across blocks and holds one decoded page at a time.
    virtual void scan(const Filter& filter, const RowCallback& on_row) {
        Filter all = filter;
        all.limit.reset();
        query(all, on_row);
    }

    // As scan(), but each block the filter selects whole (it has no
    // per-packet condition, and the block lies inside its time range) that
    // keeps aggregates is first offered to on_block (with their tables
    // when `tables`); only the rows of the blocks it declines, and of the
    // others, go to on_row. A store without aggregates scans.
    virtual void scan_aggregates(const Filter& filter, bool /*tables*/, const AggregatesCallback& /*on_block*/,
                                 const RowCallback& on_row) {
        scan(filter, on_row);
    }

    // The largest block id ever committed (also when that block was pruned
    // since); 0 when there was none.
    [[nodiscard]] virtual std::int64_t max_block_id() = 0;
    // As query(), restricted to the packets of the blocks in range.
    virtual void query_blocks(const Filter& filter, const BlockRange& range, const RowCallback& on_row) = 0;

    // Retention (needs a store opened for writing). prune() throws
    // UsageError for a request that names no capture of the database.
    virtual PruneResult prune(const PruneRequest& request) = 0;
    [[nodiscard]] virtual StoreSize size() = 0;
    // Rewrites the database without its free pages and empties the WAL.
    // Throws DatabaseError while a capture is being written.
    virtual VacuumResult vacuum() = 0;

    // Packet store. hold_packets() is taken BEFORE the queries whose rows'
    // segments will be read, and kept until they are read (see DESIGN.md,
    // "Packet store"). segments() lists a capture's segments by first_seq.
    [[nodiscard]] virtual std::unique_ptr<PacketReadHold> hold_packets() = 0;
    [[nodiscard]] virtual std::vector<SegmentInfo> segments(CaptureId id) = 0;
};

struct StoreOptions {
    bool read_only = false;
    bool create = false;  // create the database if missing (ingest); never for query
    // Packet-store segments rotate past this many bytes (--segment-size).
    std::uint64_t segment_bytes = kDefaultSegmentBytes;
    // A ring buffer (ingest -i --max-size): after each commit, a capture
    // writer prunes the oldest packets while the database (pages in use),
    // its WAL and the packet store measure more than this.
    std::optional<std::uint64_t> max_bytes = std::nullopt;
    // query --skip-damaged: when set, a query or count skips a damaged
    // structure (a block row, page or posting list that does not match its
    // checksum or does not decode) and calls this with one line naming it
    // (capture, block, page or address), instead of failing.
    std::function<void(const std::string&)> on_damaged = nullptr;
    // ClickHouse: the name of the sensor whose captures this process
    // writes (--sensor); empty: the host name.
    std::string sensor = {};
    // ClickHouse: the longest a request may take (--timeout), in ms; 0: the
    // store's default.
    std::uint32_t timeout_ms = 0;
};

// Opens (or creates) the SQLite store at path. Throws DatabaseError naming the
// path when it is missing, not a capdb database, corrupt or from a newer capdb.
std::unique_ptr<Store> open_sqlite_store(const std::string& path, const StoreOptions& options);

// Whether a --db value names a ClickHouse store (clickhouse://...).
[[nodiscard]] bool is_clickhouse_location(const std::string& location) noexcept;

// Opens the store at location: a clickhouse://[USER@]HOST:PORT/DATABASE URL
// (open_clickhouse_store, store/clickhouse/clickhouse_store.h), else the
// SQLite database at that path.
std::unique_ptr<Store> open_store(const std::string& location, const StoreOptions& options);

}  // namespace capdb
