#include "store/sqlite/sqlite_store.h"

#include <memory>
#include <string>
#include <utility>

#include "capdb/verify.h"
#include "store/packets/segment_store.h"
#include "store/sqlite/catalog.h"
#include "store/sqlite/retention.h"
#include "store/sqlite/schema.h"
#include "store/sqlite/segments.h"
#include "store/sqlite/sqlite.h"
#include "store/sqlite/writer.h"

namespace capdb {

namespace store {

namespace {

class SqliteStore final : public Store {
public:
    SqliteStore(std::string path, std::unique_ptr<sqlite::Database> db, const StoreOptions& options)
        : path_(std::move(path)),
          packet_dir_(packet_dir_of(path_)),
          segment_bytes_(options.segment_bytes),
          max_bytes_(options.max_bytes),
          db_(std::move(db)),
          catalog_(*db_),
          engine_(*db_, options.on_damaged),
          retention_(*db_, path_) {
        if (!options.read_only) recover_packet_store(*db_, packet_dir_);
    }

    std::vector<CaptureInfo> captures() override { return catalog_.captures(); }
    std::optional<CaptureInfo> capture(CaptureId id) override { return catalog_.capture(id); }
    std::optional<CaptureInfo> find_by_sha256(const std::string& sha256) override {
        return catalog_.find_by_sha256(sha256);
    }
    bool has_file_of_size(std::uint64_t size) override { return catalog_.has_file_of_size(size); }
    std::uint64_t remove_unfinished(const std::string& source) override {
        const std::uint64_t n = catalog_.remove_unfinished(source);
        // Their segment files (with --copy) now have no rows.
        if (n > 0) {
            const auto lock = PacketLock::acquire(packet_dir_, PacketLock::Mode::exclusive);
            recover_packet_store(*db_, packet_dir_);
        }
        return n;
    }
    void remove_capture(CaptureId id) override {
        const auto names = segment_names(*db_, id);
        catalog_.remove_capture(id);
        unlink_segments(packet_dir_, names);
    }
    std::vector<CaptureId> remove_damaged(const std::string& sha256) override {
        std::vector<CaptureId> ids, removed;
        {
            sqlite::Statement st(*db_, "SELECT id FROM captures WHERE sha256=?1");
            st.bind(1, std::string_view(sha256));
            while (st.step()) ids.push_back(st.i64(0));
        }
        for (CaptureId id : ids) {
            bool damaged = false;
            verify_database(path_, {.capture = id, .files = false, .sqlite_check = false},
                            [&](const VerifyProblem& p) { damaged |= p.capture == id; });
            if (!damaged) continue;
            remove_capture(id);
            removed.push_back(id);
        }
        return removed;
    }
    std::vector<InterfaceRecord> interfaces(CaptureId id) override { return catalog_.interfaces(id); }

    std::unique_ptr<CaptureWriter> begin_capture(const CaptureMeta& meta, std::uint32_t batch,
                                                 std::size_t queue_bytes) override {
        return make_capture_writer(path_, catalog_.add(meta), meta, batch, queue_bytes, segment_bytes_, max_bytes_);
    }
    std::optional<ResumePoint> resume_point(const std::string& source) override {
        return catalog_.resume_point(source);
    }
    void set_resume_point(CaptureId id, std::uint64_t bytes, const std::string& sha256) override {
        catalog_.set_resume_point(id, bytes, sha256);
    }
    std::unique_ptr<CaptureWriter> resume_capture(const CaptureInfo& capture, const CaptureMeta& meta,
                                                  std::uint32_t batch, std::size_t queue_bytes) override {
        catalog_.reopen(capture.id, meta);
        return make_capture_writer(path_, capture.id, meta, batch, queue_bytes, segment_bytes_, std::nullopt,
                                   {capture.counts, capture.first_ts_ns, capture.last_ts_ns});
    }
    void relocate_capture(CaptureId id, const std::string& source, std::int64_t file_mtime_ns) override {
        catalog_.relocate(id, source, file_mtime_ns);
    }

    void query(const Filter& filter, const RowCallback& on_row) override {
        engine_.query(filter, std::nullopt, on_row);
    }
    std::uint64_t count(const Filter& filter) override { return engine_.count(filter); }
    void scan(const Filter& filter, const RowCallback& on_row) override { engine_.scan(filter, on_row); }
    void scan_aggregates(const Filter& filter, const AggregatesCallback& on_block, const RowCallback& on_row) override {
        engine_.scan_aggregates(filter, on_block, on_row);
    }
    std::int64_t max_block_id() override { return engine_.max_block_id(); }
    void query_blocks(const Filter& filter, const BlockRange& range, const RowCallback& on_row) override {
        if (range.through > range.after) engine_.query(filter, range, on_row);
    }

    PruneResult prune(const PruneRequest& request) override { return retention_.prune(request); }
    StoreSize size() override { return retention_.size(); }
    VacuumResult vacuum() override { return retention_.vacuum(); }

    std::unique_ptr<PacketReadHold> hold_packets() override {
        return PacketLock::acquire(packet_dir_, PacketLock::Mode::shared);
    }
    std::vector<SegmentInfo> segments(CaptureId id) override { return capture_segments(*db_, packet_dir_, id); }

    [[nodiscard]] const QueryStats& last_stats() const noexcept { return engine_.last_stats(); }

private:
    std::string path_;
    std::string packet_dir_;
    std::uint64_t segment_bytes_;
    std::optional<std::uint64_t> max_bytes_;
    std::unique_ptr<sqlite::Database> db_;
    Catalog catalog_;
    QueryEngine engine_;
    Retention retention_;
};

}  // namespace

QueryStats last_query_stats(Store& store) { return dynamic_cast<SqliteStore&>(store).last_stats(); }

}  // namespace store

std::unique_ptr<Store> open_sqlite_store(const std::string& path, const StoreOptions& options) {
    auto db = store::open_database(path, options);
    return std::make_unique<store::SqliteStore>(path, std::move(db), options);
}

}  // namespace capdb
