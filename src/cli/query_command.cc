// 'capdb query': filters parsed and checked before the database is touched,
// then the matches printed (or counted, or followed).
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
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
namespace {

std::optional<Prefix> address_arg(const std::string& flag, const std::optional<std::string>& arg) {
    if (!arg) return std::nullopt;
    const std::string& text = *arg;
    auto p = parse_prefix(text);
    if (!p)
        throw UsageError(fmt::format("{}: '{}' is not an IPv4 or IPv6 address or CIDR prefix", flag, printable(text)));
    return p;
}

std::optional<std::uint16_t> port_arg(const std::string& flag, const std::optional<std::string>& arg) {
    if (!arg) return std::nullopt;
    const std::string& text = *arg;
    auto p = parse_port(text);
    if (!p) throw UsageError(fmt::format("{}: '{}' is not a port number (0-65535)", flag, printable(text)));
    return p;
}

Filter build_filter(const QueryArgs& a) {
    Filter f;
    f.from_ns = time_arg("--from", a.from);
    f.to_ns = time_arg("--to", a.to);
    if (f.from_ns && f.to_ns && *f.from_ns > *f.to_ns)
        throw UsageError(fmt::format("--from {} is after --to {}", printable(*a.from), printable(*a.to)));
    // The flags and the expression make one tree: the flags' terms ANDed
    // with the expression.
    std::vector<Expr> terms;
    if (auto p = address_arg("--src", a.src)) terms.push_back(Expr::address(*p, Dir::src));
    if (auto p = address_arg("--dst", a.dst)) terms.push_back(Expr::address(*p, Dir::dst));
    if (auto p = address_arg("--host", a.host)) terms.push_back(Expr::address(*p, Dir::either));
    if (auto n = port_arg("--port", a.port)) terms.push_back(Expr::port(*n, *n, Dir::either));
    if (auto n = port_arg("--sport", a.sport)) terms.push_back(Expr::port(*n, *n, Dir::src));
    if (auto n = port_arg("--dport", a.dport)) terms.push_back(Expr::port(*n, *n, Dir::dst));
    if (a.proto) {
        if (*a.proto == "arp") {
            terms.push_back(Expr::ethertype(0x0806));
        } else {
            const auto proto = parse_proto(*a.proto);
            if (!proto)
                throw UsageError(fmt::format(
                    "--proto: unknown protocol '{}' (tcp, udp, icmp, icmp6, sctp, arp or 0-255)", printable(*a.proto)));
            terms.push_back(Expr::ip_proto(*proto));
        }
    }
    terms.push_back(parse_expression(a.expression));
    f.expr = Expr::all_of(std::move(terms));
    f.capture = a.capture;
    if (a.limit) {
        if (*a.limit < 0) throw UsageError(fmt::format("--limit must be 0 or more, not {}", *a.limit));
        f.limit = static_cast<std::uint64_t>(*a.limit);
    }
    return f;
}

}  // namespace

int run_query(const QueryArgs& a) {
    const Filter filter = build_filter(a);  // all checks before the database is touched
    auto format = parse_format(a.format);
    if (!format)
        throw UsageError(fmt::format("--format: unknown format '{}' (line, long, json, csv)", printable(a.format)));
    if (a.follow && a.count) throw UsageError("--follow cannot be combined with --count");
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
    const std::string db = database_path(a.db);
    StoreOptions store_options{.read_only = true, .create = false};
    std::uint64_t skipped = 0;
    if (a.skip_damaged)
        store_options.on_damaged = [&](const std::string& what) {
            ++skipped;
            std::fprintf(stderr, "capdb: warning: skipped damaged %s\n", what.c_str());
        };
    auto store = open_sqlite_store(db, store_options);
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
    // An id of no capture is the command line's mistake, not the database's:
    // the same arguments would fail again on any healthy database.
    if (filter.capture && !store->capture(*filter.capture))
        throw UsageError(fmt::format("--capture {}: no such capture in '{}' (see 'capdb captures')", *filter.capture,
                                     printable(db)));
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
    printer.begin();
    store->query(filter, [&](const PacketView& p) { return printer.row(p); });
    printer.flush();
    return 0;
}

}  // namespace capdb::cli
