// 'capdb query': filters parsed and checked before the database is touched,
// then the matches printed (or counted, or followed).
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "capdb/error.h"
#include "capdb/export.h"
#include "capdb/filter.h"
#include "capdb/follow.h"
#include "capdb/format.h"
#include "capdb/store.h"
#include "cli/cli.h"

namespace capdb::cli {
int run_query(const QueryArgs& a) {
    const Filter filter = build_filter(a);  // all checks before the database is touched
    auto format = parse_format(a.format);
    if (!format)
        throw UsageError(fmt::format("--format: unknown format '{}' (line, long, json, csv)", printable(a.format)));
    if (a.follow && a.count) throw UsageError("--follow cannot be combined with --count");
    if (a.localtime && *format != OutputFormat::long_form)
        throw UsageError("--localtime applies to --format long (the other formats print UTC or epoch seconds)");
    WriteFormat write_format = WriteFormat::pcap;
    if (a.write_format) {
        if (!a.write) throw UsageError("--write-format needs -w FILE");
        if (*a.write_format == "pcapng")
            write_format = WriteFormat::pcapng;
        else if (*a.write_format != "pcap")
            throw UsageError(
                fmt::format("--write-format: unknown format '{}' (pcap, pcapng)", printable(*a.write_format)));
    }
    if (a.write) {
        if (a.write->empty()) throw UsageError("-w: the file name is empty");
        if (a.count) throw UsageError("-w cannot be combined with --count");
        if (*a.write == "-" && ::isatty(STDOUT_FILENO))
            throw UsageError("-w -: standard output is a terminal; redirect it to a file or a pipe");
    }
    std::uint64_t skipped = 0;
    std::function<void(const std::string&)> on_damaged;
    if (a.skip_damaged)
        on_damaged = [&](const std::string& what) {
            ++skipped;
            std::fprintf(stderr, "capdb: warning: skipped damaged %s\n", what.c_str());
        };
    auto store = open_store_for_reading(a.db, filter, std::move(on_damaged), timeout_ms(a.timeout));
    // What --skip-damaged left out, once the output is complete.
    struct SkipSummary {
        const std::uint64_t& n;
        ~SkipSummary() {
            if (n > 0)
                std::fprintf(stderr,
                             "capdb: warning: %llu damaged structure%s skipped: the output lacks their packets\n",
                             static_cast<unsigned long long>(n), n == 1 ? "" : "s");
        }
    } summary{skipped};
    // Interface names for the long and json formats, read once per capture
    // (again when a packet names an interface described since).
    std::map<CaptureId, std::vector<std::string>> names;
    const InterfaceNames interface_names = [&](CaptureId capture, std::uint32_t if_index) -> std::string_view {
        auto it = names.find(capture);
        if (it == names.end() || if_index >= it->second.size()) {
            std::vector<std::string> list;
            for (const InterfaceRecord& i : store->interfaces(capture)) {
                if (i.if_index >= list.size()) list.resize(std::size_t{i.if_index} + 1);
                list[i.if_index] = i.name;
            }
            it = names.insert_or_assign(capture, std::move(list)).first;
        }
        return if_index < it->second.size() ? std::string_view(it->second[if_index]) : std::string_view{};
    };
    if (a.write) {
        // A reader that goes away (tshark -c N, head -c) ends the export:
        // EPIPE, not SIGPIPE.
        std::signal(SIGPIPE, SIG_IGN);
        ExportResult r;
        if (a.follow) {
            install_signal_handlers();
            FollowOptions options;
            options.should_stop = [] { return g_stop != 0; };
            r = export_follow(*store, filter, write_format, *a.write, stdout, options);
        } else {
            r = export_packets(*store, filter, write_format, *a.write, stdout);
        }
        const std::string name = *a.write == "-" ? std::string("standard output") : printable(*a.write);
        if (r.closed)
            std::fprintf(stderr, "capdb: %llu bytes written to %s before its reader closed it\n",
                         static_cast<unsigned long long>(r.bytes), name.c_str());
        else
            std::fprintf(stderr, "capdb: %llu packets, %llu bytes written to %s\n",
                         static_cast<unsigned long long>(r.packets), static_cast<unsigned long long>(r.bytes),
                         name.c_str());
        return 0;
    }
    if (a.follow) {
        install_signal_handlers();
        Printer printer(*format, stdout);
        printer.set_interface_names(interface_names);
        printer.set_local_time(a.localtime);
        printer.begin();
        FollowOptions options;
        options.should_stop = [] { return g_stop != 0; };
        options.caught_up = [&] { return printer.flush(); };
        follow(
            *store, filter, [&](const PacketView& p) { return printer.row(p); }, options);
        return 0;
    }
    if (a.count) {
        std::printf("%llu\n", static_cast<unsigned long long>(store->count(filter)));
        return 0;
    }
    Printer printer(*format, stdout);
    printer.set_interface_names(interface_names);
    printer.set_local_time(a.localtime);
    printer.begin();
    store->query(filter, [&](const PacketView& p) { return printer.row(p); });
    printer.flush();
    return 0;
}

}  // namespace capdb::cli
