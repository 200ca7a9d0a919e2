// Fuzz target: whole-file ingest of arbitrary bytes.
//
// The input is written to a temporary file and ingested into a fresh
// database with a small batch (so that inputs of a few packets already span
// several pages and commits). InputError and DamagedError are expected
// outcomes; any other capdb::Error (a database error on a fresh database, an
// internal error) is a finding.
//
// Oracle: the file is read again with OfflineReader + decode, independently
// of the store. The database must hold exactly the packets read before the
// first error, in order, with identical fields, and the capture row's counts
// must agree; count() must agree with query(). A second ingest of the same
// file must be recognised as a duplicate when the first read it to the end.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "capdb/capture.h"
#include "capdb/decode.h"
#include "capdb/error.h"
#include "capdb/format.h"
#include "capdb/ingest.h"
#include "capdb/store.h"
#include "fuzz_check.h"

namespace {

using namespace capdb;
using fuzz::check;

constexpr std::uint32_t kPreviewBytes = 24;

struct Expected {
    std::int64_t ts_ns;
    std::uint32_t caplen;
    std::uint32_t wirelen;
    std::int64_t file_offset;
    Summary summary;
    std::vector<std::uint8_t> preview;
    std::uint32_t linktype = 0;
    std::uint32_t if_index = 0;
};

// A private directory for the run; tmpfs when there is one. A plain array,
// so that the exit handler that removes it never sees a destroyed string.
char g_dir[4096];

const char* work_dir() {
    if (g_dir[0] != '\0') return g_dir;
    std::string base = "/dev/shm";
    if (const char* t = std::getenv("TMPDIR"); t && *t) base = t;
    struct stat st {};
    if (::stat(base.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) base = "/tmp";
    const std::string tmpl = base + "/capdb-fuzz-ingest-XXXXXX";
    check(tmpl.size() < sizeof g_dir, "TMPDIR too long");
    std::memcpy(g_dir, tmpl.c_str(), tmpl.size() + 1);
    check(::mkdtemp(g_dir) != nullptr, "mkdtemp");
    std::atexit([] {
        std::error_code ec;
        std::filesystem::remove_all(g_dir, ec);
    });
    return g_dir;
}

void remove_db(const std::string& db) {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) ::unlink((db + suffix).c_str());
}

// What an independent read of the file yields: the packets before the first
// error, and whether the file could be opened and read to its end.
struct Reread {
    bool opened = false;
    bool damaged = false;
    std::uint32_t linktype = 0;
    std::vector<Expected> packets;
};

Reread reread(const std::string& path) {
    Reread r;
    try {
        OfflineReader reader(path);
        r.opened = true;
        r.linktype = reader.linktype();
        RawPacket raw;
        try {
            while (reader.next(raw)) {
                Expected e{raw.ts_ns, raw.caplen,   raw.wirelen, raw.file_offset, decode(raw.linktype, raw.data),
                           {},        raw.linktype, raw.if_index};
                auto pv = raw.data.first(std::min<std::size_t>(raw.data.size(), kPreviewBytes));
                e.preview.assign(pv.begin(), pv.end());
                r.packets.push_back(std::move(e));
            }
        } catch (const DamagedError&) {
            r.damaged = true;
        }
    } catch (const InputError&) {}
    return r;
}

bool same_summary(const Summary& a, const Summary& b) {
    return a.network == b.network && a.status == b.status && a.ethertype == b.ethertype && a.ip_proto == b.ip_proto &&
           a.has_ports == b.has_ports && a.fragment == b.fragment && a.src_port == b.src_port &&
           a.dst_port == b.dst_port && a.src == b.src && a.dst == b.dst && a.arp == b.arp;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string input = std::string(work_dir()) + "/input.pcap";
    const std::string db = std::string(work_dir()) + "/fuzz.db";
    remove_db(db);
    {
        std::FILE* f = std::fopen(input.c_str(), "wb");
        check(f != nullptr, "cannot write the input file");
        if (size != 0) check(std::fwrite(data, 1, size, f) == size, "short write of the input file");
        check(std::fclose(f) == 0, "fclose of the input file");
    }

    const Reread expected = reread(input);

    auto store = open_sqlite_store(db, {.read_only = false, .create = true});
    IngestOptions options;
    options.batch = 3;
    options.preview_bytes = kPreviewBytes;
    bool input_error = false, damaged = false;
    IngestOutcome outcome;
    try {
        outcome = ingest_file(*store, input, options);
    } catch (const InputError&) {
        input_error = true;
    } catch (const DamagedError&) {
        damaged = true;
    } catch (const Error& e) {
        std::fprintf(stderr, "unexpected error (exit %d): %s\n", static_cast<int>(e.code()), e.what());
        std::abort();
    }
    check(input_error == !expected.opened, "ingest and reread disagree on whether the file is a capture");
    check(damaged == expected.damaged, "ingest and reread disagree on damage");

    // Everything stored. query() returns time order; compare in capture order.
    std::vector<std::pair<std::uint64_t, Expected>> rows;
    std::int64_t last_ts = std::numeric_limits<std::int64_t>::min();
    store->query(Filter{}, [&](const PacketView& p) {
        check(p.ts_ns >= last_ts, "query() not in time order");
        last_ts = p.ts_ns;
        rows.push_back({p.seq,
                        {p.ts_ns, p.caplen, p.wirelen, p.file_offset, p.summary,
                         std::vector<std::uint8_t>(p.preview.begin(), p.preview.end()), p.linktype, p.if_index}});
        fmt::memory_buffer out;
        for (auto format : {OutputFormat::line, OutputFormat::long_form, OutputFormat::json, OutputFormat::csv})
            format_row(out, format, p);
        return true;
    });
    check(store->count(Filter{}) == rows.size(), "count() disagrees with query()");
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<Expected> stored;
    for (auto& [seq, e] : rows) {
        check(seq == stored.size(), "stored packets have a gap or a duplicate");
        stored.push_back(std::move(e));
    }

    const auto captures = store->captures();
    if (input_error) {
        check(captures.empty() && stored.empty(), "a file that is not a capture left rows behind");
        return 0;
    }
    check(captures.size() == 1, "one capture row per ingest");
    const CaptureInfo& c = captures.front();
    check(c.counts.packets == stored.size(), "capture row count disagrees with its packets");
    check(c.state == (damaged ? CaptureState::failed : CaptureState::complete), "capture state");
    check(stored.size() == expected.packets.size(), "stored packet count differs from an independent read");
    for (std::size_t i = 0; i < stored.size(); ++i) {
        const Expected& a = stored[i];
        const Expected& b = expected.packets[i];
        check(a.ts_ns == b.ts_ns && a.caplen == b.caplen && a.wirelen == b.wirelen, "stored lengths or time differ");
        check(a.file_offset == b.file_offset, "stored file offset differs");
        check(same_summary(a.summary, b.summary), "stored summary differs");
        check(a.preview == b.preview, "stored preview differs");
        check(a.linktype == b.linktype && a.if_index == b.if_index, "stored interface or link type differs");
    }

    // The same file again: a duplicate once its identity is recorded.
    if (!c.sha256.empty()) {
        IngestOutcome again;
        try {
            again = ingest_file(*store, input, options);
        } catch (const Error& e) {
            std::fprintf(stderr, "second ingest failed: %s\n", e.what());
            std::abort();
        }
        check(again.duplicate && again.capture == c.id, "a second ingest of the same file is not a duplicate");
    }

    // Time-filtered counts agree with the per-packet predicate.
    if (!stored.empty()) {
        Filter f;
        f.from_ns = stored[stored.size() / 2].ts_ns;
        std::uint64_t want = 0;
        for (const Expected& e : stored) want += e.ts_ns >= *f.from_ns;
        check(store->count(f) == want, "time-filtered count");
    }
    return 0;
}
