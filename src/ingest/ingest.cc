#include "capdb/ingest.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>

#include <fmt/format.h>

#include "capdb/capture.h"
#include "capdb/decode.h"

namespace capdb {

namespace {

std::string canonical_source(const std::string& path) {
    if (path == "-") return path;
    char buf[PATH_MAX];
    if (::realpath(path.c_str(), buf)) return buf;
    return path;
}

class ProgressBar {
public:
    ProgressBar(std::FILE* out, std::uint64_t total) : out_(out), total_(total) {}
    ~ProgressBar() {
        if (drawn_) std::fprintf(out_, "\r\x1b[K");
    }
    ProgressBar(const ProgressBar&) = delete;
    ProgressBar& operator=(const ProgressBar&) = delete;

    void update(std::uint64_t done) {
        if (!out_ || total_ == 0) return;
        auto now = std::chrono::steady_clock::now();
        if (now - start_ < std::chrono::milliseconds(500) || now - last_ < std::chrono::milliseconds(100)) return;
        last_ = now;
        const double frac = std::min(1.0, static_cast<double>(done) / static_cast<double>(total_));
        constexpr int kWidth = 30;
        const int filled = static_cast<int>(frac * kWidth);
        std::fprintf(out_, "\r[%.*s%*s] %5.1f%%  %.0f MB", filled, "##############################", kWidth - filled,
                     "", frac * 100.0, static_cast<double>(done) / 1e6);
        std::fflush(out_);
        drawn_ = true;
    }

private:
    std::FILE* out_;
    std::uint64_t total_;
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point last_{};
    bool drawn_ = false;
};

}  // namespace

IngestOutcome ingest_file(Store& store, const std::string& path, const IngestOptions& options) {
    IngestOutcome out;
    OfflineReader reader(path, options.should_stop);
    out.linktype = reader.linktype();

    // A file of a size already seen may be a duplicate: settle it before
    // reading, with the hash the reader computes anyway (on its own thread,
    // from the start). Otherwise that hash is ready when the read ends.
    if (!reader.is_stdin() && reader.file_size() > 0 && store.has_file_of_size(reader.file_size())) {
        if (auto existing = store.find_by_sha256(reader.sha256())) {
            out.duplicate = true;
            out.capture = existing->id;
            return out;
        }
    }

    const std::string source = canonical_source(path);
    store.remove_unfinished(source);

    CaptureMeta meta;
    meta.source = source;
    meta.linktype = reader.linktype();
    meta.snaplen = reader.snaplen();
    meta.preview_bytes = std::min(options.preview_bytes, kMaxPreviewBytes);
    if (!reader.is_stdin() && reader.file_size() > 0) {
        meta.file_size = reader.file_size();
        meta.file_mtime_ns = reader.file_mtime_ns();
    }
    if (reader.ts_precision() != 0) meta.ts_precision = reader.ts_precision();
    // Standard input can be read only once: its packets go into the packet
    // store unless only summaries are wanted; a file's stay in the file
    // unless --copy.
    if (reader.is_stdin())
        meta.packets_at = options.no_packets ? PacketsAt::none : PacketsAt::store;
    else
        meta.packets_at = options.copy ? PacketsAt::store : PacketsAt::file;
    const bool keep = meta.packets_at == PacketsAt::store;
    meta.segment_format = reader.is_pcapng() ? SegmentFormat::pcapng : SegmentFormat::pcap;
    meta.segment_ts_precision = reader.ts_precision() == 6 ? 6 : 9;
    auto writer = store.begin_capture(meta, options.batch, options.queue_bytes);
    out.capture = writer->id();

    ProgressBar progress(options.progress, reader.file_size() > (64u << 20) ? reader.file_size() : 0);
    const std::uint32_t linktype = reader.linktype();
    RawPacket raw;
    // Packets go into a batch as they are read and decoded; a full batch
    // moves to the writer's storage thread.
    PacketBatch batch = writer->spare_batch();
    std::uint32_t room = writer->batch_room();
    try {
        std::uint64_t n = 0;
        while (reader.next(raw)) {
            const Summary summary = decode(linktype, raw.data);
            if (keep)
                batch.add_with_data(raw.ts_ns, raw.wirelen, raw.file_offset, summary, raw.data, meta.preview_bytes,
                                    raw.time_invalid);
            else
                batch.add(raw.ts_ns, raw.caplen, raw.wirelen, raw.file_offset, summary,
                          raw.data.first(std::min<std::size_t>(raw.data.size(), meta.preview_bytes)), raw.time_invalid);
            out.counts.add(summary, raw.wirelen);
            if (batch.size() >= room) {
                writer->append(std::move(batch));
                batch = writer->spare_batch();
                room = writer->batch_room();
            }
            if ((++n & 0x3fff) == 0) progress.update(reader.bytes_read());
        }
        writer->append(std::move(batch));
    } catch (const DatabaseError& e) {
        // The storage thread stopped (the packet store's disk is full, ...):
        // what was committed stays, and the capture is marked failed when
        // the database still can be.
        try {
            writer->fail(e.what());
        } catch (const Error&) {}
        throw;
    } catch (const DamagedError& e) {
        writer->append(std::move(batch));  // the packets before the damage
        // Keep what was read before the damage, and the file's identity so
        // that the same damaged file is not ingested twice.
        std::string sha;
        try {
            sha = reader.sha256();
        } catch (const Error&) {}
        writer->fail(e.what(), sha);
        throw DamagedCaptureError(fmt::format("{}; the {} packets before it are stored (capture {})", e.what(),
                                              out.counts.packets, out.capture),
                                  out.capture, out.counts);
    }
    // Draining a pipe to the end for its hash may be interrupted too.
    std::string sha;
    if (!reader.interrupted()) sha = reader.sha256();
    if (reader.interrupted()) {
        // What was read is committed and stays; a later ingest of the same
        // source replaces it (remove_unfinished), as the file's identity
        // is unknown.
        out.interrupted = true;
        writer->finish(CaptureState::interrupted, {}, std::nullopt);
        return out;
    }
    if (reader.is_stdin()) {
        // Standard input's identity is known only now.
        if (auto existing = store.find_by_sha256(sha)) {
            writer->fail("duplicate of an earlier capture");
            store.remove_capture(out.capture);
            out.duplicate = true;
            out.capture = existing->id;
            return out;
        }
    }
    writer->finish(CaptureState::complete, sha, std::nullopt);
    return out;
}

}  // namespace capdb
