#include "store/clickhouse/writer.h"

#include <algorithm>
#include <array>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "capdb/error.h"
#include "store/clickhouse/http.h"

namespace capdb::clickhouse {

std::uint64_t next_version(std::uint64_t last) noexcept {
    const auto now = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
    return std::max(now, last + 1);
}

namespace {

// Spent batches kept for spare_batch().
constexpr std::size_t kSpareBatches = 4;
// A server that refuses connections is tried again, waiting twice as long
// each time (from kFirstRetry, at most kMaxRetryWait), for this long.
constexpr std::chrono::milliseconds kRetryFor{30'000};
constexpr std::chrono::milliseconds kFirstRetry{100};
constexpr std::chrono::milliseconds kMaxRetryWait{2'000};

// http.post(), again while the server cannot be connected to (nothing was
// sent then), for at most kRetryFor.
void post_with_retry(Http& http, std::string_view query, std::span<const std::uint8_t> body) {
    const auto deadline = std::chrono::steady_clock::now() + kRetryFor;
    auto wait = kFirstRetry;
    for (;;) {
        try {
            http.post(query, body);
            return;
        } catch (const UnreachableError&) {
            if (std::chrono::steady_clock::now() + wait > deadline) throw;
        }
        std::this_thread::sleep_for(wait);
        wait = std::min(wait * 2, kMaxRetryWait);
    }
}

struct Job {
    PacketBatch batch;
    bool commit = false;
    bool stop = false;
};

// The storage thread's side: rows encoded since the last commit.
class Committer {
public:
    Committer(Http& http, CaptureRow& row) : http_(http), row_(row) {}

    void add(const PacketBatch& b) {
        RowWriter packets(packets_), addrs(addrs_), ifaces(ifaces_);
        for (const InterfaceRecord& i : b.interfaces) {
            ifaces.i64(row_.info.id);
            ifaces.u32(i.if_index);
            ifaces.string(i.name);
            ifaces.string(i.description);
            ifaces.u32(i.linktype);
            ifaces.u32(i.snaplen);
            ifaces.u32(i.ts_precision);
        }
        const bool numbered = b.seqs.size() == b.packets.size();
        for (std::size_t k = 0; k < b.packets.size(); ++k) {
            const PacketBatch::Packet& p = b.packets[k];
            const std::uint64_t seq = numbered ? b.seqs[k] : seq_++;
            write_packet(packets, row_.info.id, seq, block_, b, p);
            const Summary& s = p.summary;
            // A row per distinct address of the packet, in the order source,
            // destination, outer source, outer destination (its role);
            // plan.cc reads a row only when no earlier address matched.
            std::array<const Address*, 4> seen{};
            std::size_t n = 0;
            auto index = [&](const Address& a, std::uint8_t role) {
                for (std::size_t i = 0; i < n; ++i)
                    if (*seen[i] == a) return;
                seen[n++] = &a;
                addrs.fixed(a.bytes);
                addrs.u8(role);
                write_packet(addrs, row_.info.id, seq, block_, b, p);
            };
            if (s.network != Network::none || s.arp) {
                index(s.src, 0);
                index(s.dst, 1);
            }
            if (s.outer_network != Network::none) {
                index(s.outer_src, 2);
                index(s.outer_dst, 3);
            }
            counts_.add(s, p.wirelen);
            first_ = std::min(first_.value_or(p.ts_ns), p.ts_ns);
            last_ = std::max(last_.value_or(p.ts_ns), p.ts_ns);
        }
    }

    // Sends what was added, then the capture row that counts it.
    void commit() {
        const std::string& db = http_.location().database;
        if (!ifaces_.empty())
            post_with_retry(http_, fmt::format("INSERT INTO {}.interfaces FORMAT RowBinary", db), ifaces_);
        if (!packets_.empty()) {
            post_with_retry(http_, fmt::format("INSERT INTO {}.packets ({}) FORMAT RowBinary", db, kPacketColumns),
                            packets_);
            if (!addrs_.empty())
                post_with_retry(
                    http_, fmt::format("INSERT INTO {}.packets_by_addr ({}) FORMAT RowBinary", db, kAddressColumns),
                    addrs_);
            CaptureInfo& c = row_.info;
            c.counts += counts_;
            if (first_) {
                c.first_ts_ns = std::min(c.first_ts_ns.value_or(*first_), *first_);
                c.last_ts_ns = std::max(c.last_ts_ns.value_or(*last_), *last_);
            }
            write_row(http_, row_);
        }
        packets_.clear();
        addrs_.clear();
        ifaces_.clear();
        counts_ = {};
        first_.reset();
        last_.reset();
        block_ = static_cast<std::int64_t>(next_version(static_cast<std::uint64_t>(block_)));
    }

    static void write_row(Http& http, CaptureRow& row) {
        row.version = next_version(row.version);
        std::vector<std::uint8_t> bytes;
        RowWriter w(bytes);
        write_capture(w, row);
        post_with_retry(
            http,
            fmt::format("INSERT INTO {}.captures ({}) FORMAT RowBinary", http.location().database, kCaptureColumns),
            bytes);
    }

private:
    Http& http_;
    CaptureRow& row_;
    std::vector<std::uint8_t> packets_, addrs_, ifaces_;
    PacketCounts counts_;
    std::optional<std::int64_t> first_, last_;
    std::uint64_t seq_ = 0;
    // Commits get increasing block ids (ns since the epoch of the commit).
    std::int64_t block_ = static_cast<std::int64_t>(next_version(0));
};

class ClickHouseWriter final : public CaptureWriter {
public:
    ClickHouseWriter(const Location& where, std::chrono::milliseconds timeout, const CaptureRow& row,
                     std::uint32_t batch, std::size_t queue_bytes)
        : where_(where),
          timeout_(timeout),
          row_(row),
          batch_size_(std::max<std::uint32_t>(batch, 1)),
          queue_limit_(std::max<std::size_t>(queue_bytes, 1)) {
        // It keeps summaries and previews only: no packet store here.
        if (row_.info.meta.packets_at == PacketsAt::store) row_.info.meta.packets_at = PacketsAt::none;
        thread_ = std::thread([this] { run(); });
    }

    ~ClickHouseWriter() override {
        if (!finished_) {
            try {
                fail("ingest aborted", {});
            } catch (...) {
                // The committed packets stay, their capture unfinished; the
                // next ingest of the same file replaces it.
            }
        }
        stop_thread();
    }

    CaptureId id() const noexcept override { return row_.info.id; }

    void append(PacketBatch&& batch) override {
        if (batch.empty()) return;
        if (!current_.empty()) flush_current(false);
        since_commit_ += batch.size();
        submit(std::move(batch), since_commit_ >= batch_size_);
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
        row_.info.state = state;
        row_.info.sha256 = sha256;
        row_.info.live_stats = stats;
        finished_ = true;
        Committer::write_row(*http_, row_);
    }

    void fail(const std::string& reason, const std::string& sha256) override {
        finished_ = true;
        drain();
        row_.info.state = CaptureState::failed;
        row_.info.error = reason;
        row_.info.sha256 = sha256;
        Committer::write_row(*http_, row_);
    }

private:
    void flush_current(bool commit) {
        PacketBatch b = std::exchange(current_, {});
        since_commit_ += b.size();
        if (since_commit_ >= batch_size_) commit = true;
        submit(std::move(b), commit);
    }

    void submit(PacketBatch&& batch, bool commit) {
        rethrow_if_failed();
        if (commit) since_commit_ = 0;
        if (batch.empty() && !commit) return;
        const std::size_t bytes = batch.empty() ? 0 : batch.bytes();
        {
            std::unique_lock lock(mu_);
            if (bytes > 0) space_.wait(lock, [&] { return queued_bytes_ < queue_limit_ || queue_.empty() || error_; });
            queued_bytes_ += bytes;
            queue_.push_back(Job{std::move(batch), commit, false});
        }
        ready_.notify_one();
    }

    // Waits for the storage thread to commit everything and stop.
    void drain() {
        if (thread_.joinable()) {
            flush_current(true);
            stop_thread();
        }
        rethrow_if_failed();
        if (!http_) http_ = std::make_unique<Http>(where_, timeout_);
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
        bool stop_taken = false;
        try {
            Http http(where_, timeout_);
            Committer committer(http, row_);
            for (;;) {
                Job job = take();
                stop_taken = job.stop;
                committer.add(job.batch);
                if (job.commit) committer.commit();
                if (!job.batch.empty()) {
                    job.batch.clear();
                    std::lock_guard lock(mu_);
                    if (free_.size() < kSpareBatches) free_.push_back(std::move(job.batch));
                }
                if (job.stop) break;
            }
        } catch (const DatabaseError& e) {
            // Say what stays: the packets of the commits that completed.
            std::lock_guard lock(mu_);
            error_ = std::make_exception_ptr(DatabaseError(fmt::format(
                "{}; capture {} keeps its first {} packets, committed before; ingesting the file again replaces it "
                "whole",
                e.what(), row_.info.id, row_.info.counts.packets)));
            space_.notify_all();
        } catch (...) {
            std::lock_guard lock(mu_);
            error_ = std::current_exception();
            space_.notify_all();
        }
        for (;;) {
            {
                std::lock_guard lock(mu_);
                if (!error_ || stop_taken) break;
            }
            if (take().stop) break;
        }
    }

    Location where_;
    std::chrono::milliseconds timeout_;
    // Written by the storage thread until it stops, then by finish()/fail().
    CaptureRow row_;
    std::uint32_t batch_size_;
    std::size_t queue_limit_;
    PacketBatch current_;
    std::uint64_t since_commit_ = 0;
    bool finished_ = false;
    std::unique_ptr<Http> http_;  // for finish()/fail(), after the thread ends

    std::mutex mu_;
    std::condition_variable ready_, space_;
    std::deque<Job> queue_;
    std::size_t queued_bytes_ = 0;
    std::vector<PacketBatch> free_;
    std::exception_ptr error_;
    std::thread thread_;
};

}  // namespace

std::unique_ptr<CaptureWriter> make_writer(const Location& where, std::chrono::milliseconds timeout,
                                           const CaptureRow& row, std::uint32_t batch, std::size_t queue_bytes) {
    return std::make_unique<ClickHouseWriter>(where, timeout, row, batch, queue_bytes);
}

}  // namespace capdb::clickhouse
