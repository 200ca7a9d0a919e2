#include "store/sqlite_store.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bitset>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <limits>
#include <map>
#include <mutex>
#include <queue>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "capdb/error.h"
#include "store/block_codec.h"
#include "store/sqlite.h"

namespace capdb {

const char* capture_state_name(CaptureState s) noexcept {
    switch (s) {
        case CaptureState::running: return "running";
        case CaptureState::complete: return "complete";
        case CaptureState::failed: return "failed";
        case CaptureState::interrupted: return "interrupted";
    }
    return "?";
}

void PacketCounts::add(const Summary& s, std::uint32_t wirelen) noexcept {
    // Each packet counts in exactly one kind.
    ++packets;
    bytes += wirelen;
    if (s.status == Status::unsupported) ++unsupported;
    else if (s.status == Status::truncated || s.status == Status::malformed) ++malformed;
    else if (s.network == Network::ipv4) ++ipv4;
    else if (s.network == Network::ipv6) ++ipv6;
    else ++other;
}

namespace store {

namespace {

constexpr std::int64_t kMinTs = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kMaxTs = std::numeric_limits<std::int64_t>::max();
constexpr std::uint32_t kMaxPagesPerBlock = 256;
constexpr std::uint32_t kMaxBlockRows = kMaxPagesPerBlock * kPageRows;
// Packets handed from the reading thread to the storage thread at a time.
constexpr std::uint32_t kHandoffRows = 4096;
// Postings are written once per segment of this many blocks (or at the end
// of a capture, or after kSegmentMaxAge); blocks not yet covered are scanned.
constexpr std::uint32_t kSegmentBlocks = 64;
constexpr auto kSegmentMaxAge = std::chrono::seconds(10);

// One address's postings within a segment, as varints: for each block, its
// id delta (the first from the segment's first block), the number of its
// pages holding the address, and their page-number deltas.
struct PostingList {
    std::vector<std::uint8_t> bytes;
    std::int64_t last = 0;
    void add(std::int64_t block, std::int64_t segment_first, const std::vector<std::uint16_t>& pages) {
        if (bytes.empty()) last = segment_first;
        put_varint(bytes, static_cast<std::uint64_t>(block - last));
        put_varint(bytes, pages.size());
        std::uint16_t prev = 0;
        for (std::uint16_t n : pages) {
            put_varint(bytes, static_cast<std::uint64_t>(n - prev));
            prev = n;
        }
        last = block;
    }
};

using PageSet = std::bitset<kMaxPagesPerBlock>;

// What a block records of each of its pages (blocks.page_index), so that
// pages are chosen without reading them.
struct PageMeta {
    std::uint32_t packets;
    std::int64_t ts_min;
    std::int64_t ts_max;
};

// Varints per page: packets, zig-zag ts_min - block ts_min, ts_max - ts_min.
std::vector<std::uint8_t> encode_page_index(const std::vector<PageMeta>& pages, std::int64_t block_ts_min) {
    std::vector<std::uint8_t> out;
    for (const PageMeta& p : pages) {
        put_varint(out, p.packets);
        put_varint(out, zigzag(static_cast<std::int64_t>(static_cast<std::uint64_t>(p.ts_min) -
                                                        static_cast<std::uint64_t>(block_ts_min))));
        put_varint(out, static_cast<std::uint64_t>(p.ts_max) - static_cast<std::uint64_t>(p.ts_min));
    }
    return out;
}

// A page of a block that a query reads: its number and what the block
// records of it.
struct PageHit {
    std::uint16_t number;
    PageMeta meta;
};

// Decodes a block's page index, keeping the pages in wanted.
void decode_page_index(std::span<const std::uint8_t> b, std::int64_t block_ts_min, const PageSet& wanted,
                       std::vector<PageHit>& out) {
    out.clear();
    StoredReader in(b, "page index");
    for (std::uint16_t n = 0; !in.done() && n < kMaxPagesPerBlock; ++n) {
        PageMeta m{};
        m.packets = static_cast<std::uint32_t>(in.varint());
        m.ts_min = static_cast<std::int64_t>(static_cast<std::uint64_t>(block_ts_min) +
                                             static_cast<std::uint64_t>(unzigzag(in.varint())));
        m.ts_max = static_cast<std::int64_t>(static_cast<std::uint64_t>(m.ts_min) + in.varint());
        if (wanted.test(n)) out.push_back({n, m});
    }
}

// Decodes a posting list; calls on_page(block id, page number) for each
// entry. Throws DatabaseError if it is malformed.
template <class F>
void read_postings(std::span<const std::uint8_t> b, std::int64_t first_block, F&& on_page) {
    StoredReader in(b, "posting list");
    std::int64_t block = first_block;
    while (!in.done()) {
        block += static_cast<std::int64_t>(in.varint());
        const std::uint64_t n = in.varint();
        std::uint64_t page = 0;
        for (std::uint64_t k = 0; k < n; ++k) {
            page += in.varint();
            if (page >= kMaxPagesPerBlock) in.corrupt("page number");
            on_page(block, static_cast<std::size_t>(page));
        }
    }
}


const char* const kSchema = R"sql(
CREATE TABLE captures(
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    live INTEGER NOT NULL,
    filter TEXT,
    file_size INTEGER,
    sha256 TEXT,
    linktype INTEGER NOT NULL,
    snaplen INTEGER NOT NULL,
    preview_bytes INTEGER NOT NULL,
    state TEXT NOT NULL,
    error TEXT,
    started_at INTEGER NOT NULL,
    writer_pid INTEGER,
    finished_at INTEGER,
    first_ts INTEGER,
    last_ts INTEGER,
    packets INTEGER NOT NULL DEFAULT 0,
    ipv4 INTEGER NOT NULL DEFAULT 0,
    ipv6 INTEGER NOT NULL DEFAULT 0,
    other INTEGER NOT NULL DEFAULT 0,
    malformed INTEGER NOT NULL DEFAULT 0,
    unsupported INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    received INTEGER,
    dropped_kernel INTEGER,
    dropped_iface INTEGER
);
CREATE INDEX captures_sha256 ON captures(sha256);
CREATE TABLE blocks(
    id INTEGER PRIMARY KEY,
    capture_id INTEGER NOT NULL REFERENCES captures(id),
    first_seq INTEGER NOT NULL,
    packets INTEGER NOT NULL,
    pages INTEGER NOT NULL,
    ts_min INTEGER NOT NULL,
    ts_max INTEGER NOT NULL,
    indexed INTEGER NOT NULL DEFAULT 0,
    page_index BLOB NOT NULL
);
CREATE INDEX blocks_unindexed ON blocks(id) WHERE indexed = 0;
CREATE INDEX blocks_ts_min ON blocks(ts_min, ts_max, capture_id, packets);
CREATE INDEX blocks_ts_max ON blocks(ts_max);
CREATE INDEX blocks_capture ON blocks(capture_id, first_seq);
CREATE TABLE pages(
    id INTEGER PRIMARY KEY,
    data BLOB NOT NULL
);
CREATE TABLE postings(
    addr BLOB NOT NULL,
    first_block INTEGER NOT NULL,
    blocks BLOB NOT NULL,
    PRIMARY KEY(addr, first_block)
) WITHOUT ROWID;
)sql";

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

CaptureState parse_state(const std::string& s) {
    if (s == "complete") return CaptureState::complete;
    if (s == "failed") return CaptureState::failed;
    if (s == "interrupted") return CaptureState::interrupted;
    return CaptureState::running;
}

const char* const kCaptureColumns =
    "id, source, live, filter, file_size, sha256, linktype, snaplen, preview_bytes, state, error, started_at,"
    " first_ts, last_ts, packets, ipv4, ipv6, other, malformed, unsupported, bytes, received, dropped_kernel,"
    " dropped_iface, writer_pid";

// Whether the process that writes a running capture still exists.
bool process_alive(std::int64_t pid) {
    return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
}

CaptureInfo read_capture(const sqlite::Statement& st) {
    CaptureInfo c;
    c.id = st.i64(0);
    c.meta.source = st.text(1);
    c.meta.live = st.i64(2) != 0;
    c.meta.filter = st.text(3);
    if (auto v = st.opt_i64(4)) c.meta.file_size = static_cast<std::uint64_t>(*v);
    c.sha256 = st.text(5);
    c.meta.linktype = static_cast<std::uint32_t>(st.i64(6));
    c.meta.snaplen = static_cast<std::uint32_t>(st.i64(7));
    c.meta.preview_bytes = static_cast<std::uint32_t>(st.i64(8));
    c.state = parse_state(st.text(9));
    c.error = st.text(10);
    c.started_at_ns = st.i64(11);
    c.first_ts_ns = st.opt_i64(12);
    c.last_ts_ns = st.opt_i64(13);
    auto u = [&](int col) { return static_cast<std::uint64_t>(st.i64(col)); };
    c.counts.packets = u(14);
    c.counts.ipv4 = u(15);
    c.counts.ipv6 = u(16);
    c.counts.other = u(17);
    c.counts.malformed = u(18);
    c.counts.unsupported = u(19);
    c.counts.bytes = u(20);
    if (!st.is_null(21)) c.live_stats = LiveStats{u(21), u(22), u(23)};
    // A capture whose writer died (SIGKILL, a second Ctrl-C, a crash) stays
    // 'running' in the database; it is reported as failed. What it committed
    // stays queryable.
    if (const auto pid = st.opt_i64(24); c.state == CaptureState::running && pid && !process_alive(*pid)) {
        c.state = CaptureState::failed;
        if (c.error.empty()) c.error = fmt::format("its writer (process {}) ended before finishing", *pid);
    }
    return c;
}

// ---------------------------------------------------------------------------
// Writer

struct Job {
    PendingBatch batch;
    bool commit = false;  // commit after this batch
    bool stop = false;    // last job
};

class SqliteCaptureWriter final : public CaptureWriter {
public:
    SqliteCaptureWriter(std::string path, CaptureId id, const CaptureMeta& meta, std::uint32_t batch)
        : path_(std::move(path)), id_(id), linktype_(meta.linktype),
          batch_size_(std::max<std::uint32_t>(batch, 1)),
          handoff_rows_(std::min(kHandoffRows, batch_size_)) {
        current_.packets.reserve(handoff_rows_);
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

    void append(const PacketView& p) override {
        current_.add(p);
        ++since_commit_;
        const bool commit = since_commit_ >= batch_size_;
        if (current_.packets.size() >= handoff_rows_ || commit) submit(commit);
    }

    void flush() override { submit(true); }

    void finish(CaptureState state, const std::string& sha256, const std::optional<LiveStats>& stats) override {
        drain();
        sqlite::Transaction tx(*db_);
        sqlite::Statement st(*db_,
                             "UPDATE captures SET state=?1, sha256=?2, finished_at=?3, received=?4,"
                             " dropped_kernel=?5, dropped_iface=?6 WHERE id=?7");
        st.bind(1, std::string_view(capture_state_name(state)));
        if (sha256.empty()) st.bind_null(2);
        else st.bind(2, std::string_view(sha256));
        st.bind(3, now_ns());
        if (stats) {
            st.bind(4, static_cast<std::int64_t>(stats->received));
            st.bind(5, static_cast<std::int64_t>(stats->dropped_kernel));
            st.bind(6, static_cast<std::int64_t>(stats->dropped_iface));
        }
        st.bind(7, id_);
        st.run();
        tx.commit();
        finished_ = true;
    }

    void fail(const std::string& reason, const std::string& sha256) override {
        finished_ = true;
        drain();
        sqlite::Transaction tx(*db_);
        sqlite::Statement st(*db_,
                             "UPDATE captures SET state='failed', error=?1, finished_at=?2, sha256=?4 WHERE id=?3");
        st.bind(1, std::string_view(reason)).bind(2, now_ns()).bind(3, id_);
        if (sha256.empty()) st.bind_null(4);
        else st.bind(4, std::string_view(sha256));
        st.run();
        tx.commit();
    }

private:
    void submit(bool commit) {
        rethrow_if_failed();
        if (commit) since_commit_ = 0;
        if (current_.packets.empty() && !commit) return;
        Job job;
        job.commit = commit;
        {
            std::unique_lock lock(mu_);
            space_.wait(lock, [&] { return queue_.size() < kQueueDepth || error_; });
            if (!free_.empty()) {
                job.batch = std::move(free_.back());
                free_.pop_back();
            }
            std::swap(job.batch, current_);
            queue_.push_back(std::move(job));
        }
        ready_.notify_one();
        current_.clear();
        current_.packets.reserve(handoff_rows_);
    }

    // Waits for the storage thread to commit everything and stop; opens the
    // writer's own connection for the final update.
    void drain() {
        if (thread_.joinable()) {
            submit(true);
            {
                std::lock_guard lock(mu_);
                queue_.push_back(Job{{}, true, true});
            }
            ready_.notify_one();
            thread_.join();
        }
        rethrow_if_failed();
        if (!db_) db_ = open_connection();
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

    std::unique_ptr<sqlite::Database> open_connection() const {
        auto db = std::make_unique<sqlite::Database>(path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX);
        sqlite3_busy_timeout(db->get(), 30000);
        db->exec("PRAGMA synchronous=NORMAL");
        return db;
    }

    // --- storage thread ---
    void run() {
        bool stop_taken = false;  // the last job is off the queue
        try {
            auto db = open_connection();
            sqlite::Statement insert_block(*db,
                "INSERT INTO blocks(id, capture_id, first_seq, packets, pages, ts_min, ts_max, page_index)"
                " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
            sqlite::Statement insert_page(*db,
                "INSERT INTO pages(id, data) VALUES(?1, ?2)");
            sqlite::Statement insert_posting(*db,
                "INSERT INTO postings(addr, first_block, blocks) VALUES(?1, ?2, ?3)");
            sqlite::Statement mark_indexed(*db,
                "UPDATE blocks SET indexed = 1 WHERE id BETWEEN ?1 AND ?2 AND capture_id = ?3");
            sqlite::Statement next_block(*db, "SELECT coalesce(max(id), 0) + 1 FROM blocks");
            sqlite::Statement update_capture(*db,
                "UPDATE captures SET packets=?1, ipv4=?2, ipv6=?3, other=?4, malformed=?5, unsupported=?6,"
                " bytes=?7, first_ts=?8, last_ts=?9 WHERE id=?10");

            PacketCounts counts;
            std::optional<std::int64_t> first_ts, last_ts;
            std::uint64_t next_seq = 0;
            PageEncoder encoder;
            std::unique_ptr<sqlite::Transaction> tx;

            // Postings of the blocks written since the last index segment.
            std::unordered_map<Address, PostingList, AddressHash> segment;
            std::int64_t segment_first = 0, segment_last = 0;
            std::uint32_t segment_blocks = 0;
            auto segment_started = std::chrono::steady_clock::now();

            auto write_postings = [&] {
                if (segment_blocks == 0) return;
                std::vector<const std::pair<const Address, PostingList>*> sorted;
                sorted.reserve(segment.size());
                for (const auto& entry : segment) sorted.push_back(&entry);
                std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) {
                    auto ka = address_key(a->first), kb = address_key(b->first);
                    return std::lexicographical_compare(ka.begin(), ka.end(), kb.begin(), kb.end());
                });
                for (const auto* entry : sorted) {
                    insert_posting.reset()
                        .bind_blob(1, address_key(entry->first))
                        .bind(2, segment_first)
                        .bind_blob(3, entry->second.bytes);
                    insert_posting.run();
                }
                mark_indexed.reset().bind(1, segment_first).bind(2, segment_last).bind(3, id_);
                mark_indexed.run();
                segment.clear();
                segment_blocks = 0;
                segment_started = std::chrono::steady_clock::now();
            };

            // The open block: batches in file order, not yet written.
            std::vector<PendingBatch> block;
            std::size_t block_rows = 0;
            std::vector<RowRef> rows;
            EncodedPage page;
            std::vector<PageMeta> page_index;
            AddressTable addresses;
            std::vector<std::vector<std::uint16_t>> pages_of;  // address number -> its pages in the block

            auto write_block = [&] {
                if (block_rows == 0) return;
                if (!tx) tx = std::make_unique<sqlite::Transaction>(*db);
                next_block.reset();
                next_block.step();
                const std::int64_t block_id = next_block.i64(0);
                next_block.reset();
                rows.clear();
                std::uint32_t index = 0;
                for (const PendingBatch& b : block)
                    for (const PendingPacket& p : b.packets) rows.push_back({&p, b.arena.data() + p.preview_off, index++});
                group_by_host(rows, addresses);
                std::int64_t ts_min = kMaxTs, ts_max = kMinTs;
                if (pages_of.size() < addresses.size()) pages_of.resize(addresses.size());
                for (std::uint32_t id = 0; id < addresses.size(); ++id) pages_of[id].clear();
                page_index.clear();
                std::uint16_t n = 0;
                for (std::size_t start = 0; start < rows.size(); start += kPageRows, ++n) {
                    const std::size_t len = std::min<std::size_t>(kPageRows, rows.size() - start);
                    encoder.encode(std::span<const RowRef>(rows).subspan(start, len), linktype_, page);
                    ts_min = std::min(ts_min, page.ts_min);
                    ts_max = std::max(ts_max, page.ts_max);
                    insert_page.reset().bind(1, block_id * kMaxPagesPerBlock + n).bind_blob(2, page.data);
                    insert_page.run();
                    page_index.push_back({page.packets, page.ts_min, page.ts_max});
                    for (std::uint32_t id : page.address_ids) pages_of[id].push_back(n);
                }
                insert_block.reset()
                    .bind(1, block_id)
                    .bind(2, id_)
                    .bind(3, static_cast<std::int64_t>(next_seq))
                    .bind(4, static_cast<std::int64_t>(rows.size()))
                    .bind(5, std::int64_t{n})
                    .bind(6, ts_min)
                    .bind(7, ts_max)
                    .bind_blob(8, encode_page_index(page_index, ts_min));
                insert_block.run();
                if (segment_blocks == 0) segment_first = block_id;
                segment_last = block_id;
                ++segment_blocks;
                for (std::uint32_t id = 0; id < addresses.size(); ++id)
                    segment[addresses[id]].add(block_id, segment_first, pages_of[id]);
                next_seq += rows.size();
                block_rows = 0;
                std::lock_guard lock(mu_);
                for (PendingBatch& b : block) {
                    b.clear();
                    if (free_.size() < 2 * kQueueDepth) free_.push_back(std::move(b));
                }
                block.clear();
            };

            auto commit = [&](bool last) {
                write_block();
                if (segment_blocks > 0 &&
                    (last || segment_blocks >= kSegmentBlocks ||
                     std::chrono::steady_clock::now() - segment_started > kSegmentMaxAge)) {
                    if (!tx) tx = std::make_unique<sqlite::Transaction>(*db);
                    write_postings();
                }
                if (!tx) return;
                update_capture.reset()
                    .bind(1, static_cast<std::int64_t>(counts.packets))
                    .bind(2, static_cast<std::int64_t>(counts.ipv4))
                    .bind(3, static_cast<std::int64_t>(counts.ipv6))
                    .bind(4, static_cast<std::int64_t>(counts.other))
                    .bind(5, static_cast<std::int64_t>(counts.malformed))
                    .bind(6, static_cast<std::int64_t>(counts.unsupported))
                    .bind(7, static_cast<std::int64_t>(counts.bytes))
                    .bind(8, first_ts)
                    .bind(9, last_ts)
                    .bind(10, id_);
                update_capture.run();
                tx->commit();
                tx.reset();
            };

            for (;;) {
                Job job;
                {
                    std::unique_lock lock(mu_);
                    ready_.wait(lock, [&] { return !queue_.empty(); });
                    job = std::move(queue_.front());
                    queue_.pop_front();
                }
                stop_taken = job.stop;
                space_.notify_one();
                if (!job.batch.packets.empty()) {
                    if (block_rows + job.batch.packets.size() > kMaxBlockRows) write_block();
                    for (const auto& p : job.batch.packets) {
                        counts.add(p.summary, p.wirelen);
                        first_ts = std::min(first_ts.value_or(kMaxTs), p.ts_ns);
                        last_ts = std::max(last_ts.value_or(kMinTs), p.ts_ns);
                    }
                    block_rows += job.batch.packets.size();
                    block.push_back(std::move(job.batch));
                }
                if (job.commit) commit(job.stop);
                if (job.stop) break;
            }
        } catch (...) {
            std::lock_guard lock(mu_);
            error_ = std::current_exception();
            space_.notify_all();
            // Drain the queue so that producers never wait on a dead thread.
        }
        // After a failure keep consuming until told to stop (unless the
        // failure was in the last job: nothing more will come, and waiting
        // would deadlock the thread that joins this one).
        for (;;) {
            std::unique_lock lock(mu_);
            if (!error_ || stop_taken) break;
            ready_.wait(lock, [&] { return !queue_.empty(); });
            bool stop = queue_.front().stop;
            queue_.pop_front();
            space_.notify_all();
            if (stop) break;
        }
    }

    static constexpr std::size_t kQueueDepth = 8;

    std::string path_;
    CaptureId id_;
    std::uint32_t linktype_;
    std::uint32_t batch_size_;
    std::uint32_t handoff_rows_;
    PendingBatch current_;
    std::uint64_t since_commit_ = 0;
    bool finished_ = false;
    std::unique_ptr<sqlite::Database> db_;  // for finish()/fail(), after the thread ends

    std::mutex mu_;
    std::condition_variable ready_, space_;
    std::deque<Job> queue_;
    std::vector<PendingBatch> free_;
    std::exception_ptr error_;
    std::thread thread_;
};

// ---------------------------------------------------------------------------
// Query

struct KeyRange {
    std::vector<std::uint8_t> lo, hi;
};

// Posting-key ranges covering a prefix: IPv4 keys are 4 bytes, IPv6 16.
std::vector<KeyRange> key_ranges(const Prefix& p) {
    std::vector<KeyRange> out;
    Address v4lo{}, v4hi{};
    v4lo.bytes[10] = v4lo.bytes[11] = 0xff;
    v4hi = v4lo;
    for (int i = 12; i < 16; ++i) v4hi.bytes[static_cast<std::size_t>(i)] = 0xff;
    const Address lo = std::max(p.first, v4lo), hi = std::min(p.last, v4hi);
    if (lo <= hi) {
        auto a = address_key(lo), b = address_key(hi);
        out.push_back({{a.begin(), a.end()}, {b.begin(), b.end()}});
    }
    if (!(p.first.is_v4() && p.last.is_v4()))
        out.push_back({{p.first.bytes.begin(), p.first.bytes.end()}, {p.last.bytes.begin(), p.last.bytes.end()}});
    return out;
}

class SqliteStore final : public Store {
public:
    SqliteStore(std::string path, std::unique_ptr<sqlite::Database> db)
        : path_(std::move(path)), db_(std::move(db)) {}

    std::vector<CaptureInfo> captures() override {
        sqlite::Statement st(*db_, fmt::format("SELECT {} FROM captures ORDER BY id", kCaptureColumns));
        std::vector<CaptureInfo> out;
        while (st.step()) out.push_back(read_capture(st));
        return out;
    }

    std::optional<CaptureInfo> capture(CaptureId id) override {
        sqlite::Statement st(*db_, fmt::format("SELECT {} FROM captures WHERE id=?1", kCaptureColumns));
        st.bind(1, id);
        if (st.step()) return read_capture(st);
        return std::nullopt;
    }

    std::optional<CaptureInfo> find_by_sha256(const std::string& sha256) override {
        sqlite::Statement st(
            *db_, fmt::format("SELECT {} FROM captures WHERE sha256=?1 AND state IN ('complete', 'failed') LIMIT 1",
                              kCaptureColumns));
        st.bind(1, std::string_view(sha256));
        if (st.step()) return read_capture(st);
        return std::nullopt;
    }

    bool has_file_of_size(std::uint64_t size) override {
        sqlite::Statement st(*db_, "SELECT 1 FROM captures WHERE file_size=?1 AND sha256 IS NOT NULL LIMIT 1");
        st.bind(1, static_cast<std::int64_t>(size));
        return st.step();
    }

    std::uint64_t remove_unfinished(const std::string& source) override {
        sqlite::Statement ids(*db_,
            "SELECT id, state, writer_pid FROM captures WHERE source=?1 AND live=0 AND sha256 IS NULL");
        ids.bind(1, std::string_view(source));
        std::vector<std::int64_t> victims;
        while (ids.step()) {
            // A running capture whose writer is alive is another ingest at
            // work, not a leftover of a crash.
            const auto pid = ids.opt_i64(2);
            const bool writer_alive = ids.text(1) == "running" && pid && process_alive(*pid);
            if (!writer_alive) victims.push_back(ids.i64(0));
        }
        ids.reset();
        for (std::int64_t id : victims) remove_capture(id);
        return victims.size();
    }

    void remove_capture(CaptureId id) override {
        sqlite::Transaction tx(*db_);
        sqlite::Statement blocks(*db_, "SELECT id FROM blocks WHERE capture_id=?1");
        blocks.bind(1, id);
        std::vector<std::int64_t> block_ids;
        while (blocks.step()) block_ids.push_back(blocks.i64(0));
        sqlite::Statement del_pages(*db_, "DELETE FROM pages WHERE id BETWEEN ?1 AND ?2");
        for (std::int64_t b : block_ids) {
            del_pages.reset().bind(1, b * kMaxPagesPerBlock).bind(2, b * kMaxPagesPerBlock + kMaxPagesPerBlock - 1);
            del_pages.run();
        }
        if (!block_ids.empty()) {
            // postings are keyed by address first: one pass over them.
            sqlite::Statement del_post(*db_,
                "DELETE FROM postings WHERE first_block IN (SELECT id FROM blocks WHERE capture_id=?1)");
            del_post.bind(1, id);
            del_post.run();
        }
        sqlite::Statement del_blocks(*db_, "DELETE FROM blocks WHERE capture_id=?1");
        del_blocks.bind(1, id);
        del_blocks.run();
        sqlite::Statement del_cap(*db_, "DELETE FROM captures WHERE id=?1");
        del_cap.bind(1, id);
        del_cap.run();
        tx.commit();
    }

    std::unique_ptr<CaptureWriter> begin_capture(const CaptureMeta& meta, std::uint32_t batch) override {
        sqlite::Transaction tx(*db_);
        sqlite::Statement st(*db_,
            "INSERT INTO captures(source, live, filter, file_size, linktype, snaplen, preview_bytes, state,"
            " started_at, writer_pid) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, 'running', ?8, ?9)");
        st.bind(1, std::string_view(meta.source))
            .bind(2, std::int64_t{meta.live ? 1 : 0})
            .bind(4, meta.file_size)
            .bind(5, std::int64_t{meta.linktype})
            .bind(6, std::int64_t{meta.snaplen})
            .bind(7, std::int64_t{meta.preview_bytes})
            .bind(8, now_ns())
            .bind(9, std::int64_t{::getpid()});
        if (meta.filter.empty()) st.bind_null(3);
        else st.bind(3, std::string_view(meta.filter));
        st.run();
        const CaptureId id = db_->last_insert_rowid();
        tx.commit();
        return std::make_unique<SqliteCaptureWriter>(path_, id, meta, batch);
    }

    void query(const Filter& filter, const RowCallback& on_row) override { query_pages(filter, std::nullopt, on_row); }

    std::int64_t max_block_id() override {
        sqlite::Statement st(*db_, "SELECT coalesce(max(id), 0) FROM blocks");
        return st.step() ? st.i64(0) : 0;
    }

    void query_blocks(const Filter& filter, const BlockRange& range, const RowCallback& on_row) override {
        if (range.through > range.after) query_pages(filter, range, on_row);
    }

    // query() over the packets of the blocks in range, or of all blocks.
    //
    // Blocks are read in order of their first timestamp. A block's matching
    // rows (from its candidate pages) are put in (ts, seq) order; rows go
    // out through a merge across the blocks read so far, each row as soon as
    // it is earlier than every row of the blocks not yet read. Blocks of one
    // capture rarely overlap in time, so one or two are held at once.
    void query_pages(const Filter& filter, const std::optional<BlockRange>& range, const RowCallback& on_row) {
        sqlite::ReadTransaction snapshot(*db_);
        const std::uint64_t limit = filter.limit.value_or(std::numeric_limits<std::uint64_t>::max());
        if (limit == 0) return;
        const auto hits = candidate_blocks(filter, range);
        std::vector<const std::pair<const std::int64_t, BlockHit>*> order;
        order.reserve(hits.size());
        for (const auto& entry : hits) order.push_back(&entry);
        std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
            return std::tie(a->second.ts_min, a->second.capture, a->first) <
                   std::tie(b->second.ts_min, b->second.capture, b->first);
        });
        const std::int64_t from = filter.from_ns.value_or(kMinTs), to = filter.to_ns.value_or(kMaxTs);

        struct LiveBlock {
            std::vector<std::unique_ptr<DecodedPage>> pages;  // the rows point into them
            std::vector<const PacketView*> rows;                // (ts, seq) order
            std::size_t next = 0;
        };
        struct Cursor {
            std::int64_t ts;
            CaptureId capture;
            std::uint64_t seq;
            LiveBlock* block;
        };
        auto later = [](const Cursor& a, const Cursor& b) {
            return std::tie(a.ts, a.capture, a.seq) > std::tie(b.ts, b.capture, b.seq);
        };
        std::priority_queue<Cursor, std::vector<Cursor>, decltype(later)> heap(later);
        std::deque<LiveBlock> live;  // stable addresses; spent blocks are recycled
        std::vector<LiveBlock*> spare;
        std::vector<std::unique_ptr<DecodedPage>> spare_pages;
        std::vector<const PacketView*> slots;  // file-order placement scratch
        std::uint64_t emitted = 0;
        bool stop = false;

        auto push_next = [&](LiveBlock* b) {
            if (b->next < b->rows.size()) {
                const PacketView* p = b->rows[b->next];
                heap.push({p->ts_ns, p->capture, p->seq, b});
                return;
            }
            for (auto& page : b->pages) spare_pages.push_back(std::move(page));
            b->pages.clear();
            b->rows.clear();
            b->next = 0;
            spare.push_back(b);
        };
        auto emit_top = [&] {
            const Cursor top = heap.top();
            heap.pop();
            if (!on_row(*top.block->rows[top.block->next++]) || ++emitted >= limit) stop = true;
            push_next(top.block);
        };
        auto emit_before = [&](std::int64_t bound) {
            while (!stop && !heap.empty() && heap.top().ts < bound) emit_top();
        };

        sqlite::Statement data(*db_, "SELECT data FROM pages WHERE id=?1");
        for (const auto* entry : order) {
            if (stop) break;
            const std::int64_t block_id = entry->first;
            const BlockHit& hit = entry->second;
            emit_before(hit.ts_min);
            if (stop) break;
            LiveBlock* b = nullptr;
            if (spare.empty()) {
                b = &live.emplace_back();
            } else {
                b = spare.back();
                spare.pop_back();
            }
            for (const auto& [n, m] : hit.pages) {
                if (m.ts_max < from || m.ts_min > to) continue;
                data.reset().bind(1, block_id * kMaxPagesPerBlock + n);
                if (!data.step()) continue;
                std::unique_ptr<DecodedPage> page;
                if (spare_pages.empty()) {
                    page = std::make_unique<DecodedPage>();
                } else {
                    page = std::move(spare_pages.back());
                    spare_pages.pop_back();
                }
                page->decode(data.blob(0), hit.capture, hit.first_seq, &filter);
                data.reset();
                if (page->packets().empty()) {
                    spare_pages.push_back(std::move(page));
                    continue;
                }
                for (const PacketView& p : page->packets()) b->rows.push_back(&p);
                b->pages.push_back(std::move(page));
            }
            order_rows(b->rows, hit.first_seq, hit.packets, slots);
            push_next(b);
        }
        while (!stop && !heap.empty()) emit_top();
    }

    // Puts a block's matching rows in (ts, seq) order. Rows come out of the
    // pages grouped by host; placed back in file order they are usually in
    // time order already (captures are written as packets arrive).
    static void order_rows(std::vector<const PacketView*>& rows, std::uint64_t first_seq, std::uint64_t packets,
                           std::vector<const PacketView*>& slots) {
        auto by_time = [](const PacketView* a, const PacketView* b) {
            return std::tie(a->ts_ns, a->seq) < std::tie(b->ts_ns, b->seq);
        };
        if (rows.size() < 2) return;
        if (rows.size() * 16 < packets || packets > kMaxBlockRows) {
            std::sort(rows.begin(), rows.end(), by_time);
            return;
        }
        slots.assign(packets, nullptr);
        for (const PacketView* p : rows) {
            const std::uint64_t k = p->seq - first_seq;
            if (k >= slots.size() || slots[k]) {  // a corrupt page; still answer in order
                std::sort(rows.begin(), rows.end(), by_time);
                return;
            }
            slots[k] = p;
        }
        std::size_t n = 0;
        for (const PacketView* p : slots)
            if (p) rows[n++] = p;
        if (!std::is_sorted(rows.begin(), rows.end(), by_time)) std::stable_sort(rows.begin(), rows.end(), by_time);
    }

    std::uint64_t count(const Filter& filter) override {
        sqlite::ReadTransaction snapshot(*db_);
        const std::int64_t from = filter.from_ns.value_or(kMinTs), to = filter.to_ns.value_or(kMaxTs);
        // Without per-packet conditions, blocks wholly inside the time range
        // count from their rows alone (one SUM over the blocks table), and
        // so do the pages of the others that are wholly inside it.
        const bool per_packet = filter.has_packet_conditions();
        std::uint64_t total = 0;
        std::map<std::int64_t, BlockHit> blocks;
        if (per_packet) {
            blocks = candidate_blocks(filter, std::nullopt);
        } else {
            const BlockConditions cond(filter, std::nullopt);
            sqlite::Statement inside(*db_, cond.sql(kInsideSumSql));
            cond.bind(inside);
            if (inside.step()) total = static_cast<std::uint64_t>(inside.i64(0));
            blocks = scan_blocks(cond, kStraddlingSql);
        }
        sqlite::Statement data(*db_, "SELECT data FROM pages WHERE id=?1");
        DecodedPage page;  // reused: its buffers keep their capacity
        for (const auto& [block_id, hit] : blocks) {
            for (const auto& [n, m] : hit.pages) {
                if (m.ts_max < from || m.ts_min > to) continue;
                if (!per_packet && m.ts_min >= from && m.ts_max <= to) {
                    total += m.packets;
                    continue;
                }
                data.reset().bind(1, block_id * kMaxPagesPerBlock + n);
                if (!data.step()) continue;
                page.decode(data.blob(0), hit.capture, hit.first_seq, &filter);
                data.reset();
                total += page.packets().size();
            }
        }
        if (filter.limit) total = std::min(total, *filter.limit);
        return total;
    }

    std::vector<std::string> explain(const Filter& filter) {
        std::vector<std::string> out;
        auto plan = [&](const std::string& sql, auto&& bind) {
            sqlite::Statement st(*db_, "EXPLAIN QUERY PLAN " + sql);
            bind(st);
            while (st.step()) out.push_back(st.text(3));
        };
        const BlockConditions c(filter, std::nullopt);
        if (const Prefix* addr = address_condition(filter)) {
            for (const auto& r : key_ranges(*addr))
                plan(kPostingsSql, [&](sqlite::Statement& st) { st.bind_blob(1, r.lo).bind_blob(2, r.hi); });
            plan(kBlockByIdSql, [&](sqlite::Statement& st) { st.bind(1, std::int64_t{1}); });
            plan(c.sql(kUnindexedSql), [&](sqlite::Statement& st) { c.bind(st); });
        } else {
            plan(c.sql(kBlocksByTimeSql), [&](sqlite::Statement& st) { c.bind(st); });
        }
        if (!filter.has_packet_conditions()) {  // what --count runs instead
            plan(c.sql(kInsideSumSql), [&](sqlite::Statement& st) { c.bind(st); });
            plan(c.sql(kStraddlingSql), [&](sqlite::Statement& st) { c.bind(st); });
        }
        return out;
    }

private:
    // Candidate blocks are found by one address condition through the
    // postings (plus the blocks not yet covered by postings), or through the
    // block time indexes. Other conditions are checked per packet.
    static constexpr const char* kPostingsSql =
        "SELECT p.first_block, p.blocks FROM postings p WHERE p.addr BETWEEN ?1 AND ?2";
    static constexpr const char* kBlockByIdSql =
        "SELECT b.capture_id, b.first_seq, b.ts_min, b.ts_max, b.page_index, b.packets FROM blocks b WHERE b.id = ?1";
    static constexpr const char* kUnindexedSql =
        "SELECT b.id, b.capture_id, b.first_seq, b.ts_min, b.ts_max, b.page_index, b.packets"
        " FROM blocks b INDEXED BY blocks_unindexed"
        " WHERE b.indexed = 0 AND b.ts_max >= ?1 AND b.ts_min <= ?2";
    static constexpr const char* kBlocksByTimeSql =
        "SELECT b.id, b.capture_id, b.first_seq, b.ts_min, b.ts_max, b.page_index, b.packets FROM blocks b"
        " WHERE b.ts_max >= ?1 AND b.ts_min <= ?2";
    // For counts: the packets of the blocks inside [?1, ?2], and the blocks
    // that overlap it without being inside.
    static constexpr const char* kInsideSumSql =
        "SELECT coalesce(sum(b.packets), 0) FROM blocks b WHERE b.ts_min >= ?1 AND b.ts_max <= ?2";
    static constexpr const char* kStraddlingSql =
        "SELECT b.id, b.capture_id, b.first_seq, b.ts_min, b.ts_max, b.page_index, b.packets FROM blocks b"
        " WHERE b.ts_max >= ?1 AND b.ts_min <= ?2 AND NOT (b.ts_min >= ?1 AND b.ts_max <= ?2)";

    // Time, capture and block-range conditions on blocks, as SQL and values.
    struct BlockConditions {
        std::int64_t from, to;
        std::optional<CaptureId> capture;
        std::optional<BlockRange> range;
        BlockConditions(const Filter& f, const std::optional<BlockRange>& r)
            : from(f.from_ns.value_or(kMinTs)), to(f.to_ns.value_or(kMaxTs)), capture(f.capture), range(r) {}
        [[nodiscard]] std::string sql(const char* base) const {
            std::string s = base;
            if (capture) s += " AND b.capture_id = ?3";
            if (range) s += " AND b.id > ?4 AND b.id <= ?5";
            return s;
        }
        void bind(sqlite::Statement& st) const {
            st.bind(1, from).bind(2, to);
            if (capture) st.bind(3, *capture);
            if (range) st.bind(4, range->after).bind(5, range->through);
        }
        [[nodiscard]] bool admits(std::int64_t id, CaptureId cap, std::int64_t ts_min, std::int64_t ts_max) const {
            return ts_max >= from && ts_min <= to && (!capture || cap == *capture) &&
                   (!range || (id > range->after && id <= range->through));
        }
    };

    static const Prefix* address_condition(const Filter& f) {
        for (const auto* prefix : {&f.src, &f.dst, &f.host})
            if (*prefix) return &**prefix;
        return nullptr;
    }

    // A block chosen for a query, with the pages of it to read.
    struct BlockHit {
        CaptureId capture = 0;
        std::uint64_t first_seq = 0;
        std::int64_t ts_min = 0, ts_max = 0;
        std::uint64_t packets = 0;
        std::vector<PageHit> pages;  // in page order
    };

    // Candidate blocks: columns 0-5 of a row are capture, first_seq,
    // ts_min, ts_max, page_index, packets.
    static BlockHit read_hit(const sqlite::Statement& st, int col, const PageSet& pages) {
        BlockHit h;
        h.capture = st.i64(col);
        h.first_seq = static_cast<std::uint64_t>(st.i64(col + 1));
        h.ts_min = st.i64(col + 2);
        h.ts_max = st.i64(col + 3);
        decode_page_index(st.blob(col + 4), h.ts_min, pages, h.pages);
        h.packets = static_cast<std::uint64_t>(st.i64(col + 5));
        return h;
    }

    // The blocks a statement (base plus cond) selects, with all their pages.
    std::map<std::int64_t, BlockHit> scan_blocks(const BlockConditions& cond, const char* base) {
        const PageSet all = PageSet{}.set();
        std::map<std::int64_t, BlockHit> blocks;
        sqlite::Statement st(*db_, cond.sql(base));
        cond.bind(st);
        while (st.step()) blocks[st.i64(0)] = read_hit(st, 1, all);
        return blocks;
    }

    std::map<std::int64_t, BlockHit> candidate_blocks(const Filter& f, const std::optional<BlockRange>& range) {
        std::map<std::int64_t, BlockHit> blocks;
        const BlockConditions cond(f, range);
        auto add_scanned = [&](const char* base) {
            for (auto& [id, hit] : scan_blocks(cond, base)) blocks.insert_or_assign(id, std::move(hit));
        };
        if (const Prefix* addr = address_condition(f)) {
            std::map<std::int64_t, PageSet> masks;
            sqlite::Statement postings(*db_, kPostingsSql);
            for (const auto& r : key_ranges(*addr)) {
                postings.reset().bind_blob(1, r.lo).bind_blob(2, r.hi);
                while (postings.step())
                    read_postings(postings.blob(1), postings.i64(0),
                                  [&](std::int64_t block, std::size_t page) { masks[block].set(page); });
            }
            sqlite::Statement block(*db_, kBlockByIdSql);
            for (const auto& [id, mask] : masks) {
                block.reset().bind(1, id);
                if (block.step() && cond.admits(id, block.i64(0), block.i64(2), block.i64(3)))
                    blocks[id] = read_hit(block, 0, mask);
            }
            add_scanned(kUnindexedSql);
        } else {
            add_scanned(kBlocksByTimeSql);
        }
        return blocks;
    }

    std::string path_;
    std::unique_ptr<sqlite::Database> db_;
};

bool file_exists(const std::string& path) {
    struct stat st{};
    return ::stat(path.c_str(), &st) == 0;
}

// "file:PATH?immutable=1" with PATH percent-encoded (RFC 3986, as SQLite
// decodes URI filenames).
std::string immutable_uri(const std::string& path) {
    std::string uri = "file:";
    for (const char ch : path) {
        const auto c = static_cast<unsigned char>(ch);
        if (std::isalnum(c) || c == '/' || c == '-' || c == '.' || c == '_' || c == '~') uri += static_cast<char>(c);
        else uri += fmt::format("%{:02X}", c);
    }
    return uri + "?immutable=1";
}

}  // namespace

std::vector<std::string> explain_candidates(Store& store, const Filter& filter) {
    return dynamic_cast<SqliteStore&>(store).explain(filter);
}

}  // namespace store

std::unique_ptr<Store> open_sqlite_store(const std::string& path, const StoreOptions& options) {
    using namespace store;
    const bool exists = file_exists(path);
    if (struct stat st{}; exists && ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
        throw DatabaseError(fmt::format("database '{}' is not a regular file", printable(path)));
    if (!exists && !options.create)
        throw DatabaseError(fmt::format("database '{}' does not exist (create it with 'capdb ingest')", printable(path)));
    if (!exists) {
        // Previews hold payload bytes: the database is private to its owner.
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST)
            throw DatabaseError(fmt::format("cannot create database '{}': {}", printable(path), std::strerror(errno)));
        if (fd >= 0) ::close(fd);
    }
    const int flags = options.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    auto db = std::make_unique<sqlite::Database>(path, flags | SQLITE_OPEN_NOMUTEX);
    sqlite3_busy_timeout(db->get(), 30000);

    // Identify the file before changing anything in it.
    auto pragma = [&](const char* sql) {
        sqlite::Statement st(*db, sql);
        return st.step() ? st.i64(0) : 0;
    };
    std::int64_t app_id = 0, version = 0, tables = 0;
    auto identify = [&] {
        app_id = pragma("PRAGMA application_id");
        version = pragma("PRAGMA user_version");
        // A capdb database got its application id with its tables: count
        // them only to tell an empty file from another application's.
        tables = app_id == kApplicationId ? 1 : pragma("SELECT count(*) FROM sqlite_schema");
    };
    try {
        identify();
    } catch (const DatabaseError& e) {
        // A WAL database in a directory this user cannot write, without its
        // -shm (a clean close removes -wal and -shm): SQLite cannot create
        // the shared-memory index. With no -wal file every commit is in the
        // database file itself, so it can be read as immutable.
        const int code = sqlite3_extended_errcode(db->get());
        const bool no_shm = code == SQLITE_READONLY_DIRECTORY || code == SQLITE_READONLY_CANTINIT ||
                            code == SQLITE_CANTOPEN;
        if (!options.read_only && (code & 0xff) == SQLITE_READONLY)
            throw DatabaseError(fmt::format("database '{}' is read-only: its file or directory is not writable",
                                            printable(path)));
        if (!(options.read_only && no_shm && !file_exists(path + "-wal")))
            throw DatabaseError(fmt::format("'{}' is not a usable capdb database ({})", printable(path), e.what()));
        db = std::make_unique<sqlite::Database>(immutable_uri(path),
                                                SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX);
        try {
            identify();
        } catch (const DatabaseError& e2) {
            throw DatabaseError(fmt::format("'{}' is not a usable capdb database ({})", printable(path), e2.what()));
        }
    }
    // SQLite opens a file it may not write read-only without saying so.
    if (!options.read_only && sqlite3_db_readonly(db->get(), "main") == 1)
        throw DatabaseError(fmt::format("database '{}' is read-only: its file or directory is not writable",
                                        printable(path)));
    if (tables > 0 && app_id != kApplicationId)
        throw DatabaseError(fmt::format("'{}' is an SQLite database but not a capdb database", printable(path)));
    if (version > kSchemaVersion)
        throw DatabaseError(fmt::format("database '{}' has schema version {}, written by a newer capdb; this capdb reads "
                                        "version {} and older",
                                        printable(path), version, kSchemaVersion));
    if (tables == 0) {
        if (options.read_only || !options.create)
            throw DatabaseError(fmt::format("database '{}' is empty, not a capdb database", printable(path)));
        db->exec("PRAGMA journal_mode=WAL");
        sqlite::Transaction tx(*db);
        db->exec(kSchema);
        db->exec(fmt::format("PRAGMA application_id={}; PRAGMA user_version={}", kApplicationId, kSchemaVersion));
        tx.commit();
    } else if (!options.read_only) {
        db->exec("PRAGMA journal_mode=WAL");
    }
    if (!options.read_only) db->exec("PRAGMA synchronous=NORMAL");
    if (version != 0 && version != kSchemaVersion && tables > 0)
        throw DatabaseError(fmt::format("database '{}' has unknown schema version {}", printable(path), version));
    if (options.read_only) {
        // A query reads each packet page once and re-reads only the upper
        // levels of the b-trees: a small page cache recycles its buffers
        // instead of touching fresh memory for every page read (each new
        // page of memory is a page fault, ~13 us on the VM this was measured
        // on; 2 MB of cache is 500 of them).
        db->exec("PRAGMA cache_size=32");
        // A quick structural check so that a damaged file fails here, clearly.
        pragma("SELECT count(*) FROM captures");
    }
    return std::make_unique<SqliteStore>(path, std::move(db));
}

}  // namespace capdb
