#include "capdb/export.h"

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "capdb/error.h"
#include "capdb/follow.h"
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
// What pass 1 found among a query's matches: every capture's source,
// opened and checked, and what the file's header needs.
struct Matches {
    std::map<CaptureId, Source> sources;
    std::set<std::uint32_t> linktypes;
    std::set<std::tuple<std::uint32_t, std::uint32_t, std::uint32_t>> interfaces;
    std::uint32_t max_caplen = 0;
};

// Pass 1: the matches of filter among range's blocks; every source opened
// and checked before a byte is written.
Matches check_matches(Store& store, const Filter& filter, const BlockRange& range) {
    Matches m;
    store.query_blocks(filter, range, [&](const PacketView& p) {
        auto it = m.sources.find(p.capture);
        if (it == m.sources.end()) it = m.sources.emplace(p.capture, open_source(store, p.capture, p.seq)).first;
        if (p.file_offset < 0)
            throw SourceError(fmt::format("capture {}: packet {} has no recorded file offset; it cannot be written",
                                          p.capture, p.seq + 1));
        if (it->second.store) (void)file_for(it->second, p.seq);  // each segment checked before a byte is written
        m.linktypes.insert(p.linktype);
        m.interfaces.insert({p.linktype, it->second.snaplen_of(p), it->second.ts_precision});
        m.max_caplen = std::max(m.max_caplen, p.caplen);
        return true;
    });
    return m;
}

// Pass 2: the same query again; each record read back, checked and
// written. Returns the packets written.
std::uint64_t write_matches(Store& store, const Filter& filter, const BlockRange& range, Matches& m,
                            PcapWriter& writer) {
    std::uint64_t n = 0;
    store.query_blocks(filter, range, [&](const PacketView& p) {
        auto it = m.sources.find(p.capture);
        if (it == m.sources.end())
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
        ++n;
        return true;
    });
    return n;
}

// Whether out's reader went away: a pipe (or socket) whose other end is
// closed. Asked between looks, when nothing is written that would see
// EPIPE.
bool reader_gone(std::FILE* out) noexcept {
    pollfd p{::fileno(out), 0, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLERR | POLLHUP)) != 0;
}

// pcap holds one link type: the error that says so, naming them.
[[noreturn]] void several_linktypes(const std::set<std::uint32_t>& linktypes) {
    std::string list;
    for (auto l : linktypes) list += fmt::format("{}{}", list.empty() ? "" : ", ", l);
    throw UsageError(
        fmt::format("the matching packets have {} link types ({}); a pcap file holds one: use --write-format pcapng",
                    linktypes.size(), list));
}

// Where the packets go: standard output (out); a device or FIFO named by
// path, written directly; a regular file written as a temporary file
// beside path and renamed over it by commit(), or, direct, path itself
// (created or emptied).
class Output {
public:
    Output(const std::string& path, std::FILE* out, bool direct) : path_(path), out_(out) {
        struct stat st {};
        const bool special = path != "-" && ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode);
        if (special && S_ISDIR(st.st_mode))
            throw Error(Exit::input, fmt::format("cannot write '{}': it is a directory", printable(path)));
        if (special || (direct && path != "-")) {
            owned_.reset(std::fopen(path.c_str(), "wb"));
            if (!owned_)
                throw Error(Exit::input, fmt::format("cannot write '{}': {}", printable(path), std::strerror(errno)));
            out_ = owned_.get();
        } else if (path != "-") {
            temp_path_ = path + ".tmp-XXXXXX";
            const int fd = ::mkstemp(temp_path_.data());
            if (fd < 0)
                throw Error(Exit::input, fmt::format("cannot create '{}': {}", printable(path), std::strerror(errno)));
            temp_ = std::make_unique<TempFile>(temp_path_);
            // What fopen() would have created: 0666 less the umask.
            const mode_t mask = ::umask(0);
            ::umask(mask);
            ::fchmod(fd, 0666 & ~mask);
            owned_.reset(::fdopen(fd, "wb"));
            if (!owned_) {
                ::close(fd);
                throw Error(Exit::input, fmt::format("cannot write '{}': {}", printable(path), std::strerror(errno)));
            }
            out_ = owned_.get();
        }
    }

    [[nodiscard]] std::FILE* file() const noexcept { return out_; }
    [[nodiscard]] std::string name() const { return path_ == "-" ? std::string("standard output") : printable(path_); }

    // Closes the file (after the writer's flush) and renames the temporary
    // file over path.
    void commit() {
        if (owned_) {
            if (std::fclose(owned_.release()) != 0)
                throw Error(Exit::input, fmt::format("cannot write '{}': {}", printable(path_), std::strerror(errno)));
        }
        if (temp_) {
            if (::rename(temp_path_.c_str(), path_.c_str()) != 0)
                throw Error(Exit::input, fmt::format("cannot rename '{}' to '{}': {}", printable(temp_path_),
                                                     printable(path_), std::strerror(errno)));
            temp_->release();
        }
    }

private:
    std::string path_;
    std::FILE* out_;
    std::unique_ptr<std::FILE, FileCloser> owned_;
    std::unique_ptr<TempFile> temp_;
    std::string temp_path_;
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
    // Pass 1: what the header needs, and every original file checked.
    Matches m = check_matches(store, filter, committed);
    WritePlan plan;
    plan.format = format;
    if (format == WriteFormat::pcap) {
        if (m.linktypes.size() > 1) several_linktypes(m.linktypes);
        plan.linktype = m.linktypes.empty() ? 1 : *m.linktypes.begin();  // no packets: Ethernet, as tcpdump -w does
        plan.snaplen = m.max_caplen;
        for (const auto& iface : m.interfaces) plan.snaplen = std::max(plan.snaplen, std::get<1>(iface));
        for (const auto& [id, s] : m.sources) {
            plan.nanosecond = plan.nanosecond || s.ts_precision > 6;
        }
        if (plan.snaplen == 0) plan.snaplen = 262144;
    } else {
        plan.interfaces.assign(m.interfaces.begin(), m.interfaces.end());
    }
    Output output(path, out, false);
    PcapWriter writer(output.file(), output.name(), plan);
    // Pass 2: each record read back, checked and written.
    try {
        write_matches(store, filter, committed, m, writer);
        writer.flush();
    } catch (const OutputClosedError&) {
        return {writer.packets(), writer.bytes(), true};
    }
    output.commit();
    return {writer.packets(), writer.bytes()};
}

ExportResult export_follow(Store& store, const Filter& filter, WriteFormat format, const std::string& path,
                           std::FILE* out, const FollowOptions& options) {
    WritePlan plan;
    plan.format = format;
    plan.open_ended = true;
    // The packets to come are unknown: pcap is nanosecond (no packet's
    // time is rounded), and its snaplen the largest capdb reads.
    plan.nanosecond = true;
    plan.snaplen = kMaxCaplen;
    Output output(path, out, true);
    PcapWriter writer(output.file(), output.name(), plan);
    ExportResult result;
    std::optional<std::uint32_t> linktype;  // pcap: the file's, once a packet has set it
    FollowOptions follow_options = options;
    follow_options.should_stop = [&] {
        if (reader_gone(output.file())) throw OutputClosedError(output.name());
        return options.should_stop && options.should_stop();
    };
    try {
        writer.flush();  // pcapng: the section header at once
        follow_looks(
            store, filter,
            [&](const Filter& f, const BlockRange& range) -> std::optional<std::uint64_t> {
                // Taken per look, as export_packets takes it: a prune beside
                // a long follow unlinks its files between two looks.
                const auto hold = store.hold_packets();
                Matches m = check_matches(store, f, range);
                if (format == WriteFormat::pcap && !m.linktypes.empty()) {
                    if (linktype) m.linktypes.insert(*linktype);
                    if (m.linktypes.size() > 1) several_linktypes(m.linktypes);
                    linktype = *m.linktypes.begin();
                }
                const std::uint64_t n = write_matches(store, f, range, m, writer);
                writer.flush();
                return n;
            },
            follow_options);
        writer.finish();
        output.commit();
    } catch (const OutputClosedError&) {
        result.closed = true;
    }
    result.packets = writer.packets();
    result.bytes = writer.bytes();
    return result;
}

}  // namespace capdb
