#include "store/sqlite/segments.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>

namespace capdb::store {

namespace {

bool process_alive(std::int64_t pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

}  // namespace

bool has_segments_table(sqlite::Database& db) {
    sqlite::Statement st(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name='segments'");
    return st.step();
}

std::vector<SegmentInfo> capture_segments(sqlite::Database& db, const std::string& dir, CaptureId capture) {
    std::vector<SegmentInfo> out;
    if (!has_segments_table(db)) return out;
    sqlite::Statement st(db,
                         "SELECT name, format, first_seq, packets, bytes FROM segments WHERE capture_id=?1"
                         " ORDER BY first_seq");
    st.bind(1, capture);
    while (st.step()) {
        SegmentInfo s;
        s.path = dir + "/" + st.text(0);
        s.format = st.text(1) == "pcapng" ? SegmentFormat::pcapng : SegmentFormat::pcap;
        s.first_seq = static_cast<std::uint64_t>(st.i64(2));
        s.packets = static_cast<std::uint64_t>(st.i64(3));
        s.bytes = static_cast<std::uint64_t>(st.i64(4));
        out.push_back(std::move(s));
    }
    return out;
}

std::vector<std::string> segment_names(sqlite::Database& db, CaptureId capture) {
    std::vector<std::string> out;
    if (!has_segments_table(db)) return out;
    sqlite::Statement st(db, "SELECT name FROM segments WHERE capture_id=?1");
    st.bind(1, capture);
    while (st.step()) out.push_back(st.text(0));
    return out;
}

void unlink_segments(const std::string& dir, const std::vector<std::string>& names) {
    if (names.empty()) return;
    const auto lock = PacketLock::acquire(dir, PacketLock::Mode::exclusive);
    for (const std::string& name : names) ::unlink((dir + "/" + name).c_str());
}

RecoveryResult recover_packet_store(sqlite::Database& db, const std::string& dir) {
    if (!has_segments_table(db)) return {};
    sqlite::Statement capture(db, "SELECT state, writer_pid FROM captures WHERE id=?1");
    sqlite::Statement segment(db, "SELECT bytes FROM segments WHERE capture_id=?1 AND name=?2");
    return recover_segments(dir, [&](const SegmentName& parsed, const std::string& name) {
        capture.reset().bind(1, parsed.capture);
        if (capture.step() && capture.text(0) == "running") {
            const auto pid = capture.opt_i64(1);
            if (pid && process_alive(*pid)) return SegmentVerdict{SegmentAction::keep, 0};
        }
        capture.reset();
        segment.reset().bind(1, parsed.capture).bind(2, std::string_view(name));
        SegmentVerdict v{SegmentAction::remove, 0};
        if (segment.step()) v = {SegmentAction::truncate, static_cast<std::uint64_t>(segment.i64(0))};
        segment.reset();
        return v;
    });
}

}  // namespace capdb::store
