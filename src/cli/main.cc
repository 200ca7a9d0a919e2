// capdb command line: wires CLI11 to the library. The only file that knows
// CLI11, and where a command's capdb::Error becomes a message and an exit
// status. The commands that read captures are in capture_commands.cc.
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "capdb/error.h"
#include "capdb/filter.h"
#include "capdb/follow.h"
#include "capdb/format.h"
#include "capdb/store.h"
#include "cli/cli.h"

#ifndef CAPDB_VERSION
#define CAPDB_VERSION "0.1.0"
#endif

namespace {

using namespace capdb;
using namespace capdb::cli;

const char* const kExamples = R"(
Examples:
  capdb ingest sample.pcap                      index a capture into ./capdb.db
  capdb ingest --db cases.db a.pcap b.pcapng    several files, another database
  tcpdump -w - -c 100 | capdb ingest -          from standard input
  capdb query --src 192.168.1.53                what did this host send
  capdb query --host 10.0.0.0/8 --port 443 --from 2017-03-26T01:00:00Z --to 2017-03-26T02:00
  capdb query --proto udp --dport 53 --format csv > dns.csv
  capdb query --count --from 1490492400 --to 1490496000
  capdb captures                                list what has been ingested
  capdb ingest -i eth0 tcp port 443             capture live until Ctrl-C; queryable within a second
  capdb ingest -i any --duration 60 --filter 'udp port 53'
  capdb query --follow --proto udp --port 53    print matches, then new ones as they arrive
  capdb interfaces                              list the capture devices

Exit codes: 0 ok, 2 usage, 3 unreadable input, 4 damaged capture, 5 unsupported
link type, 6 database error, 7 capture device error, 8 permission denied,
1 internal error (or libpcap cannot be loaded).
)";

// Integer options take plain decimal: CLI11 alone would also take "0x50"
// or "1e3", and saturate values beyond 64 bits.
const CLI::Validator kDecimal(
    [](std::string& text) -> std::string {
        std::int64_t value = 0;
        const char* end = text.data() + text.size();
        const auto [ptr, ec] = std::from_chars(text.data(), end, value);
        if (text.empty()) return "empty value";
        if (ec == std::errc::result_out_of_range) return "not a 64-bit integer: " + text;
        if (ec != std::errc() || ptr != end) return "not a decimal integer: " + text;
        return {};
    },
    "INT");

struct QueryArgs {
    std::string db;
    // Unset when the flag is absent; an empty value given is an error.
    std::optional<std::string> from, to, src, dst, host, port, sport, dport, proto;
    std::optional<std::int64_t> capture;
    std::optional<std::int64_t> limit;
    std::string format = "line";
    bool count = false;
    bool follow = false;
};

std::optional<Prefix> address_arg(const std::string& flag, const std::optional<std::string>& arg) {
    if (!arg) return std::nullopt;
    const std::string& text = *arg;
    auto p = parse_prefix(text);
    if (!p) throw UsageError(fmt::format("{}: '{}' is not an IPv4 or IPv6 address or CIDR prefix", flag, printable(text)));
    return p;
}

std::optional<std::uint16_t> port_arg(const std::string& flag, const std::optional<std::string>& arg) {
    if (!arg) return std::nullopt;
    const std::string& text = *arg;
    auto p = parse_port(text);
    if (!p) throw UsageError(fmt::format("{}: '{}' is not a port number (0-65535)", flag, printable(text)));
    return p;
}

std::optional<std::int64_t> time_arg(const std::string& flag, const std::optional<std::string>& arg) {
    if (!arg) return std::nullopt;
    const std::string& text = *arg;
    auto t = parse_time(text);
    if (!t)
        throw UsageError(fmt::format(
            "{}: '{}' is not a time (epoch seconds such as 1490492402.5, or RFC 3339 such as 2017-03-26T01:40:02Z)",
            flag, printable(text)));
    return t;
}

Filter build_filter(const QueryArgs& a) {
    Filter f;
    f.from_ns = time_arg("--from", a.from);
    f.to_ns = time_arg("--to", a.to);
    if (f.from_ns && f.to_ns && *f.from_ns > *f.to_ns)
        throw UsageError(fmt::format("--from {} is after --to {}", printable(*a.from), printable(*a.to)));
    f.src = address_arg("--src", a.src);
    f.dst = address_arg("--dst", a.dst);
    f.host = address_arg("--host", a.host);
    f.port = port_arg("--port", a.port);
    f.sport = port_arg("--sport", a.sport);
    f.dport = port_arg("--dport", a.dport);
    if (a.proto) {
        f.proto = parse_proto(*a.proto);
        if (!f.proto)
            throw UsageError(fmt::format("--proto: unknown protocol '{}' (tcp, udp, icmp, icmp6, sctp or 0-255)",
                                         printable(*a.proto)));
    }
    f.capture = a.capture;
    if (a.limit) {
        if (*a.limit < 0) throw UsageError(fmt::format("--limit must be 0 or more, not {}", *a.limit));
        f.limit = static_cast<std::uint64_t>(*a.limit);
    }
    return f;
}

int run_query(const QueryArgs& a) {
    const Filter filter = build_filter(a);  // all checks before the database is touched
    auto format = parse_format(a.format);
    if (!format) throw UsageError(fmt::format("--format: unknown format '{}' (line, long, json, csv)", printable(a.format)));
    if (a.follow && a.count) throw UsageError("--follow cannot be combined with --count");
    const std::string db = database_path(a.db);
    auto store = open_sqlite_store(db, {.read_only = true, .create = false});
    // An id of no capture is the command line's mistake, not the database's:
    // the same arguments would fail again on any healthy database.
    if (filter.capture && !store->capture(*filter.capture))
        throw UsageError(fmt::format("--capture {}: no such capture in '{}' (see 'capdb captures')", *filter.capture,
                                     printable(db)));
    if (a.follow) {
        install_signal_handlers();
        Printer printer(*format, stdout);
        printer.begin();
        FollowOptions options;
        options.should_stop = [] { return g_stop != 0; };
        options.caught_up = [&] { return printer.flush(); };
        follow(*store, filter, [&](const PacketView& p) { return printer.row(p); }, options);
        return 0;
    }
    if (a.count) {
        std::printf("%llu\n", static_cast<unsigned long long>(store->count(filter)));
        return 0;
    }
    Printer printer(*format, stdout);
    printer.begin();
    store->query(filter, [&](const PacketView& p) { return printer.row(p); });
    printer.flush();
    return 0;
}

std::string time_or_dash(const std::optional<std::int64_t>& ns) { return ns ? format_rfc3339(*ns) : "-"; }

int run_captures(const std::string& db) {
    auto store = open_sqlite_store(database_path(db), {.read_only = true, .create = false});
    std::printf("%-4s %-11s %10s %9s %9s %7s %9s  %-30s  %-30s  %s\n", "ID", "STATE", "PACKETS", "IPV4", "IPV6",
                "OTHER", "MALFORMED", "FIRST", "LAST", "SOURCE");
    for (const CaptureInfo& c : store->captures()) {
        std::string source = printable(c.meta.source);
        if (c.meta.live) source = "live:" + source;
        if (!c.meta.filter.empty()) source += " filter '" + printable(c.meta.filter) + "'";
        std::printf("%-4lld %-11s %10llu %9llu %9llu %7llu %9llu  %-30s  %-30s  %s", static_cast<long long>(c.id),
                    capture_state_name(c.state), static_cast<unsigned long long>(c.counts.packets),
                    static_cast<unsigned long long>(c.counts.ipv4), static_cast<unsigned long long>(c.counts.ipv6),
                    static_cast<unsigned long long>(c.counts.other + c.counts.unsupported),
                    static_cast<unsigned long long>(c.counts.malformed), time_or_dash(c.first_ts_ns).c_str(),
                    time_or_dash(c.last_ts_ns).c_str(), source.c_str());
        if (c.live_stats)
            std::printf("  received %llu, dropped by kernel %llu, dropped by interface %llu",
                        static_cast<unsigned long long>(c.live_stats->received),
                        static_cast<unsigned long long>(c.live_stats->dropped_kernel),
                        static_cast<unsigned long long>(c.live_stats->dropped_iface));
        if (!c.error.empty()) std::printf("  (%s)", printable(c.error).c_str());
        std::printf("\n");
    }
    return 0;
}

void add_ingest_options(CLI::App& ingest, IngestArgs& in) {
    ingest.add_option("files", in.files,
                      "Capture files; - reads standard input. With --live: the capture filter, as in tcpdump");
    ingest.add_option("--db", in.db, "Database path (default: $CAPDB_DB or ./capdb.db)");
    ingest.add_option("--batch", in.batch, "Packets per committed batch")->check(kDecimal)->capture_default_str();
    ingest.add_option("--preview-bytes", in.preview_bytes, "Bytes of each frame kept as a preview (0-256)")
        ->check(kDecimal)
        ->capture_default_str();
    auto* live = ingest.add_option("-i,--live", in.live, "Capture live from this interface ('any' for all)")
                     ->type_name("IFACE");
    ingest.add_option("--filter", in.filter, "Live: BPF capture filter (tcpdump syntax)")->needs(live);
    ingest.add_option("--duration", in.duration, "Live: stop after this many seconds")->needs(live);
    ingest.add_option("--count", in.count, "Live: stop after this many packets")->check(kDecimal)->needs(live);
    ingest.add_option("--snaplen", in.snaplen, "Live: bytes kept of each packet (1-262144)")
        ->check(kDecimal)
        ->capture_default_str()
        ->needs(live);
    ingest.add_flag("--no-promisc", in.no_promisc, "Live: do not put the interface in promiscuous mode")->needs(live);
    ingest.add_option("--buffer-size", in.buffer_size, "Live: kernel capture buffer (bytes; k, m, g suffixes)")
        ->transform(CLI::AsSizeValue(false))
        ->needs(live);
}

void add_query_options(CLI::App& query, QueryArgs& q) {
    query.add_option("--db", q.db, "Database path (default: $CAPDB_DB or ./capdb.db)");
    query.add_option("--from", q.from, "Start time, inclusive: epoch seconds or RFC 3339 (UTC if no zone)");
    query.add_option("--to", q.to, "End time, inclusive");
    query.add_option("--src", q.src, "Source address or CIDR prefix");
    query.add_option("--dst", q.dst, "Destination address or CIDR prefix");
    query.add_option("--host", q.host, "Address or prefix in either direction");
    query.add_option("--port", q.port, "TCP/UDP/SCTP port in either direction");
    query.add_option("--sport", q.sport, "Source port");
    query.add_option("--dport", q.dport, "Destination port");
    query.add_option("--proto", q.proto, "tcp, udp, icmp, icmp6, sctp or a protocol number");
    query.add_option("--capture", q.capture, "Only this capture id (see 'capdb captures')")->check(kDecimal);
    query.add_option("--limit", q.limit, "At most N packets")->check(kDecimal);
    query.add_option("--format", q.format, "line (default), long, json or csv");
    query.add_flag("--count", q.count, "Print only the number of matching packets");
    query.add_flag("-f,--follow", q.follow, "Keep printing new matching packets as they are committed, until Ctrl-C");
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"capdb: index packet captures in SQLite and query them in milliseconds"};
    app.footer(kExamples);
    app.set_version_flag("--version", std::string("capdb ") + CAPDB_VERSION);
    app.require_subcommand(0, 1);

    // Only the subcommand named first gets its options (a query does not
    // pay for building ingest's); without one (capdb --help) all do.
    const std::string_view named = argc > 1 ? std::string_view(argv[1]) : std::string_view();
    auto wanted = [&](std::string_view name) { return named == name || named.empty() || named[0] == '-'; };

    IngestArgs in;
    auto* ingest = app.add_subcommand("ingest", "Read pcap/pcapng files (- for standard input) into the database");
    if (wanted("ingest")) add_ingest_options(*ingest, in);

    QueryArgs q;
    auto* query = app.add_subcommand("query", "Print the packets matching all given filters, in time order");
    if (wanted("query")) add_query_options(*query, q);

    std::string captures_db;
    auto* captures = app.add_subcommand("captures", "List the ingested captures");
    captures->add_option("--db", captures_db, "Database path (default: $CAPDB_DB or ./capdb.db)");

    auto* interfaces = app.add_subcommand("interfaces", "List the interfaces capdb can capture on (as tcpdump -D)");

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        // CLI11 quotes the offending argument verbatim: escape it.
        std::fprintf(stderr, "capdb: error: %s\nRun 'capdb --help' for usage.\n", printable(e.what()).c_str());
        return static_cast<int>(Exit::usage);
    }

    try {
        if (ingest->parsed()) return run_ingest(in);
        if (query->parsed()) return run_query(q);
        if (captures->parsed()) return run_captures(captures_db);
        if (interfaces->parsed()) return run_interfaces();
        std::fprintf(stderr, "%s", app.help().c_str());
        return static_cast<int>(Exit::usage);
    } catch (const Error& e) {
        std::fprintf(stderr, "capdb: error: %s\n", e.what());
        return static_cast<int>(e.code());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "capdb: internal error: %s\n", e.what());
        return static_cast<int>(Exit::internal);
    }
}
