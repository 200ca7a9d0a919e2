#include "store/clickhouse/clickhouse_store.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <random>
#include <utility>

#include <fmt/format.h>

#include "capdb/error.h"
#include "store/clickhouse/http.h"
#include "store/clickhouse/plan.h"
#include "store/clickhouse/rows.h"
#include "store/clickhouse/schema.h"
#include "store/clickhouse/url.h"
#include "store/clickhouse/writer.h"

namespace capdb {

namespace clickhouse {

namespace {

// A request's time-out unless --timeout says otherwise.
constexpr std::chrono::milliseconds kDefaultTimeout{300'000};

bool process_alive(std::int64_t pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

std::string host_name() {
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
    return name;
}

std::uint64_t parse_number(const std::string& text, const Location& where) {
    std::uint64_t v = 0;
    const char* end = text.data() + text.size();
    while (end > text.data() && (end[-1] == '\n' || end[-1] == ' ')) --end;
    const auto [ptr, ec] = std::from_chars(text.data(), end, v);
    if (ec != std::errc() || ptr != end)
        throw DatabaseError(fmt::format("{}: unexpected answer '{}'", printable(where.url), printable(text)));
    return v;
}

// Reads a RowBinary answer as it arrives: each complete row goes to on_row
// (which returns false to stop); a row cut by the end of a chunk waits for
// the next one.
template <class Read, class OnRow>
void read_rows(Http& http, const std::string& sql, Read read, OnRow on_row) {
    std::vector<std::uint8_t> pending;
    bool stopped = false;
    http.stream(sql, [&](std::span<const std::uint8_t> data) {
        pending.insert(pending.end(), data.begin(), data.end());
        RowReader r(pending);
        std::size_t used = 0;
        for (;;) {
            auto row = read(r);
            if (!row) break;
            used = r.position();
            if (!on_row(*row)) {
                stopped = true;
                return false;
            }
        }
        pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(used));
        return true;
    });
    if (!stopped && !pending.empty())
        throw DatabaseError(fmt::format(
            "{}: an answer ended inside a row ({} bytes left): {}", printable(http.location().url), pending.size(),
            printable(std::string(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(
                                                                         pending.size(), 200))))));
}

class ClickHouseStore final : public Store {
public:
    ClickHouseStore(Location where, const StoreOptions& options)
        : where_(std::move(where)),
          timeout_(options.timeout_ms ? std::chrono::milliseconds(options.timeout_ms) : kDefaultTimeout),
          sensor_(options.sensor.empty() ? host_name() : options.sensor),
          http_(where_, timeout_) {
        if (!where_.cluster.empty())
            throw UsageError(fmt::format("{}: ?cluster= (Distributed tables) is not supported yet; name one server",
                                         printable(where_.url)));
        open_schema(http_, options.create);
    }

    std::vector<CaptureInfo> captures() override {
        std::vector<CaptureInfo> out;
        for (CaptureRow& r : capture_rows()) out.push_back(std::move(r.info));
        return out;
    }
    std::optional<CaptureInfo> capture(CaptureId id) override {
        for (CaptureRow& r : capture_rows())
            if (r.info.id == id) return std::move(r.info);
        return std::nullopt;
    }
    std::optional<CaptureInfo> find_by_sha256(const std::string& sha256) override {
        for (CaptureRow& r : capture_rows())
            if (r.info.sha256 == sha256 &&
                (r.info.state == CaptureState::complete || r.info.state == CaptureState::failed))
                return std::move(r.info);
        return std::nullopt;
    }
    bool has_file_of_size(std::uint64_t size) override {
        for (const CaptureRow& r : capture_rows())
            if (r.info.meta.file_size == size && !r.info.sha256.empty()) return true;
        return false;
    }
    std::uint64_t remove_unfinished(const std::string& source) override {
        std::uint64_t n = 0;
        for (const CaptureRow& r : capture_rows(false)) {
            if (r.info.meta.source != source || r.info.meta.live || !r.info.sha256.empty() || r.sensor != sensor_)
                continue;
            // A running capture whose writer is alive is another ingest at work.
            if (r.info.state == CaptureState::running && process_alive(r.writer_pid)) continue;
            remove_capture(r.info.id);
            ++n;
        }
        return n;
    }
    void remove_capture(CaptureId id) override {
        for (const char* table : {"packets", "packets_by_addr", "interfaces"})
            conn().post(fmt::format("ALTER TABLE {}.{} DROP PARTITION {}", where_.database, table, id));
        for (CaptureRow& r : capture_rows(false)) {
            if (r.info.id != id) continue;
            r.deleted = true;
            write_row(r);
        }
    }
    std::vector<InterfaceRecord> interfaces(CaptureId id) override {
        std::vector<InterfaceRecord> out;
        read_rows(
            conn(),
            fmt::format("SELECT if_index, name, description, linktype, snaplen, ts_precision FROM {}.interfaces "
                        "WHERE capture = {} ORDER BY if_index FORMAT RowBinary",
                        where_.database, id),
            [](RowReader& r) -> std::optional<InterfaceRecord> {
                const auto index = r.u32();
                const auto name = r.string();
                const auto description = r.string();
                const auto linktype = r.u32();
                const auto snaplen = r.u32();
                const auto precision = r.u32();
                if (!index || !name || !description || !linktype || !snaplen || !precision) return std::nullopt;
                return InterfaceRecord{*index,
                                       {reinterpret_cast<const char*>(name->data()), name->size()},
                                       {reinterpret_cast<const char*>(description->data()), description->size()},
                                       *linktype,
                                       *snaplen,
                                       *precision};
            },
            [&](InterfaceRecord& i) {
                if (out.empty() || out.back().if_index != i.if_index) out.push_back(std::move(i));
                return true;
            });
        return out;
    }

    std::unique_ptr<CaptureWriter> begin_capture(const CaptureMeta& meta, std::uint32_t batch,
                                                 std::size_t queue_bytes) override {
        CaptureRow row;
        row.info.id = claim_id();
        row.info.meta = meta;
        if (row.info.meta.packets_at == PacketsAt::store) row.info.meta.packets_at = PacketsAt::none;
        row.info.state = CaptureState::running;
        row.info.started_at_ns = static_cast<std::int64_t>(next_version(0));
        row.sensor = sensor_;
        row.writer_pid = ::getpid();
        write_row(row);
        return make_writer(where_, timeout_, row, batch, queue_bytes);
    }
    // A stopped capture is ingested again whole (remove_unfinished), not resumed.
    std::optional<ResumePoint> resume_point(const std::string& /*source*/) override { return std::nullopt; }
    void set_resume_point(CaptureId /*id*/, std::uint64_t /*bytes*/, const std::string& /*sha256*/) override {}
    std::unique_ptr<CaptureWriter> resume_capture(const CaptureInfo& /*capture*/, const CaptureMeta& /*meta*/,
                                                  std::uint32_t /*batch*/, std::size_t /*queue_bytes*/) override {
        throw DatabaseError(fmt::format("{}: a ClickHouse store does not resume captures", printable(where_.url)));
    }
    void relocate_capture(CaptureId id, const std::string& source, std::int64_t file_mtime_ns) override {
        for (CaptureRow& r : capture_rows(false)) {
            if (r.info.id != id) continue;
            r.info.meta.source = source;
            r.info.meta.file_mtime_ns = file_mtime_ns;
            write_row(r);
        }
    }

    void query(const Filter& filter, const RowCallback& on_row) override { select(filter, std::nullopt, true, on_row); }
    // As SQLite's: the number of packets query() would give, limit included.
    std::uint64_t count(const Filter& filter) override {
        const std::uint64_t limit = filter.limit.value_or(UINT64_MAX);
        if (!filter.has_packet_conditions()) {
            const std::uint64_t n =
                parse_number(conn().post(fmt::format("SELECT count() FROM {}.packets WHERE {}", where_.database,
                                                     where_clause(filter, std::nullopt, std::nullopt))),
                             where_);
            return std::min(n, limit);
        }
        std::uint64_t n = 0;
        if (limit == 0) return 0;
        select(filter, std::nullopt, false, [&](const PacketView&) { return ++n < limit; });
        return n;
    }
    void scan(const Filter& filter, const RowCallback& on_row) override {
        Filter all = filter;
        all.limit.reset();
        select(all, std::nullopt, false, on_row);
    }
    std::int64_t max_block_id() override {
        return static_cast<std::int64_t>(
            parse_number(conn().post(fmt::format("SELECT max(block) FROM {}.packets", where_.database)), where_));
    }
    void query_blocks(const Filter& filter, const BlockRange& range, const RowCallback& on_row) override {
        if (range.through > range.after) select(filter, range, true, on_row);
    }

    PruneResult prune(const PruneRequest& request) override {
        if (request.before_ns || request.keep_bytes || !request.capture)
            throw UsageError(fmt::format("{}: a ClickHouse store prunes whole captures only (prune --capture ID)",
                                         printable(where_.url)));
        const CaptureId id = *request.capture;
        if (!capture(id)) throw UsageError(fmt::format("--capture: no capture has id {}", id));
        PruneResult result;
        result.dry_run = request.dry_run;
        result.before = size();
        const std::string answer =
            conn().post(fmt::format("SELECT count(), uniqExact(block), max(ts_ns) FROM {}.packets WHERE capture = {} "
                                    "FORMAT TabSeparated",
                                    where_.database, id));
        const auto tab1 = answer.find('\t');
        const auto tab2 = answer.find('\t', tab1 + 1);
        if (tab1 == std::string::npos || tab2 == std::string::npos)
            throw DatabaseError(fmt::format("{}: unexpected answer '{}'", printable(where_.url), printable(answer)));
        PrunedCapture pc;
        pc.id = id;
        pc.packets = parse_number(answer.substr(0, tab1), where_);
        pc.blocks = parse_number(answer.substr(tab1 + 1, tab2 - tab1 - 1), where_);
        pc.removed = true;
        if (pc.packets > 0) {
            std::string last = answer.substr(tab2 + 1);
            while (!last.empty() && last.back() == '\n') last.pop_back();
            std::int64_t ts = 0;
            std::from_chars(last.data(), last.data() + last.size(), ts);
            result.kept_from_ns = ts + 1;
        }
        result.captures.push_back(pc);
        result.blocks = pc.blocks;
        result.packets = pc.packets;
        if (!request.dry_run) remove_capture(id);
        result.after = request.dry_run ? result.before : size();
        return result;
    }
    StoreSize size() override {
        StoreSize s;
        s.database =
            parse_number(conn().post(fmt::format("SELECT sum(bytes) FROM system.parts WHERE database = '{}' AND active",
                                                 where_.database)),
                         where_);
        return s;
    }
    VacuumResult vacuum() override {
        throw UsageError(
            fmt::format("{}: ClickHouse merges its parts itself; there is nothing to vacuum", printable(where_.url)));
    }

    std::unique_ptr<PacketReadHold> hold_packets() override { return std::make_unique<PacketReadHold>(); }
    std::vector<SegmentInfo> segments(CaptureId /*id*/) override { return {}; }

private:
    // Every capture row, newest version of each id, by id; without the
    // removed ones unless asked. A running capture of this sensor whose
    // writer is gone is reported as failed, as the SQLite store does.
    std::vector<CaptureRow> capture_rows(bool report = true) {
        std::vector<CaptureRow> rows;
        read_rows(
            conn(), fmt::format("SELECT {} FROM {}.captures FINAL FORMAT RowBinary", kCaptureColumns, where_.database),
            [](RowReader& r) -> std::optional<CaptureRow> {
                CaptureRow row;
                if (!read_capture(r, row)) return std::nullopt;
                return row;
            },
            [&](CaptureRow& row) {
                rows.push_back(std::move(row));
                return true;
            });
        // FINAL merges at read time; keep the newest per id all the same.
        std::sort(rows.begin(), rows.end(), [](const CaptureRow& a, const CaptureRow& b) {
            return a.info.id != b.info.id ? a.info.id < b.info.id : a.version > b.version;
        });
        std::vector<CaptureRow> out;
        for (CaptureRow& r : rows) {
            if (!out.empty() && out.back().info.id == r.info.id) continue;
            out.push_back(std::move(r));
        }
        std::erase_if(out, [](const CaptureRow& r) { return r.deleted; });
        for (CaptureRow& r : out) r.info.sensor = r.sensor;
        if (report)
            for (CaptureRow& r : out)
                if (r.info.state == CaptureState::running && r.sensor == sensor_ && !process_alive(r.writer_pid)) {
                    r.info.state = CaptureState::failed;
                    if (r.info.error.empty())
                        r.info.error = fmt::format("its writer (process {}) ended before finishing", r.writer_pid);
                }
        return out;
    }

    void write_row(CaptureRow& row) {
        row.version = next_version(row.version);
        std::vector<std::uint8_t> bytes;
        RowWriter w(bytes);
        write_capture(w, row);
        conn().post(fmt::format("INSERT INTO {}.captures ({}) FORMAT RowBinary", where_.database, kCaptureColumns),
                    bytes);
    }

    // A new capture id: one more than any claimed, claimed in capture_ids.
    // A writer owns the id when, reading after its claim is stored, it finds
    // no other claim of that id. Two claims cannot both pass: each read
    // starts after its own insert has returned, so the later of the two
    // reads sees the other's claim. When both see each other neither owns the
    // id; both claim the next after a random pause. An id with a losing claim
    // is never used (ids have gaps, never duplicates). capture_ids must be
    // one table that shows an insert to every later read (not a Distributed
    // table, whose inserts arrive later).
    CaptureId claim_id() {
        std::random_device rd;
        std::mt19937_64 rng((std::uint64_t{rd()} << 32) | rd());
        const std::string claim = fmt::format("{}/{}/{:016x}", sensor_, ::getpid(), rng());
        for (int attempt = 0; attempt < 50; ++attempt) {
            const auto id = static_cast<CaptureId>(
                parse_number(conn().post(fmt::format("SELECT max(id) FROM {}.capture_ids", where_.database)), where_) +
                1);
            std::vector<std::uint8_t> bytes;
            RowWriter w(bytes);
            w.i64(id);
            w.string(claim);
            w.i64(static_cast<std::int64_t>(next_version(0)));
            conn().post(fmt::format("INSERT INTO {}.capture_ids (id, claim, at) FORMAT RowBinary", where_.database),
                        bytes);
            const std::uint64_t claims = parse_number(
                conn().post(fmt::format("SELECT count() FROM {}.capture_ids WHERE id = {}", where_.database, id)),
                where_);
            if (claims == 1) return id;
            // Contended: back off for up to 10 ms per attempt before the next id.
            const auto pause = std::uniform_int_distribution<int>(1, 10 * (attempt + 1))(rng);
            ::usleep(static_cast<useconds_t>(pause) * 1000);
        }
        throw DatabaseError(fmt::format("{}: no capture id could be claimed", printable(where_.url)));
    }

    // Reads the packets of filter (in (ts_ns, capture, seq) order when
    // ordered), of blocks when given, applying matches() to each.
    void select(const Filter& filter, const std::optional<BlockRange>& blocks, bool ordered,
                const RowCallback& on_row) {
        const auto ranges = required_ranges(filter.expr);
        std::string sql = fmt::format("SELECT {} FROM {}.{} WHERE {}", kPacketColumns, where_.database,
                                      ranges ? "packets_by_addr" : "packets", where_clause(filter, blocks, ranges));
        if (ordered) sql += " ORDER BY ts_ns, capture, seq";
        if (ordered && filter.limit && !filter.has_packet_conditions()) sql += fmt::format(" LIMIT {}", *filter.limit);
        sql += " FORMAT RowBinary";
        if (filter.limit && *filter.limit == 0) return;
        std::uint64_t n = 0;
        // The callback may ask for more (a capture's interfaces): conn()
        // answers it on a second connection meanwhile.
        streaming_ = true;
        struct Done {
            bool& flag;
            ~Done() { flag = false; }
        } done{streaming_};
        read_rows(
            http_, sql,
            [](RowReader& r) -> std::optional<PacketView> {
                PacketView v;
                if (!read_packet(r, v)) return std::nullopt;
                return v;
            },
            [&](const PacketView& v) {
                if (!matches(filter, v)) return true;
                if (!on_row(v)) return false;
                return !(filter.limit && ordered && ++n >= *filter.limit);
            });
    }

    // The connection for a request: http_, unless a select() is reading
    // its answer from it.
    Http& conn() {
        if (!streaming_) return http_;
        if (!side_) side_ = std::make_unique<Http>(where_, timeout_);
        return *side_;
    }

    Location where_;
    std::chrono::milliseconds timeout_;
    std::string sensor_;
    Http http_;
    std::unique_ptr<Http> side_;  // conn() while http_ streams
    bool streaming_ = false;
};

}  // namespace

}  // namespace clickhouse

std::unique_ptr<Store> open_clickhouse_store(const std::string& url, const StoreOptions& options) {
    return std::make_unique<clickhouse::ClickHouseStore>(clickhouse::parse_location(url), options);
}

}  // namespace capdb
