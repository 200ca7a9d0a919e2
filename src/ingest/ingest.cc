#include "capdb/ingest.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <exception>
#include <functional>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "capdb/capture.h"
#include "capdb/capture_file.h"
#include "capdb/decode.h"
#include "ingest/resume.h"

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

// Standard input and FIFOs commit as they stream, as live capture does
// (DESIGN.md, "File ingest"): what was read is handed to the writer with a
// commit request once kStreamCommitEvery has passed since the last one, both
// while packets trickle in and while the pipe is quiet. The reader asks its
// should_stop before each read and at least every 200 ms while a pipe is
// quiet, from inside next(): that question is where a quiet pipe's packets
// are handed over. A followed file (ingest --follow) the same, every
// kFollowCommitEvery, and at once when the reader finds it quiet. Other
// regular files commit by packet count only.
constexpr auto kStreamCommitEvery = std::chrono::milliseconds(500);
constexpr auto kFollowCommitEvery = std::chrono::seconds(1);

class StreamCommits {
public:
    explicit StreamCommits(std::function<bool()> should_stop) : should_stop_(std::move(should_stop)) {}
    StreamCommits(const StreamCommits&) = delete;
    StreamCommits& operator=(const StreamCommits&) = delete;

    // The reader's should_stop: hands over what is due, then asks the
    // caller's. Never throws: a failure to hand over stops the reading, and
    // rethrow_if_failed() raises it.
    std::function<bool()> reader_stop() {
        return [this]() noexcept {
            if (due()) {
                try {
                    hand_over();
                } catch (...) {
                    error_ = std::current_exception();
                    return true;
                }
            }
            return should_stop_ && should_stop_();
        };
    }

    // From now on, packets added to batch (the one the ingest loop fills for
    // writer, room its batch_room()) are committed as they stream: once
    // `every` has passed since the previous hand-over (the first: since
    // `since`).
    void start(CaptureWriter& writer, PacketBatch& batch, std::uint32_t& room, std::chrono::milliseconds every,
               std::chrono::steady_clock::time_point since) {
        writer_ = &writer;
        batch_ = &batch;
        room_ = &room;
        every_ = every;
        last_ = since;
    }
    // A packet was added to the batch.
    void added() {
        pending_ = true;
        if (due()) hand_over();
    }
    // The input is quiet: what was added since the last hand-over goes now.
    void quiet() {
        if (writer_ && pending_) hand_over();
    }
    void rethrow_if_failed() {
        if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    }

private:
    [[nodiscard]] bool due() const { return writer_ && pending_ && std::chrono::steady_clock::now() - last_ >= every_; }
    void hand_over() {
        pending_ = false;
        last_ = std::chrono::steady_clock::now();
        writer_->append(std::move(*batch_));
        *batch_ = writer_->spare_batch();
        *room_ = writer_->batch_room();
        writer_->request_commit();
    }

    std::function<bool()> should_stop_;
    CaptureWriter* writer_ = nullptr;  // null: not streaming (a regular file), or not started
    PacketBatch* batch_ = nullptr;
    std::uint32_t* room_ = nullptr;
    bool pending_ = false;  // packets added since the last hand-over
    std::chrono::milliseconds every_{};
    std::chrono::steady_clock::time_point last_{};
    std::exception_ptr error_;
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
    StreamCommits streaming(should_stop);
    OfflineReader reader(path, streaming.reader_stop(), options.follow);
    out.linktype = reader.linktype();

    // A file of a size already seen may be a duplicate: settle it before
    // reading, with the hash the reader computes anyway (on its own thread,
    // from the start). Otherwise that hash is ready when the read ends.
    if (!options.follow && !reader.is_stdin() && reader.file_size() > 0 && store.has_file_of_size(reader.file_size())) {
        // A damaged capture of the same file is removed: ingesting heals it.
        out.replaced_damaged = store.remove_damaged(reader.sha256());
        if (auto existing = store.find_by_sha256(reader.sha256())) {
            out.duplicate = true;
            out.capture = existing->id;
            return out;
        }
    }

    const std::string source = canonical_source(path);
    // A file that begins with the bytes a stopped capture of the same path
    // committed resumes it, after those packets (DESIGN.md, "Resuming a
    // grown file"); otherwise that capture is removed, if unfinished.
    std::optional<ResumePoint> resume;
    RecordRef last;  // the last packet read, for the resume point
    // A --copy ingest starts afresh: its packets go into the store.
    if (!reader.is_stdin() && reader.file_size() > 0 && !options.copy) resume = store.resume_point(source);
    if (resume && !continues(*resume, path, reader)) resume.reset();
    if (resume) {
        switch (skip_committed(reader, *resume, path, last)) {
            case SkipResult::done: break;
            case SkipResult::interrupted:
                out.interrupted = true;
                out.capture = resume->capture.id;
                return out;
            case SkipResult::mismatch:
                throw InputError(fmt::format("'{}': changed while it was read to resume capture {}; ingest it again",
                                             printable(path), resume->capture.id));
        }
        out.resumed = resume->capture.counts.packets;
    } else {
        store.remove_unfinished(source);
    }

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
    std::unique_ptr<CaptureWriter> writer;
    if (resume) {
        meta.preview_bytes = resume->capture.meta.preview_bytes;
        writer = store.resume_capture(resume->capture, meta, options.batch, options.queue_bytes);
        store.remove_unfinished(source);  // others: the resumed capture is running again
    } else {
        writer = store.begin_capture(meta, options.batch, options.queue_bytes);
    }
    out.capture = writer->id();
    // After an ingest that stopped early, the committed prefix of a regular
    // file, from which a later ingest of the grown file resumes.
    const auto record_resume_point = [&] {
        if (reader.is_stdin() || reader.file_size() == 0) return;
        if (auto prefix = committed_prefix(path, out.capture, last))
            store.set_resume_point(out.capture, prefix->bytes, prefix->sha256);
    };

    ProgressBar progress(options.progress, reader.file_size() > (64u << 20) ? reader.file_size() : 0);
    RawPacket raw;
    // Packets go into a batch as they are read and decoded; a full batch
    // moves to the writer's storage thread.
    PacketBatch batch = writer->spare_batch();
    std::uint32_t room = writer->batch_room();
    if (options.follow)
        streaming.start(*writer, batch, room, kFollowCommitEvery, Clock::now());
    else if (reader.file_size() == 0)
        streaming.start(*writer, batch, room, kStreamCommitEvery, {});
    std::uint64_t seq = out.resumed;
    std::size_t interfaces_stored = 0;  // interfaces handed to the writer so far
    try {
        std::uint64_t n = 0;
        for (;;) {
            if (!reader.next(raw)) {
                if (!reader.idle()) break;
                streaming.quiet();  // a quiet followed file: commit what came
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
            if (keep)
                batch.add_with_data(raw.ts_ns, raw.wirelen, raw.file_offset, summary, raw.data, meta.preview_bytes,
                                    raw.time_invalid, raw.linktype, raw.if_index);
            else
                batch.add(raw.ts_ns, raw.caplen, raw.wirelen, raw.file_offset, summary,
                          raw.data.first(std::min<std::size_t>(raw.data.size(), meta.preview_bytes)), raw.time_invalid,
                          raw.linktype, raw.if_index);
            out.counts.add(summary, raw.wirelen);
            last = {seq++, raw.file_offset, {raw.ts_ns, raw.caplen, raw.wirelen, raw.time_invalid}};
            if (batch.size() >= room) {
                writer->append(std::move(batch));
                batch = writer->spare_batch();
                room = writer->batch_room();
            }
            streaming.added();
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
        record_resume_point();
        throw DamagedCaptureError(fmt::format("{}; the {} packets before it are stored (capture {})", e.what(),
                                              out.resumed + out.counts.packets, out.capture),
                                  out.capture, out.counts);
    }
    streaming.rethrow_if_failed();
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
        record_resume_point();
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
