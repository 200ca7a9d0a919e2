// Thin RAII wrapper over the SQLite C API: a move-only database owner, a
// prepared statement that resets on reuse, and a transaction that rolls back
// unless committed. Errors become DatabaseError naming the database path.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace capdb::sqlite {

struct DbCloser {
    void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
    void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};

class Database;

class Statement {
public:
    Statement() = default;
    Statement(Database& db, std::string_view sql);

    // Resets the statement and clears bindings; call before binding anew.
    Statement& reset() noexcept;
    Statement& bind(int index, std::int64_t v);
    Statement& bind(int index, double v);
    Statement& bind(int index, std::string_view text);
    Statement& bind_blob(int index, std::span<const std::uint8_t> blob);
    Statement& bind_null(int index);
    template <class T>
    Statement& bind(int index, const std::optional<T>& v) {
        if (v) return bind(index, static_cast<std::int64_t>(*v));
        return bind_null(index);
    }

    // Steps once: true when a row is available, false when done.
    bool step();
    // Steps to completion (for statements that return no rows).
    void run();

    [[nodiscard]] std::int64_t i64(int col) const noexcept { return sqlite3_column_int64(stmt_.get(), col); }
    [[nodiscard]] bool is_null(int col) const noexcept { return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL; }
    [[nodiscard]] std::optional<std::int64_t> opt_i64(int col) const noexcept {
        if (is_null(col)) return std::nullopt;
        return i64(col);
    }
    [[nodiscard]] std::string text(int col) const;
    [[nodiscard]] std::span<const std::uint8_t> blob(int col) const noexcept;
    [[nodiscard]] sqlite3_stmt* get() const noexcept { return stmt_.get(); }

private:
    Database* db_ = nullptr;
    std::unique_ptr<sqlite3_stmt, StmtFinalizer> stmt_;
};

class Database {
public:
    // flags: SQLITE_OPEN_* flags. Throws DatabaseError naming path.
    Database(const std::string& path, int flags);

    void exec(std::string_view sql);
    [[nodiscard]] sqlite3* get() const noexcept { return db_.get(); }
    [[nodiscard]] const std::string& path() const noexcept { return path_; }
    [[nodiscard]] std::int64_t last_insert_rowid() const noexcept { return sqlite3_last_insert_rowid(db_.get()); }
    // Throws DatabaseError for an SQLite result code, with context.
    [[noreturn]] void fail(int rc, std::string_view what) const;

private:
    std::string path_;
    std::unique_ptr<sqlite3, DbCloser> db_;
};

// BEGIN IMMEDIATE on construction; ROLLBACK in the destructor unless commit().
class Transaction {
public:
    explicit Transaction(Database& db);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    void commit();

private:
    Database& db_;
    bool done_ = false;
};

// A read transaction (BEGIN DEFERRED): one consistent snapshot, and one
// lock for many statements. Ends in the destructor.
class ReadTransaction {
public:
    explicit ReadTransaction(Database& db) : db_(db) { db_.exec("BEGIN DEFERRED"); }
    ~ReadTransaction() { sqlite3_exec(db_.get(), "COMMIT", nullptr, nullptr, nullptr); }
    ReadTransaction(const ReadTransaction&) = delete;
    ReadTransaction& operator=(const ReadTransaction&) = delete;

private:
    Database& db_;
};

}  // namespace capdb::sqlite
