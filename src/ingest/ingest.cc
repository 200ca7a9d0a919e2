#include "capdb/ingest.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>

#include <fmt/format.h>

#include "capdb/capture.h"
#include "capdb/capture_file.h"
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
    using Clock = std::chrono::steady_clock;
    const Clock::time_point started = Clock::now();
    std::optional<Clock::time_point> deadline;
    if (options.duration) deadline = started + std::chrono::ceil<Clock::duration>(*options.duration);
    // Following, --duration ends the reading as a signal does.
    std::function<bool()> should_stop = options.should_stop;
    bool timed_out = false;
    if (options.follow && deadline)
        should_stop = [&] {
            if (Clock::now() >= *deadline) timed_out = true;
            return timed_out || (options.should_stop && options.should_stop());
        };
    OfflineReader reader(path, should_stop, options.follow);
    out.linktype = reader.linktype();

    // A file of a size already seen may be a duplicate: settle it before
    // reading, with the hash the reader computes anyway (on its own thread,
    // from the start). Otherwise that hash is ready when the read ends.
    if (!options.follow && !reader.is_stdin() && reader.file_size() > 0 && store.has_file_of_size(reader.file_size())) {
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
    // A followed file has no final size yet: query -w checks its records.
    if (!options.follow && !reader.is_stdin() && reader.file_size() > 0) {
        meta.file_size = reader.file_size();
        meta.file_mtime_ns = reader.file_mtime_ns();
    }
    if (reader.ts_precision() != 0) meta.ts_precision = reader.ts_precision();
    auto writer = store.begin_capture(meta, options.batch, options.queue_bytes);
    out.capture = writer->id();

    ProgressBar progress(options.progress, reader.file_size() > (64u << 20) ? reader.file_size() : 0);
    RawPacket raw;
    // Packets go into a batch as they are read and decoded; a full batch
    // moves to the writer's storage thread.
    PacketBatch batch = writer->spare_batch();
    std::uint32_t room = writer->batch_room();
    std::size_t interfaces_stored = 0;  // interfaces handed to the writer so far
    // Following: what was read is committed at least every second.
    Clock::time_point last_commit = Clock::now();
    bool uncommitted = false;
    const auto commit = [&] {
        writer->append(std::move(batch));
        batch = writer->spare_batch();
        room = writer->batch_room();
        writer->request_commit();
        uncommitted = false;
        last_commit = Clock::now();
    };
    try {
        std::uint64_t n = 0;
        for (;;) {
            if (!reader.next(raw)) {
                if (!reader.idle()) break;
                if (uncommitted) commit();  // a quiet file: commit what came
                continue;
            }
            // Interfaces (pcapng describes them as it goes) are stored with
            // the first block that may use them.
            const auto& interfaces = reader.interfaces();
            for (; interfaces_stored < interfaces.size(); ++interfaces_stored) {
                const CaptureInterface& i = interfaces[interfaces_stored];
                batch.interfaces.push_back(
                    {i.index, i.name, i.description, i.linktype, i.effective_snaplen(), i.ts_precision()});
            }
            const Summary summary = decode(raw.linktype, raw.data);
            batch.add(raw.ts_ns, raw.caplen, raw.wirelen, raw.file_offset, summary,
                      raw.data.first(std::min<std::size_t>(raw.data.size(), meta.preview_bytes)), raw.time_invalid,
                      raw.linktype, raw.if_index);
            out.counts.add(summary, raw.wirelen);
            if (batch.size() >= room) {
                writer->append(std::move(batch));
                batch = writer->spare_batch();
                room = writer->batch_room();
            }
            if ((++n & 0x3fff) == 0) progress.update(reader.bytes_read());
            if (options.follow) {
                uncommitted = true;
                if (Clock::now() - last_commit >= std::chrono::seconds(1)) commit();
            }
        }
        writer->append(std::move(batch));
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
    if (options.follow && reader.interrupted() && !reader.partial_record()) {
        // The normal end of following: a signal (or --duration) between records.
        writer->finish(CaptureState::complete, reader.sha256(), std::nullopt);
        return out;
    }
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
