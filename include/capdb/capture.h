// Reading packets through libpcap. This is the only module that includes
// pcap.h, and only in its .cc files.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

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
    std::span<const std::uint8_t> data{};
};

// Reads a pcap or pcapng file (or standard input for "-") at nanosecond
// precision. Throws InputError naming the file if it cannot be opened or is
// not a capture.
//
// should_stop, if given, is asked before every read of the input (in the
// calling thread, from inside libpcap: it must not throw); while a pipe or FIFO is quiet it is asked at least every
// 200 ms, and at once when a signal interrupts the wait. When it returns
// true the reader stops: next() returns false and interrupted() is true, or
// the constructor, still waiting for the capture header, throws
// InterruptedError.
class OfflineReader {
public:
    explicit OfflineReader(const std::string& path, std::function<bool()> should_stop = {});
    ~OfflineReader();
    OfflineReader(const OfflineReader&) = delete;
    OfflineReader& operator=(const OfflineReader&) = delete;

    // Reads the next packet into out. Returns false at the end of the file,
    // or when should_stop stopped the reading (see interrupted()).
    // Throws DamagedError naming the file and the packet number when the
    // file is truncated or corrupt mid-record.
    bool next(RawPacket& out);

    [[nodiscard]] std::uint32_t linktype() const noexcept;  // DLT
    [[nodiscard]] std::uint32_t snaplen() const noexcept;
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
    // Bytes consumed so far (approximate for pcapng), for progress display.
    [[nodiscard]] std::uint64_t bytes_read() const noexcept;
    // SHA-256 (lowercase hex) of every byte of the input. For a regular file it
    // is computed on a second thread from the start, and may be asked for at
    // any time (this waits for that thread). For a pipe it is computed as the
    // bytes stream in: call after the last next(); it reads what libpcap left.
    // Empty if should_stop stopped that reading.
    [[nodiscard]] std::string sha256();

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

// SHA-256 of a whole file, lowercase hex. Throws InputError naming the file.
std::string sha256_file(const std::string& path);

}  // namespace capdb
