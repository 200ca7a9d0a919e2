#include "store/sqlite/sqlite.h"

#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "capdb/error.h"
#include "store/format/checksum.h"
#include "util/crc32c.h"

namespace capdb::sqlite {

namespace {

// capdb_check(v, ...): the CRC32C of the values, each as its type code then
// its content (integers and reals 8 bytes, text and blobs their length then
// their bytes), as an integer. The checksum of a row (DESIGN.md, "Checksums").
void check_function(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
    std::uint32_t c = 0;
    for (int i = 0; i < argc; ++i) {
        sqlite3_value* v = argv[i];
        const int type = sqlite3_value_type(v);
        const auto tag = static_cast<std::uint8_t>(type);
        c = crc32c(std::span(&tag, 1), c);
        if (type == SQLITE_INTEGER) {
            c = crc32c(store::key_bytes(sqlite3_value_int64(v)), c);
        } else if (type == SQLITE_FLOAT) {
            const double d = sqlite3_value_double(v);
            std::int64_t bits = 0;
            std::memcpy(&bits, &d, sizeof bits);
            c = crc32c(store::key_bytes(bits), c);
        } else if (type == SQLITE_TEXT || type == SQLITE_BLOB) {
            const auto* p = static_cast<const std::uint8_t*>(
                type == SQLITE_TEXT ? static_cast<const void*>(sqlite3_value_text(v)) : sqlite3_value_blob(v));
            const auto n = static_cast<std::size_t>(sqlite3_value_bytes(v));
            c = crc32c(store::key_bytes(static_cast<std::int64_t>(n)), c);
            if (n > 0) c = crc32c(std::span(p, n), c);
        }
    }
    sqlite3_result_int64(ctx, c);
}

// capdb_trailer(key..., body): the 4-byte trailer of a stored blob: the
// little-endian CRC32C of integers as 8 little-endian bytes and blobs as
// their bytes, in order (store/format/checksum.h).
void trailer_function(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
    std::uint32_t c = 0;
    for (int i = 0; i < argc; ++i) {
        sqlite3_value* v = argv[i];
        if (sqlite3_value_type(v) == SQLITE_INTEGER) {
            c = crc32c(store::key_bytes(sqlite3_value_int64(v)), c);
        } else {
            const auto* p = static_cast<const std::uint8_t*>(sqlite3_value_blob(v));
            const auto n = static_cast<std::size_t>(sqlite3_value_bytes(v));
            if (n > 0) c = crc32c(std::span(p, n), c);
        }
    }
    std::vector<std::uint8_t> t;
    store::append_trailer(t, c);
    sqlite3_result_blob(ctx, t.data(), static_cast<int>(t.size()), SQLITE_TRANSIENT);
}

}  // namespace

Database::Database(const std::string& path, int flags) : path_(path) {
    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
    db_.reset(raw);  // owned even when the open failed
    if (rc != SQLITE_OK) {
        std::string msg = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
        throw DatabaseError(fmt::format("cannot open database '{}': {}", printable(path), msg));
    }
    sqlite3_extended_result_codes(raw, 1);
    constexpr int kFlags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
    sqlite3_create_function_v2(raw, "capdb_check", -1, kFlags, nullptr, check_function, nullptr, nullptr, nullptr);
    sqlite3_create_function_v2(raw, "capdb_trailer", -1, kFlags, nullptr, trailer_function, nullptr, nullptr, nullptr);
}

void Database::fail(int rc, std::string_view what) const {
    std::string msg = db_ ? sqlite3_errmsg(db_.get()) : sqlite3_errstr(rc);
    int primary = rc & 0xff;
    if (primary == SQLITE_FULL) msg = "database or disk is full";
    throw DatabaseError(fmt::format("database '{}': {}: {}", printable(path_), what, msg));
}

void Database::exec(std::string_view sql) {
    std::string s(sql);
    char* err = nullptr;
    int rc = sqlite3_exec(db_.get(), s.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        std::string msg = err ? err : sqlite3_errstr(rc);
        sqlite3_free(err);
        if ((rc & 0xff) == SQLITE_FULL) msg = "database or disk is full";
        throw DatabaseError(fmt::format("database '{}': {}", printable(path_), msg));
    }
}

Statement::Statement(Database& db, std::string_view sql) : db_(&db) {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v3(db.get(), sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &raw,
                                nullptr);
    stmt_.reset(raw);
    if (rc != SQLITE_OK) db.fail(rc, "prepare");
}

Statement& Statement::reset() noexcept {
    sqlite3_reset(stmt_.get());
    sqlite3_clear_bindings(stmt_.get());
    return *this;
}

Statement& Statement::bind(int index, std::int64_t v) {
    int rc = sqlite3_bind_int64(stmt_.get(), index, v);
    if (rc != SQLITE_OK) db_->fail(rc, "bind");
    return *this;
}
Statement& Statement::bind(int index, double v) {
    int rc = sqlite3_bind_double(stmt_.get(), index, v);
    if (rc != SQLITE_OK) db_->fail(rc, "bind");
    return *this;
}
Statement& Statement::bind(int index, std::string_view text) {
    int rc = sqlite3_bind_text64(stmt_.get(), index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    if (rc != SQLITE_OK) db_->fail(rc, "bind");
    return *this;
}
Statement& Statement::bind_blob(int index, std::span<const std::uint8_t> blob) {
    // A zero-length blob must still bind as a blob, not NULL.
    static const std::uint8_t empty = 0;
    const void* data = blob.empty() ? &empty : blob.data();
    int rc = sqlite3_bind_blob64(stmt_.get(), index, data, blob.size(), SQLITE_TRANSIENT);
    if (rc != SQLITE_OK) db_->fail(rc, "bind");
    return *this;
}
Statement& Statement::bind_null(int index) {
    int rc = sqlite3_bind_null(stmt_.get(), index);
    if (rc != SQLITE_OK) db_->fail(rc, "bind");
    return *this;
}

bool Statement::step() {
    int rc = sqlite3_step(stmt_.get());
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    sqlite3_reset(stmt_.get());
    db_->fail(rc, "step");
}

void Statement::run() {
    while (step()) {}
    sqlite3_reset(stmt_.get());
}

std::string Statement::text(int col) const {
    const unsigned char* t = sqlite3_column_text(stmt_.get(), col);
    if (!t) return {};
    return std::string(reinterpret_cast<const char*>(t),
                       static_cast<std::size_t>(sqlite3_column_bytes(stmt_.get(), col)));
}

std::span<const std::uint8_t> Statement::blob(int col) const noexcept {
    const void* b = sqlite3_column_blob(stmt_.get(), col);
    int n = sqlite3_column_bytes(stmt_.get(), col);
    if (!b || n <= 0) return {};
    return {static_cast<const std::uint8_t*>(b), static_cast<std::size_t>(n)};
}

Transaction::Transaction(Database& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
    if (!done_) sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
    db_.exec("COMMIT");
    done_ = true;
}

}  // namespace capdb::sqlite
