#include "store/sqlite/writer.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <filesystem>
#include <functional>
#include <limits>
#include <mutex>
#include <numeric>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "capdb/error.h"
#include "store/format/aggregates.h"
#include "store/format/checksum.h"
#include "store/format/host_grouping.h"
#include "store/format/page_codec.h"
#include "store/format/postings.h"
#include "store/packets/segment_store.h"
#include "store/sqlite/catalog.h"
#include "store/sqlite/retention.h"
#include "store/sqlite/schema.h"
#include "store/sqlite/sqlite.h"

namespace capdb::store {

namespace {

// SQLite's WAL pages, at the autocheckpoint (1000 pages of 4 KiB): how far
// the WAL grows before a checkpoint restarts it, and further while a reader
// holds an older snapshot.
constexpr std::uint64_t kWalRoom = std::uint64_t{4} << 20;

// The free space a ring buffer keeps on the packet store's file system:
// twice the segment size, and room for the WAL to grow when the database
// is on the same file system.
// (A store directory not made yet will be made beside the database.)
std::uint64_t ring_reserve(const std::string& db_path, std::uint64_t segment_bytes) {
    struct stat db_dir {
    }, store_dir{};
    const std::string dir = std::filesystem::path(db_path).parent_path().string();
    bool same = true;
    if (::stat(packet_dir_of(db_path).c_str(), &store_dir) == 0 &&
        ::stat(dir.empty() ? "." : dir.c_str(), &db_dir) == 0)
        same = db_dir.st_dev == store_dir.st_dev;
    return 2 * segment_bytes + (same ? kWalRoom : 0);
}

constexpr std::int64_t kMinTs = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kMaxTs = std::numeric_limits<std::int64_t>::max();
// Postings are written once per segment of this many blocks (or at the end
// of a capture, or after kSegmentMaxAge); blocks not yet covered are scanned.
constexpr std::uint32_t kSegmentBlocks = 64;
constexpr auto kSegmentMaxAge = std::chrono::seconds(10);
// Spent batches kept for reuse: two blocks' worth at the default commit
// size. A block returns all its batches at once; kept, they spare the
// reader allocating (and touching) a few hundred KiB anew for most batches.
constexpr std::size_t kSpareBatches = 2 * (kDefaultCommitPackets / kBatchPackets);
// Packet bytes (PacketBatch::payload) kept in spare batches, at most: the
// rest of a spent batch's payload memory is freed.
constexpr std::size_t kSparePayloadBytes = std::size_t{32} << 20;
// How much lower (in nice steps) a live capture's storage thread runs than
// its capture thread.
constexpr int kStorageNice = 5;

std::unique_ptr<sqlite::Database> open_connection(const std::string& path) {
    auto db = std::make_unique<sqlite::Database>(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX);
    sqlite3_busy_timeout(db->get(), 30000);
    db->exec("PRAGMA synchronous=NORMAL");
    return db;
}

// The storage thread's work for one capture: batches become blocks (grouped
// by host, cut into pages), blocks become postings once per segment, and
// commit() makes everything so far visible in one transaction with the
// capture's counts. Committed blocks always form a prefix of the capture.
// With a SegmentWriter, a block's packets are written to its segment before
// the block's rows (each row's file_offset is its record's in the segment),
// made durable before the commit, and the segment's row is updated in the
// same transaction (see DESIGN.md, "Packet store").
class BlockWriter {
public:
    // start: what a resumed capture already holds (its row keeps those
    // counts; this writer adds to them and numbers packets after them).
    BlockWriter(sqlite::Database& db, CaptureId capture, std::uint32_t linktype, SegmentWriter* segments,
                SegmentFormat segment_format, const WriterStart& start)
        : db_(db),
          capture_(capture),
          linktype_(linktype),
          segments_(segments),
          segment_format_(segment_format),
          insert_block_(db,
                        "INSERT INTO blocks(id, capture_id, first_seq, packets, pages, ts_min, ts_max, page_index,"
                        " checksum, aggregates, aggregate_tables) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
                        " capdb_check(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8), ?9, ?10)"),
          insert_page_(db, "INSERT INTO pages(id, data) VALUES(?1, ?2)"),
          insert_sample_(db,
                         "INSERT OR REPLACE INTO live_stats(capture_id, ts, received, dropped, checksum)"
                         " VALUES(?1, ?2, ?3, ?4, capdb_check(?1, ?2, ?3, ?4))"),
          insert_interface_(db,
                            "INSERT OR REPLACE INTO interfaces(capture_id, if_index, name, description, linktype,"
                            " snaplen, ts_precision, checksum) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7,"
                            " capdb_check(?1, ?2, ?3, ?4, ?5, ?6, ?7))"),
          insert_posting_(db, "INSERT INTO postings(addr, first_block, blocks) VALUES(?1, ?2, ?3)"),
          mark_indexed_(db, "UPDATE blocks SET indexed = 1 WHERE id BETWEEN ?1 AND ?2 AND capture_id = ?3"),
          next_block_(db, max_block_id_sql(has_high_water(db))),
          segment_blocks_alive_(db, "SELECT count(*) FROM blocks WHERE capture_id=?1 AND id BETWEEN ?2 AND ?3"),
          block_alive_(db, "SELECT 1 FROM blocks WHERE id=?1"),
          first_alive_(db, "SELECT coalesce(min(id), 0) FROM blocks WHERE capture_id=?1 AND id BETWEEN ?2 AND ?3"),
          // Counts are added, not set: a prune may have taken this
          // capture's older blocks off them since the last commit.
          update_capture_(db,
                          "UPDATE captures SET packets=packets+?1, ipv4=ipv4+?2, ipv6=ipv6+?3, other=other+?4,"
                          " malformed=malformed+?5, unsupported=unsupported+?6, bytes=bytes+?7,"
                          " first_ts=coalesce(min(first_ts, ?8), first_ts, ?8),"
                          " last_ts=coalesce(max(last_ts, ?9), last_ts, ?9) WHERE id=?10"),
          seal_capture_(db, seal_capture_sql()),
          next_seq_(start.counts.packets) {
        if (segments_) {
            insert_segment_.emplace(db,
                                    "INSERT INTO segments(capture_id, name, format, first_seq, packets, bytes, ts_min,"
                                    " ts_max) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
            update_segment_.emplace(db,
                                    "UPDATE segments SET packets = packets + ?1, bytes = ?2, ts_min = min(ts_min, ?3),"
                                    " ts_max = max(ts_max, ?4) WHERE id = ?5");
        }
    }

    // An open transaction is rolled back (by tx_); the segment's bytes
    // written for it are cut off.
    ~BlockWriter() {
        if (tx_ && segments_) segments_->discard_uncommitted();
    }
    BlockWriter(const BlockWriter&) = delete;
    BlockWriter& operator=(const BlockWriter&) = delete;

    // Adds a batch (the next packets in file order) to the open block,
    // writing the block first if the batch would not fit in it.
    void add(PacketBatch&& batch) {
        for (const LiveSample& s : batch.live_samples) samples_.push_back(s);
        batch.live_samples.clear();
        if (batch.packets.empty()) return;
        if (block_rows_ + batch.packets.size() > kMaxBlockRows) write_block();
        block_rows_ += batch.packets.size();
        for (InterfaceRecord& i : batch.interfaces) interfaces_.push_back(std::move(i));
        batch.interfaces.clear();
        block_.push_back(std::move(batch));
    }

    // Writes the open block and, when the segment is due (or last), its
    // postings, and commits them with the capture's counts.
    void commit(bool last) {
        write_block();
        if (segment_blocks_ > 0 && (last || segment_blocks_ >= kSegmentBlocks ||
                                    std::chrono::steady_clock::now() - segment_started_ > kSegmentMaxAge))
            write_postings();
        commit_written();
    }

    // With a ring buffer: on a full disk, make_room() drops the oldest
    // segments (false: nothing older is left) before the block is written
    // again.
    void on_disk_full(std::function<bool()> make_room) { make_room_ = std::move(make_room); }

    // Batches written since the last call, emptied, for reuse.
    std::vector<PacketBatch> take_spent() { return std::exchange(spent_, {}); }

private:
    // Commits the blocks written so far (not the open one) with what they
    // add to the capture's row.
    void commit_written() {
        if (!tx_) return;
        update_capture_.reset()
            .bind(1, static_cast<std::int64_t>(counts_.packets))
            .bind(2, static_cast<std::int64_t>(counts_.ipv4))
            .bind(3, static_cast<std::int64_t>(counts_.ipv6))
            .bind(4, static_cast<std::int64_t>(counts_.other))
            .bind(5, static_cast<std::int64_t>(counts_.malformed))
            .bind(6, static_cast<std::int64_t>(counts_.unsupported))
            .bind(7, static_cast<std::int64_t>(counts_.bytes))
            .bind(8, first_ts_)
            .bind(9, last_ts_)
            .bind(10, capture_);
        update_capture_.run();
        seal_capture_.reset().bind(1, capture_);
        seal_capture_.run();
        // Durability order: the packets the blocks refer to are durable
        // before the commit that makes the blocks visible.
        if (segments_) segments_->sync();
        tx_->commit();
        tx_.reset();
        counts_ = {};
        first_ts_.reset();
        last_ts_.reset();
        if (segments_) segments_->committed();
    }

    // Writes the open block's packets to its segment. On a full disk, with
    // a ring buffer, commits the blocks written before it (the prune needs
    // a transaction of its own, and the files it frees go only after their
    // rows), has make_room() drop the oldest segments, and tries again.
    SegmentWriter::Placement place_block() {
        for (;;) {
            try {
                return segments_->write(block_);
            } catch (const DiskFullError& e) {
                if (!make_room_) throw;
                commit_written();
                if (!make_room_())
                    throw DatabaseError(fmt::format("{}; no older segment is left for --max-size to drop", e.what()));
            }
        }
    }

    void begin() {
        if (!tx_) tx_ = std::make_unique<sqlite::Transaction>(db_);
    }

    // Encodes the open block's pages and inserts them, the block row and
    // the block's addresses into the segment's postings.
    void write_block() {
        if (block_rows_ == 0) return;
        SegmentWriter::Placement placed;
        if (segments_) placed = place_block();  // sets each packet's file_offset
        begin();
        // The interfaces the block's packets introduce commit with it.
        for (const InterfaceRecord& i : interfaces_) {
            insert_interface_.reset()
                .bind(1, capture_)
                .bind(2, std::int64_t{i.if_index})
                .bind(4, std::string_view(i.description))
                .bind(5, std::int64_t{i.linktype})
                .bind(6, std::int64_t{i.snaplen})
                .bind(7, std::int64_t{i.ts_precision});
            if (i.name.empty())
                insert_interface_.bind_null(3);
            else
                insert_interface_.bind(3, std::string_view(i.name));
            if (i.description.empty()) insert_interface_.bind_null(4);
            insert_interface_.run();
        }
        interfaces_.clear();
        // Live statistics taken since the last block commit with it.
        for (const LiveSample& s : samples_) {
            insert_sample_.reset()
                .bind(1, capture_)
                .bind(2, s.ts_ns)
                .bind(3, static_cast<std::int64_t>(s.received))
                .bind(4, static_cast<std::int64_t>(s.dropped));
            insert_sample_.run();
        }
        samples_.clear();
        next_block_.reset();
        next_block_.step();
        const std::int64_t block_id = next_block_.i64(0) + 1;
        next_block_.reset();
        rows_.clear();
        std::uint32_t index = 0;
        // The capture's timeline counts from its first packet (in file order).
        for (const PacketBatch& b : block_)
            if (!anchor_ && !b.packets.empty()) anchor_ = b.packets.front().ts_ns;
        aggregates_.reset(capture_, *anchor_);
        for (const PacketBatch& b : block_)
            for (const PacketBatch::Packet& p : b.packets) {
                rows_.push_back({&p, b.arena.data() + p.preview_off, index++});
                aggregates_.add(p.summary, p.wirelen, p.ts_ns);
                counts_.add(p.summary, p.wirelen);
                first_ts_ = std::min(first_ts_.value_or(kMaxTs), p.ts_ns);
                last_ts_ = std::max(last_ts_.value_or(kMinTs), p.ts_ns);
            }
        group_by_host(rows_, addresses_);
        std::int64_t ts_min = kMaxTs, ts_max = kMinTs;
        if (pages_of_.size() < addresses_.size()) pages_of_.resize(addresses_.size());
        for (std::uint32_t id = 0; id < addresses_.size(); ++id) pages_of_[id].clear();
        page_index_.clear();
        std::uint16_t n = 0;
        for (std::size_t start = 0; start < rows_.size(); start += kPageRows, ++n) {
            const std::size_t len = std::min<std::size_t>(kPageRows, rows_.size() - start);
            encoder_.encode(std::span<const RowRef>(rows_).subspan(start, len), page_);
            ts_min = std::min(ts_min, page_.ts_min);
            ts_max = std::max(ts_max, page_.ts_max);
            const std::int64_t page_id = block_id * kMaxPagesPerBlock + n;
            append_trailer(page_.data, page_crc(page_id, page_.data));
            insert_page_.reset().bind(1, page_id).bind_blob(2, page_.data);
            insert_page_.run();
            page_index_.push_back({page_.packets, page_.ts_min, page_.ts_max});
            for (std::uint32_t id : page_.address_ids) pages_of_[id].push_back(n);
        }
        insert_block_.reset()
            .bind(1, block_id)
            .bind(2, capture_)
            .bind(3, static_cast<std::int64_t>(next_seq_))
            .bind(4, static_cast<std::int64_t>(rows_.size()))
            .bind(5, std::int64_t{n})
            .bind(6, ts_min)
            .bind(7, ts_max)
            .bind_blob(8, encode_page_index(page_index_, ts_min));
        aggregates_.finish(block_aggregates_);
        // The tables' frame goes to a column of its own: stats --no-top
        // reads only the first.
        const std::vector<std::uint8_t> encoded = encode_aggregates(block_aggregates_);
        const auto [head, tables] = split_aggregates(encoded);
        std::vector<std::uint8_t> head_blob(head.begin(), head.end());
        append_trailer(head_blob, aggregates_crc(block_id, head));
        insert_block_.bind_blob(9, head_blob);
        std::vector<std::uint8_t> tables_blob(tables.begin(), tables.end());
        if (tables.empty()) {
            insert_block_.bind_null(10);
        } else {
            append_trailer(tables_blob, aggregate_tables_crc(block_id, tables));
            insert_block_.bind_blob(10, tables_blob);
        }
        insert_block_.run();
        if (segments_) record_segment(placed, ts_min, ts_max);
        if (segment_blocks_ == 0) segment_first_ = block_id;
        segment_last_ = block_id;
        ++segment_blocks_;
        for (std::uint32_t id = 0; id < addresses_.size(); ++id)
            list_of(addresses_[id]).add(block_id, segment_first_, pages_of_[id]);
        next_seq_ += rows_.size();
        block_rows_ = 0;
        for (PacketBatch& b : block_) {
            b.clear();
            spent_.push_back(std::move(b));
        }
        block_.clear();
    }

    // The segments row of the block just written: a new one for a new
    // segment file, else the current one grown by the block.
    void record_segment(const SegmentWriter::Placement& placed, std::int64_t ts_min, std::int64_t ts_max) {
        const auto packets = static_cast<std::int64_t>(rows_.size());
        const auto bytes = static_cast<std::int64_t>(placed.bytes);
        if (placed.new_segment) {
            insert_segment_->reset()
                .bind(1, capture_)
                .bind(2, std::string_view(placed.name))
                .bind(3, std::string_view(segment_format_name(segment_format_)))
                .bind(4, static_cast<std::int64_t>(next_seq_))
                .bind(5, packets)
                .bind(6, bytes)
                .bind(7, ts_min)
                .bind(8, ts_max);
            insert_segment_->run();
            segment_row_ = db_.last_insert_rowid();
        } else {
            update_segment_->reset()
                .bind(1, packets)
                .bind(2, bytes)
                .bind(3, ts_min)
                .bind(4, ts_max)
                .bind(5, segment_row_);
            update_segment_->run();
        }
    }

    // Inserts the segment's posting lists (in key order) and marks its
    // blocks indexed.
    void write_postings() {
        if (segment_blocks_ == 0) return;
        begin();
        drop_pruned_blocks();
        std::vector<std::uint32_t> sorted(segment_lists_.size());
        std::iota(sorted.begin(), sorted.end(), 0u);
        std::sort(sorted.begin(), sorted.end(), [&](std::uint32_t a, std::uint32_t b) {
            auto ka = address_key(segment_addresses_[a]), kb = address_key(segment_addresses_[b]);
            return std::lexicographical_compare(ka.begin(), ka.end(), kb.begin(), kb.end());
        });
        std::vector<std::uint8_t> sealed;
        for (const std::uint32_t id : sorted) {
            if (segment_lists_[id].bytes.empty()) continue;  // every block of it pruned
            const auto key = address_key(segment_addresses_[id]);
            sealed = segment_lists_[id].bytes;
            append_trailer(sealed, postings_crc(key, segment_first_, sealed));
            insert_posting_.reset().bind_blob(1, key).bind(2, segment_first_).bind_blob(3, sealed);
            insert_posting_.run();
        }
        mark_indexed_.reset().bind(1, segment_first_).bind(2, segment_last_).bind(3, capture_);
        mark_indexed_.run();
        segment_addresses_.clear();
        segment_lists_.clear();
        segment_blocks_ = 0;
        segment_started_ = std::chrono::steady_clock::now();
    }

    sqlite::Database& db_;
    const CaptureId capture_;
    const std::uint32_t linktype_;
    // A prune may have removed blocks of the segment since they were
    // written: their entries go, and the lists start at the first block
    // left (a posting row's first block always exists; see retention.cc).
    void drop_pruned_blocks() {
        segment_blocks_alive_.reset().bind(1, capture_).bind(2, segment_first_).bind(3, segment_last_);
        const bool all_alive =
            segment_blocks_alive_.step() && segment_blocks_alive_.i64(0) == std::int64_t{segment_blocks_};
        segment_blocks_alive_.reset();
        if (all_alive) return;
        std::unordered_map<std::int64_t, bool> alive;
        auto is_alive = [&](std::int64_t id) {
            auto [it, fresh] = alive.try_emplace(id, false);
            if (fresh) {
                block_alive_.reset().bind(1, id);
                it->second = block_alive_.step();
                block_alive_.reset();
            }
            return it->second;
        };
        first_alive_.reset().bind(1, capture_).bind(2, segment_first_).bind(3, segment_last_);
        const std::int64_t first = first_alive_.step() ? first_alive_.i64(0) : 0;
        first_alive_.reset();
        std::vector<std::uint16_t> pages;
        for (PostingList& list : segment_lists_) {
            PostingList kept;
            std::int64_t current = 0;
            auto flush = [&] {
                if (current != 0 && !pages.empty()) kept.add(current, first, pages);
                pages.clear();
            };
            read_postings(list.bytes, segment_first_, [&](std::int64_t block, std::size_t page) {
                if (block != current) {
                    flush();
                    current = block;
                }
                if (is_alive(block)) pages.push_back(static_cast<std::uint16_t>(page));
            });
            flush();
            list = std::move(kept);  // empty when none of its blocks is left
        }
        segment_first_ = first;
    }

    SegmentWriter* segments_;  // null: the capture keeps no packets
    const SegmentFormat segment_format_;
    sqlite::Statement insert_block_, insert_page_, insert_sample_, insert_interface_, insert_posting_, mark_indexed_,
        next_block_, segment_blocks_alive_, block_alive_, first_alive_, update_capture_, seal_capture_;
    std::optional<sqlite::Statement> insert_segment_, update_segment_;
    std::int64_t segment_row_ = 0;             // the current segment's row
    std::unique_ptr<sqlite::Transaction> tx_;  // open from the first write to commit()
    std::function<bool()> make_room_;          // the ring buffer's, on a full disk

    // What the transaction adds to the capture row.
    PacketCounts counts_;
    std::optional<std::int64_t> first_ts_, last_ts_;
    std::optional<std::int64_t> anchor_;  // the first packet's time: the timeline's origin
    AggregateBuilder aggregates_;
    BlockAggregates block_aggregates_;
    std::uint64_t next_seq_ = 0;               // the open block's first packet number
    std::vector<InterfaceRecord> interfaces_;  // seen in the open block, not yet stored
    std::vector<LiveSample> samples_;          // live statistics, stored with the next block

    // The open block: batches in file order, not yet written.
    std::vector<PacketBatch> block_;
    std::size_t block_rows_ = 0;
    std::vector<PacketBatch> spent_;

    // Scratch of write_block(), kept for its capacity.
    std::vector<RowRef> rows_;
    AddressTable addresses_;
    PageEncoder encoder_;
    EncodedPage page_;
    std::vector<PageMeta> page_index_;
    std::vector<std::vector<std::uint16_t>> pages_of_;  // address number -> its pages in the block

    // Postings of the blocks written since the last segment was indexed.
    // The segment's posting lists, by address: open addressing (the one
    // hash table of host_grouping.h), not a node per address.
    PostingList& list_of(const Address& a) {
        const std::uint32_t id = segment_addresses_.intern(a);
        if (id == segment_lists_.size()) segment_lists_.emplace_back();
        return segment_lists_[id];
    }
    AddressTable segment_addresses_;
    std::vector<PostingList> segment_lists_;  // by segment_addresses_ id
    std::int64_t segment_first_ = 0, segment_last_ = 0;
    std::uint32_t segment_blocks_ = 0;
    std::chrono::steady_clock::time_point segment_started_ = std::chrono::steady_clock::now();
};

struct Job {
    PacketBatch batch;
    bool commit = false;  // commit after this batch
    bool stop = false;    // last job
};

class SqliteCaptureWriter final : public CaptureWriter {
public:
    SqliteCaptureWriter(std::string path, CaptureId id, const CaptureMeta& meta, std::uint32_t batch,
                        std::size_t queue_bytes, std::uint64_t segment_bytes, std::optional<std::uint64_t> max_bytes,
                        const WriterStart& start)
        : path_(std::move(path)),
          id_(id),
          linktype_(meta.linktype),
          keep_packets_(meta.packets_at == PacketsAt::store),
          live_(meta.live),
          segment_spec_{meta.segment_format, meta.linktype, meta.snaplen, meta.segment_ts_precision},
          segment_bytes_(segment_bytes),
          max_bytes_(max_bytes),
          batch_size_(std::max<std::uint32_t>(batch, 1)),
          queue_limit_(std::max<std::size_t>(queue_bytes, 1)),
          start_(start) {
        thread_ = std::thread([this] { run(); });
    }

    ~SqliteCaptureWriter() override {
        if (!finished_) {
            try {
                fail("ingest aborted", {});
            } catch (...) {
                // The committed prefix stays, marked unfinished; the next
                // ingest of the same file redoes it.
            }
        }
        stop_thread();
    }

    CaptureId id() const noexcept override { return id_; }

    void append(PacketBatch&& batch) override {
        if (batch.empty() && batch.live_samples.empty()) return;
        if (!current_.empty()) flush_current(false);  // packets stay in file order
        since_commit_ += batch.size();
        const bool commit = since_commit_ >= batch_size_;
        submit(std::move(batch), commit);
    }

    PacketBatch spare_batch() override {
        std::lock_guard lock(mu_);
        if (free_.empty()) return {};
        PacketBatch b = std::move(free_.back());
        free_.pop_back();
        return b;
    }

    std::uint32_t batch_room() const noexcept override {
        return static_cast<std::uint32_t>(std::min<std::uint64_t>(kBatchPackets, batch_size_ - since_commit_));
    }

    void append(const PacketView& p) override {
        current_.add(p);
        if (current_.size() >= batch_room()) flush_current(false);
    }

    void request_commit() override { flush_current(true); }

    void finish(CaptureState state, const std::string& sha256, const std::optional<LiveStats>& stats) override {
        drain();
        Catalog(*db_).mark_finished(id_, state, sha256, stats);
        finished_ = true;
    }

    void fail(const std::string& reason, const std::string& sha256) override {
        finished_ = true;
        drain();
        Catalog(*db_).mark_failed(id_, reason, sha256);
    }

private:
    // Hands current_ (with a commit request if asked) to the storage thread.
    void flush_current(bool commit) {
        PacketBatch b = std::exchange(current_, {});
        since_commit_ += b.size();
        if (since_commit_ >= batch_size_) commit = true;
        submit(std::move(b), commit);
    }

    // Queues a batch. Waits while the queue holds more than its bound in
    // bytes (never for a job without packets, so that a commit request does
    // not wait behind a slow commit).
    void submit(PacketBatch&& batch, bool commit) {
        rethrow_if_failed();
        if (commit) since_commit_ = 0;
        if (batch.empty() && batch.live_samples.empty() && !commit) return;
        const std::size_t bytes = batch.empty() ? 0 : batch.bytes();
        {
            std::unique_lock lock(mu_);
            if (bytes > 0) space_.wait(lock, [&] { return queued_bytes_ < queue_limit_ || queue_.empty() || error_; });
            queued_bytes_ += bytes;
            queue_.push_back(Job{std::move(batch), commit, false});
        }
        ready_.notify_one();
    }

    // Waits for the storage thread to commit everything and stop; opens the
    // writer's own connection for the final update.
    void drain() {
        if (thread_.joinable()) {
            flush_current(true);
            stop_thread();
        }
        rethrow_if_failed();
        if (!db_) db_ = open_connection(path_);
    }

    void stop_thread() {
        if (thread_.joinable()) {
            {
                std::lock_guard lock(mu_);
                queue_.push_back(Job{{}, true, true});
            }
            ready_.notify_one();
            thread_.join();
        }
    }

    void rethrow_if_failed() {
        std::lock_guard lock(mu_);
        if (error_) {
            auto e = error_;
            error_ = nullptr;
            finished_ = true;
            std::rethrow_exception(e);
        }
    }

    // Takes the next job off the queue, waiting for one.
    Job take() {
        std::unique_lock lock(mu_);
        ready_.wait(lock, [&] { return !queue_.empty(); });
        Job job = std::move(queue_.front());
        queue_.pop_front();
        if (!job.batch.empty()) queued_bytes_ -= job.batch.bytes();
        lock.unlock();
        space_.notify_one();
        return job;
    }

    // --- storage thread ---
    void run() {
        if (live_) yield_to_capture();
        bool stop_taken = false;  // the last job is off the queue
        try {
            auto db = open_connection(path_);
            std::unique_ptr<SegmentWriter> segments;
            if (keep_packets_)
                segments = std::make_unique<SegmentWriter>(packet_dir_of(path_), id_, segment_spec_, segment_bytes_);
            BlockWriter blocks(*db, id_, linktype_, segments.get(), segment_spec_.format, start_);
            std::optional<RingBuffer> ring;
            if (max_bytes_) {
                ring.emplace(*db, path_, *max_bytes_, ring_reserve(path_, segment_bytes_));
                blocks.on_disk_full([&ring] { return ring->make_room(); });
            }
            for (;;) {
                Job job = take();
                stop_taken = job.stop;
                blocks.add(std::move(job.batch));
                if (job.commit) {
                    blocks.commit(job.stop);
                    if (ring) ring->after_commit();
                }
                if (auto spent = blocks.take_spent(); !spent.empty()) {
                    std::lock_guard lock(mu_);
                    std::size_t payload = 0;
                    for (const PacketBatch& b : free_) payload += b.payload.capacity();
                    for (PacketBatch& b : spent) {
                        if (free_.size() >= kSpareBatches) break;
                        if (payload + b.payload.capacity() > kSparePayloadBytes) b.payload = {};
                        payload += b.payload.capacity();
                        free_.push_back(std::move(b));
                    }
                }
                if (job.stop) break;
            }
        } catch (...) {
            std::lock_guard lock(mu_);
            error_ = std::current_exception();
            space_.notify_all();
        }
        // After a failure keep consuming until told to stop, so that
        // producers never wait on a dead thread (unless the failure was in
        // the last job: nothing more will come, and waiting would deadlock
        // the thread that joins this one).
        for (;;) {
            {
                std::lock_guard lock(mu_);
                if (!error_ || stop_taken) break;
            }
            if (take().stop) break;
        }
    }

    // A live capture loses packets when its thread waits for the CPU, the
    // storage thread only queue space: on a busy machine the scheduler
    // should run the capture first. Lowers this thread's priority (its own
    // nice value, which Linux keeps per thread); best effort.
    static void yield_to_capture() noexcept {
        const auto tid = static_cast<id_t>(::gettid());
        errno = 0;
        const int nice = ::getpriority(PRIO_PROCESS, tid);
        if (errno == 0) (void)::setpriority(PRIO_PROCESS, tid, std::min(nice + kStorageNice, 19));
    }

    std::string path_;
    CaptureId id_;
    std::uint32_t linktype_;
    bool keep_packets_;  // in the packet store
    bool live_;          // a live capture's: yields the CPU to the capture thread
    SegmentSpec segment_spec_;
    std::uint64_t segment_bytes_;
    std::optional<std::uint64_t> max_bytes_;  // ring buffer
    std::uint32_t batch_size_;
    std::size_t queue_limit_;
    WriterStart start_;
    PacketBatch current_;             // append(const PacketView&)'s batch
    std::uint64_t since_commit_ = 0;  // packets handed over since the last commit request
    bool finished_ = false;
    std::unique_ptr<sqlite::Database> db_;  // for finish()/fail(), after the thread ends

    std::mutex mu_;
    std::condition_variable ready_, space_;
    std::deque<Job> queue_;
    std::size_t queued_bytes_ = 0;   // PacketBatch::bytes() of the batches in queue_
    std::vector<PacketBatch> free_;  // spent batches, for spare_batch()
    std::exception_ptr error_;
    std::thread thread_;
};

}  // namespace

std::unique_ptr<CaptureWriter> make_capture_writer(const std::string& path, CaptureId id, const CaptureMeta& meta,
                                                   std::uint32_t batch, std::size_t queue_bytes,
                                                   std::uint64_t segment_bytes, std::optional<std::uint64_t> max_bytes,
                                                   const WriterStart& start) {
    return std::make_unique<SqliteCaptureWriter>(path, id, meta, batch, queue_bytes, segment_bytes, max_bytes, start);
}

}  // namespace capdb::store
