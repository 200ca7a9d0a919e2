// Reading packets: capture files through capdb's own pcap/pcapng reader
// (capture_file.h); live capture (live.h) is the only module that includes
// pcap.h, and only in its .cc files.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace capdb {

// One packet as read. data is valid until the next call to next().
struct RawPacket {
    std::int64_t ts_ns = 0;
    std::uint32_t caplen = 0;
    std::uint32_t wirelen = 0;
    std::int64_t file_offset = -1;  // offset of the record in the file; -1 unknown
    // pcap only: the sub-second field is out of range (us >= 10^6, ns >= 10^9);
    // ts_ns holds the record's whole seconds only, as tcpdump's "(invalid us)".
    bool time_invalid = false;
    std::uint32_t if_index = 0;  // the capture's interface (pcapng: described in file order; pcap: 0)
    std::uint32_t linktype = 0;  // DLT of that interface
    std::span<const std::uint8_t> data{};
};

struct CaptureInterface;

// Reads a pcap or pcapng file (or standard input for "-") at nanosecond
// precision, every interface and link type of a pcapng file. Throws
// InputError naming the file if it cannot be opened or is not a capture.
//
// should_stop, if given, is asked before every read of the input (in the
// calling thread; it must not throw); while a pipe or FIFO is quiet it is
// asked at least every 200 ms, and at once when a signal interrupts the wait.
// When it returns true the reader stops: next() returns false and
// interrupted() is true, or the constructor, still waiting for the capture
// header, throws InterruptedError.
//
// follow (a regular file still being written, `ingest --follow`): the end
// of the file, even inside a record, is a wait for more rather than the
// end; next() returns false with idle() true after about 200 ms without new
// bytes, so that the caller can commit, and reading goes on at the next
// call. Only should_stop ends it. The file is hashed as it is read.
class OfflineReader {
public:
    explicit OfflineReader(const std::string& path, std::function<bool()> should_stop = {}, bool follow = false);
    ~OfflineReader();
    OfflineReader(const OfflineReader&) = delete;
    OfflineReader& operator=(const OfflineReader&) = delete;

    // Reads the next packet into out. Returns false at the end of the file,
    // when should_stop stopped the reading (see interrupted()), or, when
    // following, after a quiet wait (see idle()).
    // Throws DamagedError naming the file and the packet number when the
    // file is truncated or corrupt mid-record.
    bool next(RawPacket& out);

    // Of the first interface: DLT, and the length records are cut to.
    [[nodiscard]] std::uint32_t linktype() const noexcept;  // DLT
    [[nodiscard]] std::uint32_t snaplen() const noexcept;
    // Every interface described so far, by index (RawPacket::if_index).
    [[nodiscard]] const std::vector<CaptureInterface>& interfaces() const noexcept;
    // Following: the last next() returned false because no bytes came.
    [[nodiscard]] bool idle() const noexcept;
    // Following: bytes of a record begun but not yet complete.
    [[nodiscard]] bool partial_record() const noexcept;
    [[nodiscard]] bool is_pcapng() const noexcept;
    [[nodiscard]] bool is_stdin() const noexcept;
    // Whether should_stop ended the reading before the end of the input.
    [[nodiscard]] bool interrupted() const noexcept;
    // Size of a regular file; 0 for a pipe.
    [[nodiscard]] std::uint64_t file_size() const noexcept;
    // A regular file's modification time (ns since the epoch) when opened; 0
    // for a pipe.
    [[nodiscard]] std::int64_t file_mtime_ns() const noexcept;
    // Decimal digits of the input's timestamps (6 or 9; see SourceHeader);
    // 0 when unknown (pcapng read from a pipe).
    [[nodiscard]] std::uint32_t ts_precision() const noexcept;
    // Bytes read from the input so far, for progress display.
    [[nodiscard]] std::uint64_t bytes_read() const noexcept;
    // SHA-256 (lowercase hex) of every byte of the input. For a regular file it
    // is computed on a second thread from the start, and may be asked for at
    // any time (this waits for that thread). For a pipe it is computed as the
    // bytes stream in: call after the last next(); it reads what is left.
    // Empty if should_stop stopped that reading. When following, it covers
    // the bytes read so far, and nothing more is read.
    [[nodiscard]] std::string sha256();

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

// SHA-256 of a whole file, lowercase hex. Throws InputError naming the file.
std::string sha256_file(const std::string& path);

}  // namespace capdb
