// Printing query results: the classic one-line summary, a long form, JSON
// lines and CSV. Output is buffered; write errors (a closed pipe) stop output.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "capdb/packet.h"

namespace capdb {

enum class OutputFormat { line, long_form, json, csv };
std::optional<OutputFormat> parse_format(std::string_view name) noexcept;

// "2017-03-26T01:40:02.123456789Z".
std::string format_rfc3339(std::int64_t ts_ns);
// Floor of ts_ns in seconds (correct for times before 1970).
std::int64_t epoch_seconds(std::int64_t ts_ns) noexcept;

// The name (if_name) of a capture's interface, empty when unknown. The
// view must stay valid while the printer runs.
using InterfaceNames = std::function<std::string_view(CaptureId, std::uint32_t)>;

class Printer {
public:
    Printer(OutputFormat format, std::FILE* out);
    ~Printer();
    Printer(const Printer&) = delete;
    Printer& operator=(const Printer&) = delete;

    // Writes a header if the format has one (CSV).
    void begin();
    // Returns false once output can no longer be written (e.g. EPIPE).
    bool row(const PacketView& p);
    bool flush();
    // Where the long and json formats find interface names.
    void set_interface_names(InterfaceNames names) { names_ = std::move(names); }
    // The long format's times in this machine's time zone, with its offset.
    void set_local_time(bool local) { local_time_ = local; }

private:
    OutputFormat format_;
    InterfaceNames names_;
    bool local_time_ = false;
    std::FILE* out_;
    fmt::memory_buffer buf_;
    bool ok_ = true;
};

// Appends p in the given format, without a trailing newline, to out.
// if_name: the name of its interface, empty when unknown (long and json
// then show its index). local_time: the long format's time in this
// machine's time zone, with its offset, instead of UTC.
void format_row(fmt::memory_buffer& out, OutputFormat format, const PacketView& p, std::string_view if_name = {},
                bool local_time = false);

}  // namespace capdb
