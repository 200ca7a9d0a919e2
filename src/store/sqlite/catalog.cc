#include "store/sqlite/catalog.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include <fmt/format.h>

#include "capdb/error.h"
#include "store/format/block_layout.h"
#include "store/sqlite/retention.h"
#include "store/sqlite/schema.h"

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

const char* packets_at_name(PacketsAt p) noexcept {
    switch (p) {
        case PacketsAt::file: return "file";
        case PacketsAt::store: return "store";
        case PacketsAt::none: return "none";
    }
    return "?";
}

void PacketCounts::add(const Summary& s, std::uint32_t wirelen) noexcept {
    // Each packet counts in exactly one kind.
    ++packets;
    bytes += wirelen;
    if (s.status == Status::unsupported)
        ++unsupported;
    else if (s.status == Status::truncated || s.status == Status::malformed || s.status == Status::too_deep)
        ++malformed;
    else if (s.network == Network::ipv4)
        ++ipv4;
    else if (s.network == Network::ipv6)
        ++ipv6;
    else
        ++other;
}

namespace store {

namespace {

CaptureState parse_state(const std::string& s) {
    if (s == "complete") return CaptureState::complete;
    if (s == "failed") return CaptureState::failed;
    if (s == "interrupted") return CaptureState::interrupted;
    return CaptureState::running;
}

const char* const kCaptureColumns =
    "id, source, live, filter, file_size, sha256, linktype, snaplen, preview_bytes, state, error, started_at,"
    " first_ts, last_ts, packets, ipv4, ipv6, other, malformed, unsupported, bytes, received, dropped_kernel,"
    " dropped_iface, writer_pid, {}, {}, {}, {}";
const char* const kFileIdentityColumns = "file_mtime, ts_precision";
const char* const kNoFileIdentity = "NULL, NULL";
// Column 29: 1 when the row matches its checksum (always, without checksums).
const std::string kCaptureIntact = fmt::format("capdb_check({}) IS checksum", kCaptureSealed);
const char* const kStoreBytes = "(SELECT coalesce(sum(bytes), 0) FROM segments WHERE capture_id = captures.id)";

// Whether the process that writes a running capture still exists.
bool process_alive(std::int64_t pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

// A row of kCaptureColumns. Throws DatabaseError naming the capture when
// the row does not match its checksum.
CaptureInfo read_capture(const sqlite::Database& db, const sqlite::Statement& st) {
    CaptureInfo c;
    c.id = st.i64(0);
    if (st.i64(29) == 0)
        throw DatabaseError(
            fmt::format("database '{}': capture {}: its captures row is damaged (checksum mismatch);"
                        " see 'capdb verify'",
                        printable(db.path()), c.id));
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
    c.meta.file_mtime_ns = st.opt_i64(25);
    if (auto v = st.opt_i64(26)) c.meta.ts_precision = static_cast<std::uint32_t>(*v);
    // NULL (a capture from before schema 4): its original file when it had
    // one, else nowhere.
    const std::string at =
        st.is_null(27) ? std::string(c.meta.live || !c.meta.file_size ? "none" : "file") : st.text(27);
    c.meta.packets_at = at == "store" ? PacketsAt::store : at == "none" ? PacketsAt::none : PacketsAt::file;
    c.store_bytes = static_cast<std::uint64_t>(st.i64(28));
    return c;
}

}  // namespace

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

Catalog::Catalog(sqlite::Database& db) : db_(db) {
    sqlite::Statement st(db_, "SELECT 1 FROM pragma_table_info('captures') WHERE name='file_mtime'");
    has_file_identity_ = st.step();
    sqlite::Statement at(db_, "SELECT 1 FROM pragma_table_info('captures') WHERE name='packets_at'");
    has_packets_at_ = at.step();
    sqlite::Statement seg(db_, "SELECT 1 FROM sqlite_master WHERE type='table' AND name='segments'");
    has_segments_ = seg.step();
    sqlite::Statement ifaces(db_, "SELECT 1 FROM sqlite_master WHERE type='table' AND name='interfaces'");
    has_interfaces_ = ifaces.step();
    has_checksums_ = has_checksums(db_);
}

void Catalog::seal(CaptureId id) {
    if (has_checksums_) seal_capture(db_, id);
}

std::vector<InterfaceRecord> Catalog::interfaces(CaptureId id) {
    std::vector<InterfaceRecord> out;
    if (!has_interfaces_) return out;  // schema 2 or 3, read-only
    sqlite::Statement st(db_, fmt::format("SELECT if_index, name, description, linktype, snaplen, ts_precision, {}"
                                          " FROM interfaces WHERE capture_id=?1 ORDER BY if_index",
                                          has_checksums_ ? fmt::format("capdb_check({}) IS checksum", kInterfaceSealed)
                                                         : std::string("1")));
    st.bind(1, id);
    while (st.step()) {
        if (st.i64(6) == 0)
            throw DatabaseError(
                fmt::format("database '{}': capture {}: interfaces row {} is damaged (checksum"
                            " mismatch); see 'capdb verify'",
                            printable(db_.path()), id, st.i64(0)));
        InterfaceRecord r;
        r.if_index = static_cast<std::uint32_t>(st.i64(0));
        r.name = st.text(1);  // NULL reads as empty
        r.description = st.text(2);
        r.linktype = static_cast<std::uint32_t>(st.i64(3));
        r.snaplen = static_cast<std::uint32_t>(st.opt_i64(4).value_or(0));
        r.ts_precision = static_cast<std::uint32_t>(st.opt_i64(5).value_or(6));
        out.push_back(std::move(r));
    }
    return out;
}

std::vector<LiveSample> Catalog::live_samples(CaptureId id) {
    std::vector<LiveSample> out;
    if (!has_live_stats(db_)) return out;  // before schema 7, read-only
    sqlite::Statement st(db_, fmt::format("SELECT ts, received, dropped, capdb_check({}) IS checksum FROM live_stats"
                                          " WHERE capture_id=?1 ORDER BY ts",
                                          kLiveStatsSealed));
    st.bind(1, id);
    while (st.step()) {
        if (st.i64(3) == 0)
            throw DatabaseError(
                fmt::format("database '{}': capture {}: live_stats row at {} is damaged (checksum"
                            " mismatch); see 'capdb verify'",
                            printable(db_.path()), id, st.i64(0)));
        out.push_back({st.i64(0), static_cast<std::uint64_t>(st.i64(1)), static_cast<std::uint64_t>(st.i64(2))});
    }
    return out;
}

std::string Catalog::select_captures() const {
    return fmt::format(fmt::runtime(fmt::format("SELECT {} FROM captures", kCaptureColumns)),
                       has_file_identity_ ? kFileIdentityColumns : kNoFileIdentity,
                       has_packets_at_ ? "packets_at" : "NULL", has_segments_ ? kStoreBytes : "0",
                       has_checksums_ ? kCaptureIntact : "1");
}

std::vector<CaptureInfo> Catalog::captures() {
    sqlite::Statement st(db_, select_captures() + " ORDER BY id");
    std::vector<CaptureInfo> out;
    while (st.step()) out.push_back(read_capture(db_, st));
    return out;
}

std::optional<CaptureInfo> Catalog::capture(CaptureId id) {
    sqlite::Statement st(db_, select_captures() + " WHERE id=?1");
    st.bind(1, id);
    if (st.step()) return read_capture(db_, st);
    return std::nullopt;
}

std::optional<CaptureInfo> Catalog::find_by_sha256(const std::string& sha256) {
    sqlite::Statement st(db_, select_captures() + " WHERE sha256=?1 AND state IN ('complete', 'failed') LIMIT 1");
    st.bind(1, std::string_view(sha256));
    if (st.step()) return read_capture(db_, st);
    return std::nullopt;
}

bool Catalog::has_file_of_size(std::uint64_t size) {
    sqlite::Statement st(db_, "SELECT 1 FROM captures WHERE file_size=?1 AND sha256 IS NOT NULL LIMIT 1");
    st.bind(1, static_cast<std::int64_t>(size));
    return st.step();
}

std::uint64_t Catalog::remove_unfinished(const std::string& source) {
    sqlite::Statement ids(db_,
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

void Catalog::remove_capture(CaptureId id) {
    sqlite::Transaction tx(db_);
    raise_high_water(db_);
    sqlite::Statement blocks(db_, "SELECT id FROM blocks WHERE capture_id=?1");
    blocks.bind(1, id);
    std::vector<std::int64_t> block_ids;
    while (blocks.step()) block_ids.push_back(blocks.i64(0));
    sqlite::Statement del_pages(db_, "DELETE FROM pages WHERE id BETWEEN ?1 AND ?2");
    for (std::int64_t b : block_ids) {
        del_pages.reset().bind(1, b * kMaxPagesPerBlock).bind(2, b * kMaxPagesPerBlock + kMaxPagesPerBlock - 1);
        del_pages.run();
    }
    if (!block_ids.empty()) {
        // postings are keyed by address first: one pass over them.
        sqlite::Statement del_post(
            db_, "DELETE FROM postings WHERE first_block IN (SELECT id FROM blocks WHERE capture_id=?1)");
        del_post.bind(1, id);
        del_post.run();
    }
    if (has_segments_) {
        sqlite::Statement del_segments(db_, "DELETE FROM segments WHERE capture_id=?1");
        del_segments.bind(1, id);
        del_segments.run();
    }
    sqlite::Statement del_blocks(db_, "DELETE FROM blocks WHERE capture_id=?1");
    del_blocks.bind(1, id);
    del_blocks.run();
    sqlite::Statement del_ifaces(db_, "DELETE FROM interfaces WHERE capture_id=?1");
    del_ifaces.bind(1, id);
    del_ifaces.run();
    if (has_live_stats(db_)) {
        sqlite::Statement del_samples(db_, "DELETE FROM live_stats WHERE capture_id=?1");
        del_samples.bind(1, id);
        del_samples.run();
    }
    sqlite::Statement del_cap(db_, "DELETE FROM captures WHERE id=?1");
    del_cap.bind(1, id);
    del_cap.run();
    tx.commit();
}

CaptureId Catalog::add(const CaptureMeta& meta) {
    sqlite::Transaction tx(db_);
    sqlite::Statement st(
        db_,
        "INSERT INTO captures(source, live, filter, file_size, linktype, snaplen, preview_bytes, state,"
        " started_at, writer_pid, file_mtime, ts_precision, packets_at, id) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7,"
        " 'running', ?8, ?9, ?10, ?11, ?12, (" +
            next_capture_id_sql(has_high_water(db_)) + "))");
    st.bind(1, std::string_view(meta.source))
        .bind(2, std::int64_t{meta.live ? 1 : 0})
        .bind(4, meta.file_size)
        .bind(5, std::int64_t{meta.linktype})
        .bind(6, std::int64_t{meta.snaplen})
        .bind(7, std::int64_t{meta.preview_bytes})
        .bind(8, now_ns())
        .bind(9, std::int64_t{::getpid()})
        .bind(10, meta.file_mtime_ns)
        .bind(12, std::string_view(packets_at_name(meta.packets_at)));
    if (meta.ts_precision)
        st.bind(11, std::int64_t{*meta.ts_precision});
    else
        st.bind_null(11);
    if (meta.filter.empty())
        st.bind_null(3);
    else
        st.bind(3, std::string_view(meta.filter));
    st.run();
    const CaptureId id = db_.last_insert_rowid();
    seal(id);
    tx.commit();
    return id;
}

void Catalog::mark_finished(CaptureId id, CaptureState state, const std::string& sha256,
                            const std::optional<LiveStats>& stats) {
    sqlite::Transaction tx(db_);
    sqlite::Statement st(db_,
                         "UPDATE captures SET state=?1, sha256=?2, finished_at=?3, received=?4,"
                         " dropped_kernel=?5, dropped_iface=?6 WHERE id=?7");
    st.bind(1, std::string_view(capture_state_name(state)));
    if (sha256.empty())
        st.bind_null(2);
    else
        st.bind(2, std::string_view(sha256));
    st.bind(3, now_ns());
    if (stats) {
        st.bind(4, static_cast<std::int64_t>(stats->received));
        st.bind(5, static_cast<std::int64_t>(stats->dropped_kernel));
        st.bind(6, static_cast<std::int64_t>(stats->dropped_iface));
    }
    st.bind(7, id);
    st.run();
    seal(id);
    tx.commit();
}

void Catalog::mark_failed(CaptureId id, const std::string& reason, const std::string& sha256) {
    sqlite::Transaction tx(db_);
    sqlite::Statement st(db_, "UPDATE captures SET state='failed', error=?1, finished_at=?2, sha256=?4 WHERE id=?3");
    st.bind(1, std::string_view(reason)).bind(2, now_ns()).bind(3, id);
    if (sha256.empty())
        st.bind_null(4);
    else
        st.bind(4, std::string_view(sha256));
    st.run();
    seal(id);
    tx.commit();
}

std::optional<ResumePoint> Catalog::resume_point(const std::string& source) {
    sqlite::Statement st(
        db_, fmt::format("SELECT {}, committed_bytes, prefix_sha256 FROM captures WHERE source=?1"
                         " AND live=0 AND committed_bytes IS NOT NULL AND prefix_sha256 IS NOT NULL"
                         " AND state IN ('failed', 'interrupted') AND coalesce(packets_at, 'file')='file'"
                         " ORDER BY id DESC LIMIT 1",
                         fmt::format(fmt::runtime(kCaptureColumns), kFileIdentityColumns, "packets_at", kStoreBytes,
                                     kCaptureIntact)));
    st.bind(1, std::string_view(source));
    // A damaged row resumes nothing: the capture is removed as unfinished.
    if (!st.step() || st.i64(29) == 0) return std::nullopt;
    ResumePoint p;
    p.capture = read_capture(db_, st);
    p.bytes = static_cast<std::uint64_t>(st.i64(30));
    p.sha256 = st.text(31);
    return p;
}

void Catalog::set_resume_point(CaptureId id, std::uint64_t bytes, const std::string& sha256) {
    sqlite::Statement st(db_, "UPDATE captures SET committed_bytes=?1, prefix_sha256=?2 WHERE id=?3");
    st.bind(1, static_cast<std::int64_t>(bytes)).bind(2, std::string_view(sha256)).bind(3, id);
    sqlite::Transaction tx(db_);
    st.run();
    seal(id);
    tx.commit();
}

void Catalog::reopen(CaptureId id, const CaptureMeta& meta) {
    sqlite::Statement st(db_,
                         "UPDATE captures SET state='running', writer_pid=?1, error=NULL, sha256=NULL,"
                         " finished_at=NULL, committed_bytes=NULL, prefix_sha256=NULL, file_size=?2,"
                         " file_mtime=?3, ts_precision=?4 WHERE id=?5 AND state IN ('failed', 'interrupted')"
                         " AND prefix_sha256 IS NOT NULL");
    st.bind(1, std::int64_t{::getpid()}).bind(2, meta.file_size).bind(3, meta.file_mtime_ns).bind(5, id);
    if (meta.ts_precision)
        st.bind(4, std::int64_t{*meta.ts_precision});
    else
        st.bind_null(4);
    sqlite::Transaction tx(db_);
    st.run();
    // Two ingests of the same file may both have found it resumable: the
    // first one to get here takes it.
    if (sqlite3_changes(db_.get()) != 1)
        throw DatabaseError(fmt::format("capture {} is being resumed by another ingest", id));
    seal(id);
    tx.commit();
}

void Catalog::relocate(CaptureId id, const std::string& source, std::int64_t file_mtime_ns) {
    sqlite::Statement st(db_, "UPDATE captures SET source=?1, file_mtime=?2 WHERE id=?3");
    st.bind(1, std::string_view(source)).bind(2, file_mtime_ns).bind(3, id);
    sqlite::Transaction tx(db_);
    st.run();
    seal(id);
    tx.commit();
}

}  // namespace store
}  // namespace capdb
