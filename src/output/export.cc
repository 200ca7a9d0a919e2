#include "capdb/export.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "capdb/error.h"
#include "capdb/source_file.h"

namespace capdb {

namespace {

struct FileCloser {
    void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};

// A capture whose packets will be written: its original file, or its
// packet-store segments (one open at a time), and the fields the writer
// needs.
struct Source {
    CaptureId id = 0;
    std::unique_ptr<SourceFile> file;
    bool store = false;
    std::vector<SegmentInfo> segments;  // by first_seq
    std::size_t open_segment = 0;       // the segment `file` reads, when store
    std::uint32_t snaplen = 0;
    std::uint32_t ts_precision = 9;
    std::vector<InterfaceRecord> interfaces;  // by index; none for captures from before schema 4

    // The snaplen of a packet's interface (the capture's when unknown).
    [[nodiscard]] std::uint32_t snaplen_of(const PacketView& p) const noexcept {
        return p.if_index < interfaces.size() && interfaces[p.if_index].if_index == p.if_index
                   ? interfaces[p.if_index].snaplen
                   : snaplen;
    }
};

// The file that holds packet seq of s: its original file, or the segment
// whose packets include seq (opened and checked on first use).
SourceFile& file_for(Source& s, std::uint64_t seq) {
    if (!s.store) return *s.file;
    auto it = std::upper_bound(s.segments.begin(), s.segments.end(), seq,
                               [](std::uint64_t v, const SegmentInfo& g) { return v < g.first_seq; });
    if (it == s.segments.begin() || seq >= std::prev(it)->first_seq + std::prev(it)->packets)
        throw SourceError(fmt::format(
            "capture {}: packet {} is in no segment of the packet store (its segment row is missing); its packets "
            "cannot be written",
            s.id, seq + 1));
    const auto index = static_cast<std::size_t>(std::prev(it) - s.segments.begin());
    if (!s.file || s.open_segment != index) {
        s.file.reset();
        const SegmentInfo& g = s.segments[index];
        s.file = std::make_unique<SourceFile>(RecordedFile{s.id, g.path, std::nullopt, std::nullopt, std::nullopt},
                                              "store segment", g.bytes);
        s.open_segment = index;
    }
    return *s.file;
}

Source open_source(Store& store, CaptureId id, std::uint64_t first_seq) {
    const auto info = store.capture(id);
    if (!info) throw SourceError(fmt::format("capture {} is gone from the database", id));
    const auto& m = info->meta;
    Source s;
    s.id = id;
    s.snaplen = m.snaplen;
    s.interfaces = store.interfaces(id);
    if (m.packets_at == PacketsAt::store) {
        s.store = true;
        s.segments = store.segments(id);
        s.ts_precision = file_for(s, first_seq).header().ts_precision > 6 ? 9 : 6;
        return s;
    }
    // A file followed as it grew (ingest --follow) has no recorded size:
    // its records are still checked one by one.
    if (m.packets_at == PacketsAt::none || m.live || m.source == "-")
        throw SourceError(fmt::format(
            "capture {} ('{}', packet {}) was {}: capdb keeps no copy of its packets, so they cannot be written", id,
            printable(m.source), first_seq + 1,
            m.live            ? "captured live without the packet store"
            : m.source == "-" ? "read from standard input without the packet store"
                              : "ingested without its packets"));
    s.file = std::make_unique<SourceFile>(RecordedFile{id, m.source, m.file_size, m.file_mtime_ns, m.ts_precision});
    s.ts_precision = s.file->header().ts_precision > 6 ? 9 : 6;
    return s;
}

// Removes a temporary file unless released.
class TempFile {
public:
    explicit TempFile(std::string path) : path_(std::move(path)) {}
    ~TempFile() {
        if (!path_.empty()) ::unlink(path_.c_str());
    }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    void release() noexcept { path_.clear(); }

private:
    std::string path_;
};

}  // namespace

ExportResult export_packets(Store& store, const Filter& filter, WriteFormat format, const std::string& path,
                            std::FILE* out) {
    // Segment files stay while this is held (a prune unlinks them only
    // after it is released): taken before the queries' read transactions.
    const auto hold = store.hold_packets();
    // Both passes read the blocks committed by now, and no later ones: a
    // block committed between them (a live capture's, maybe in a segment
    // that pass 1 did not list) is not written. Block ids are never reused,
    // so pass 2 reads the blocks of pass 1 less any pruned since (whose
    // packets it does not ask for).
    const BlockRange committed{0, store.max_block_id()};
    auto each_match = [&](const RowCallback& on_row) { store.query_blocks(filter, committed, on_row); };
    // Pass 1: what the header needs, and every original file checked.
    std::map<CaptureId, Source> sources;
    std::set<std::uint32_t> linktypes;
    std::set<std::tuple<std::uint32_t, std::uint32_t, std::uint32_t>> interfaces;
    std::uint32_t max_caplen = 0;
    each_match([&](const PacketView& p) {
        auto it = sources.find(p.capture);
        if (it == sources.end()) it = sources.emplace(p.capture, open_source(store, p.capture, p.seq)).first;
        if (p.file_offset < 0)
            throw SourceError(fmt::format("capture {}: packet {} has no recorded file offset; it cannot be written",
                                          p.capture, p.seq + 1));
        if (it->second.store) (void)file_for(it->second, p.seq);  // each segment checked before a byte is written
        linktypes.insert(p.linktype);
        interfaces.insert({p.linktype, it->second.snaplen_of(p), it->second.ts_precision});
        max_caplen = std::max(max_caplen, p.caplen);
        return true;
    });
    WritePlan plan;
    plan.format = format;
    if (format == WriteFormat::pcap) {
        if (linktypes.size() > 1) {
            std::string list;
            for (auto l : linktypes) list += fmt::format("{}{}", list.empty() ? "" : ", ", l);
            throw UsageError(fmt::format(
                "the matching packets have {} link types ({}); a pcap file holds one: use --write-format pcapng",
                linktypes.size(), list));
        }
        plan.linktype = linktypes.empty() ? 1 : *linktypes.begin();  // no packets: Ethernet, as tcpdump -w does
        plan.snaplen = max_caplen;
        for (const auto& iface : interfaces) plan.snaplen = std::max(plan.snaplen, std::get<1>(iface));
        for (const auto& [id, s] : sources) {
            plan.nanosecond = plan.nanosecond || s.ts_precision > 6;
        }
        if (plan.snaplen == 0) plan.snaplen = 262144;
    } else {
        plan.interfaces.assign(interfaces.begin(), interfaces.end());
    }

    // The output: standard output; a device or FIFO named by path, written
    // directly; else a temporary file beside path, renamed over it at the end.
    std::unique_ptr<std::FILE, FileCloser> owned;
    std::unique_ptr<TempFile> temp;
    std::string temp_path;
    struct stat st {};
    const bool special = path != "-" && ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode);
    if (special && S_ISDIR(st.st_mode))
        throw Error(Exit::input, fmt::format("cannot write '{}': it is a directory", printable(path)));
    if (special) {
        owned.reset(std::fopen(path.c_str(), "wb"));
        if (!owned)
            throw Error(Exit::input, fmt::format("cannot write '{}': {}", printable(path), std::strerror(errno)));
        out = owned.get();
    } else if (path != "-") {
        temp_path = path + ".tmp-XXXXXX";
        const int fd = ::mkstemp(temp_path.data());
        if (fd < 0)
            throw Error(Exit::input, fmt::format("cannot create '{}': {}", printable(path), std::strerror(errno)));
        temp = std::make_unique<TempFile>(temp_path);
        // What fopen() would have created: 0666 less the umask.
        const mode_t mask = ::umask(0);
        ::umask(mask);
        ::fchmod(fd, 0666 & ~mask);
        owned.reset(::fdopen(fd, "wb"));
        if (!owned) {
            ::close(fd);
            throw Error(Exit::input, fmt::format("cannot write '{}': {}", printable(path), std::strerror(errno)));
        }
        out = owned.get();
    }
    const std::string name = path == "-" ? std::string("standard output") : printable(path);
    PcapWriter writer(out, name, plan);

    // Pass 2: each record read back, checked and written.
    each_match([&](const PacketView& p) {
        auto it = sources.find(p.capture);
        if (it == sources.end())
            throw SourceError(fmt::format(
                "capture {} appeared while its packets were being written; run the query again", p.capture));
        Source& s = it->second;
        const StoredRecord stored{p.ts_ns, p.caplen, p.wirelen, p.time_invalid};
        PacketOut po;
        po.ts_ns = p.ts_ns;
        po.wirelen = p.wirelen;
        po.linktype = p.linktype;
        po.snaplen = s.snaplen_of(p);
        po.ts_precision = s.ts_precision;
        po.data = file_for(s, p.seq).read(p.seq, p.file_offset, stored);
        writer.write(po);
        return true;
    });
    writer.flush();
    if (owned) {
        if (std::fclose(owned.release()) != 0)
            throw Error(Exit::input, fmt::format("cannot write '{}': {}", printable(path), std::strerror(errno)));
    }
    if (temp) {
        if (::rename(temp_path.c_str(), path.c_str()) != 0)
            throw Error(Exit::input, fmt::format("cannot rename '{}' to '{}': {}", printable(temp_path),
                                                 printable(path), std::strerror(errno)));
        temp->release();
    }
    return {writer.packets(), writer.bytes()};
}

}  // namespace capdb
