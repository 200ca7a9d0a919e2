#include "store/sqlite/sqlite_store.h"

#include <memory>
#include <string>
#include <utility>

#include "store/sqlite/catalog.h"
#include "store/sqlite/schema.h"
#include "store/sqlite/sqlite.h"
#include "store/sqlite/writer.h"

namespace capdb {

namespace store {

namespace {

class SqliteStore final : public Store {
public:
    SqliteStore(std::string path, std::unique_ptr<sqlite::Database> db)
        : path_(std::move(path)), db_(std::move(db)), catalog_(*db_), engine_(*db_) {}

    std::vector<CaptureInfo> captures() override { return catalog_.captures(); }
    std::optional<CaptureInfo> capture(CaptureId id) override { return catalog_.capture(id); }
    std::optional<CaptureInfo> find_by_sha256(const std::string& sha256) override {
        return catalog_.find_by_sha256(sha256);
    }
    bool has_file_of_size(std::uint64_t size) override { return catalog_.has_file_of_size(size); }
    std::uint64_t remove_unfinished(const std::string& source) override { return catalog_.remove_unfinished(source); }
    void remove_capture(CaptureId id) override { catalog_.remove_capture(id); }
    std::vector<InterfaceRecord> interfaces(CaptureId id) override { return catalog_.interfaces(id); }

    std::unique_ptr<CaptureWriter> begin_capture(const CaptureMeta& meta, std::uint32_t batch,
                                                 std::size_t queue_bytes) override {
        return make_capture_writer(path_, catalog_.add(meta), meta, batch, queue_bytes);
    }

    void query(const Filter& filter, const RowCallback& on_row) override {
        engine_.query(filter, std::nullopt, on_row);
    }
    std::uint64_t count(const Filter& filter) override { return engine_.count(filter); }
    std::int64_t max_block_id() override { return engine_.max_block_id(); }
    void query_blocks(const Filter& filter, const BlockRange& range, const RowCallback& on_row) override {
        if (range.through > range.after) engine_.query(filter, range, on_row);
    }

    [[nodiscard]] const QueryStats& last_stats() const noexcept { return engine_.last_stats(); }

private:
    std::string path_;
    std::unique_ptr<sqlite::Database> db_;
    Catalog catalog_;
    QueryEngine engine_;
};

}  // namespace

QueryStats last_query_stats(Store& store) { return dynamic_cast<SqliteStore&>(store).last_stats(); }

}  // namespace store

std::unique_ptr<Store> open_sqlite_store(const std::string& path, const StoreOptions& options) {
    auto db = store::open_database(path, options);
    return std::make_unique<store::SqliteStore>(path, std::move(db));
}

}  // namespace capdb
