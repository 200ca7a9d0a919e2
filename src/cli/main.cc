// capdb command line: wires CLI11 to the library. The only file that knows
// CLI11, and where a command's capdb::Error becomes a message and an exit
// status. Each command is in its own file (query_command.cc,
// captures_command.cc, capture_commands.cc).
#include <unistd.h>

#include <charconv>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "capdb/error.h"
#include "capdb/ingest.h"
#include "capdb/live.h"
#include "capdb/packet.h"
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
  capdb query 'host 192.0.2.1 or host 192.0.2.7'  tcpdump's filter language
  capdb query --count 'not port 443 and (tcp or udp)'
  capdb query --host 10.1.2.3 --port 53 -w dns.pcap  the packets themselves, for tcpdump or Wireshark
  capdb stats                                   what is in the database: totals, time chart, top talkers
  capdb stats --host 10.1.2.3 --interval 1m --plot host.svg
  capdb flows --proto tcp --sort bytes --limit 20   the 20 largest TCP conversations
  capdb captures                                list what has been ingested
  capdb relocate 3 /archive/x.pcap              capture 3's file has moved (checked by SHA-256)
  capdb ingest -i eth0 tcp port 443             capture live until Ctrl-C; queryable within a second
  capdb ingest -i any --duration 60 --filter 'udp port 53'
  capdb query --follow --proto udp --port 53    print matches, then new ones as they arrive
  capdb interfaces                              list the capture devices
  capdb prune --before 2017-03-26 --dry-run     what would go: packets older than a day
  capdb prune --keep-size 20G                   the oldest packets go until the database fits
  capdb vacuum                                  return the freed pages to the file system
  capdb verify --files                          check every checksum, and the original files' SHA-256
  capdb push --to clickhouse://ch1:8123/capdb   copy the local captures to a ClickHouse database
)";

// The examples, then the exit codes from the one table in capdb/error.h.
std::string help_footer() {
    std::string out = kExamples;
    out += "\nExit codes:\n";
    for (const ExitCodeInfo& e : kExitCodes)
        out += fmt::format("  {:<4} {:<12} {}\n", static_cast<int>(e.code), e.name, e.meaning);
    return out;
}

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
    "");  // no description: it would be appended to the type name in --help

const char* const kDbHelp =
    "Database path, or clickhouse://[USER@]HOST:PORT/DATABASE (default: $CAPDB_DB or ./capdb.db)";
const char* const kTimeoutHelp = "ClickHouse: the longest a request may take (seconds, default 300)";

void add_ingest_options(CLI::App& ingest, IngestArgs& in) {
    ingest
        .add_option("files", in.files,
                    "Capture files; - reads standard input. With --live: the capture filter, as in tcpdump")
        ->type_name("FILE");
    ingest.add_option("--db", in.db, kDbHelp)->type_name("PATH");
    ingest
        .add_option("--sensor", in.sensor, "ClickHouse: the name of this sensor in 'captures' (default: the host name)")
        ->type_name("NAME");
    ingest.add_option("--timeout", in.timeout, kTimeoutHelp)->type_name("SECONDS");
    ingest
        .add_option("--batch", in.batch,
                    fmt::format("Packets per committed batch (default {} for files, {} live)", IngestOptions{}.batch,
                                LiveIngestOptions{}.batch))
        ->check(kDecimal)
        ->type_name("N");
    ingest
        .add_option("--preview-bytes", in.preview_bytes,
                    fmt::format("Bytes of each frame kept as a preview (0-{}, default {})", kMaxPreviewBytes,
                                IngestOptions{}.preview_bytes))
        ->check(kDecimal)
        ->type_name("N");
    auto* live =
        ingest.add_option("-i,--live", in.live, "Capture live from this interface ('any' for all)")->type_name("IFACE");
    ingest.add_option("--filter", in.filter, "Live: BPF capture filter (tcpdump syntax)")
        ->needs(live)
        ->type_name("EXPR");
    ingest.add_option("--duration", in.duration, "Live or --follow: stop after this many seconds")
        ->type_name("SECONDS");
    ingest
        .add_flag("--follow", in.follow,
                  "Keep reading a capture file that is still being written (tail -f), until Ctrl-C or --duration")
        ->excludes(live);
    ingest.add_option("--count", in.count, "Live: stop after this many packets")
        ->check(kDecimal)
        ->needs(live)
        ->type_name("N");
    ingest
        .add_option("--snaplen", in.snaplen,
                    fmt::format("Live: bytes kept of each packet (1-{}, default {})", kMaxSnaplen, kDefaultSnaplen))
        ->check(kDecimal)
        ->needs(live)
        ->type_name("BYTES");
    ingest.add_flag("--no-promisc", in.no_promisc, "Live: do not put the interface in promiscuous mode")->needs(live);
    ingest.add_option("--buffer-size", in.buffer_size, "Live: kernel capture buffer (bytes; k, m, g suffixes)")
        ->transform(CLI::AsSizeValue(false).description(""))
        ->needs(live)
        ->type_name("BYTES");
    auto* copy = ingest.add_flag("--copy", in.copy,
                                 "Also keep the files' packets in the packet store (<db>.packets/), so that the "
                                 "originals may be deleted");
    ingest
        .add_flag("--no-packets", in.no_packets,
                  "Live capture and standard input: keep only summaries, not the packets (query -w cannot write them)")
        ->excludes(copy);
    ingest
        .add_option("--segment-size", in.segment_size,
                    fmt::format("Packet store: start a new segment file past this size (bytes; k, m, g suffixes; "
                                "default {} MiB)",
                                kDefaultSegmentBytes >> 20))
        ->transform(CLI::AsSizeValue(false).description(""))
        ->type_name("BYTES");
    ingest
        .add_option("--max-size", in.max_size,
                    "Live: a ring buffer; the oldest packets (segments and their index rows) go when the database, its "
                    "WAL and the packet store would grow past SIZE (k, M, G suffixes)")
        ->transform(CLI::AsSizeValue(false).description(""))
        ->needs(live)
        ->type_name("SIZE");
}

const char* const kQueryExamples = R"(
EXPRESSION is a filter in tcpdump's syntax (README.md, "Query expressions"), ANDed with the flags:
  host A, src A, dst net 10.0.0.0/8, net 192.168.0.0 mask 255.255.0.0, arp host A
  port 53, tcp dst port 443, udp portrange 1-1023, tcp, udp, icmp, icmp6, sctp, ip, ip6, arp
  proto 47, ip6 proto 58, less 128, greater 1500; and (&&), or (||), not (!), parentheses
  As in tcpdump, 'and' and 'or' have one precedence and group from the left: 'a or b and c' is '(a or b) and c'.

Examples:
  capdb query host 192.0.2.1 or host 192.0.2.7
  capdb query 'src net 10.0.0.0/8 and (udp port 53 or icmp)'
  capdb query --count 'not port 443'
  capdb query --from 2017-03-26 'tcp port 80 or 443' --format long
  capdb query 'host 2001:db8::1 and not tcp' -w out.pcap
)";

// The filter options of query, stats and flows.
void add_filter_options(CLI::App& query, QueryArgs& q) {
    query.add_option("--db", q.db, kDbHelp)->type_name("PATH");
    query.add_option("--timeout", q.timeout, kTimeoutHelp)->type_name("SECONDS");
    query
        .add_option("--from", q.from,
                    "Start time, inclusive: epoch seconds, RFC 3339 (UTC when no zone is given), now or now-DURATION")
        ->type_name("TIME");
    query
        .add_option("--to", q.to,
                    "End time, inclusive, through the end of its unit: --to 2017-03-26 takes the whole day, "
                    "--to 1490492402 the whole second")
        ->type_name("TIME");
    query.add_option("--last", q.last, "From DURATION ago (90s, 15m, 2h, 7d) to now")->type_name("DURATION");
    query.add_option("--src", q.src, "Source address or CIDR prefix")->type_name("ADDR");
    query.add_option("--dst", q.dst, "Destination address or CIDR prefix")->type_name("ADDR");
    query.add_option("--host", q.host, "Address or prefix in either direction")->type_name("ADDR");
    query.add_flag("--inner", q.inner,
                   "--src, --dst and --host match only the innermost IP header (default: the innermost or, for a "
                   "tunnelled packet, the outermost)");
    query.add_flag("--outer", q.outer, "--src, --dst and --host match only a tunnelled packet's outermost IP header");
    query
        .add_option("--tunnel", q.tunnel,
                    "Only packets in this tunnel (the outermost): gtp, vxlan, geneve, gre, "
                    "erspan, mpls, pppoe, ipip, nsh, or any")
        ->type_name("TYPE");
    query.add_option("--teid", q.teid, "Only GTP-U packets of this TEID")->check(kDecimal)->type_name("N");
    query.add_option("--vni", q.vni, "Only VXLAN or Geneve packets of this VNI")->check(kDecimal)->type_name("N");
    query.add_option("--port", q.port, "TCP/UDP/SCTP port in either direction")->type_name("PORT");
    query.add_option("--sport", q.sport, "Source port")->type_name("PORT");
    query.add_option("--dport", q.dport, "Destination port")->type_name("PORT");
    query.add_option("--proto", q.proto, "tcp, udp, icmp, icmp6, sctp, arp or a protocol number")->type_name("PROTO");
    query.add_option("--capture", q.capture, "Only this capture id (see 'capdb captures')")
        ->check(kDecimal)
        ->type_name("ID");
}

void add_query_options(CLI::App& query, QueryArgs& q) {
    query.footer(kQueryExamples);
    query.add_option("expression", q.expression, "Filter in tcpdump's syntax, ANDed with the flags")
        ->type_name("EXPRESSION");
    add_filter_options(query, q);
    query.add_option("--limit", q.limit, "At most N packets")->check(kDecimal)->type_name("N");
    query.add_option("--format", q.format, "line (default), long, json or csv")->type_name("FORMAT");
    query.add_flag("--localtime", q.localtime,
                   "With --format long: times in this machine's time zone, with its offset (as tcpdump prints them)");
    query.add_flag("--count", q.count, "Print only the number of matching packets");
    query.add_flag("-f,--follow", q.follow,
                   "Keep printing (with -w: writing) new matching packets as they are committed, until Ctrl-C");
    query
        .add_option("-w,--write", q.write,
                    "Write the matching packets whole, read from their original files, to FILE ('-': standard output)")
        ->type_name("FILE");
    query.add_option("--write-format", q.write_format, "With -w: pcap (default) or pcapng")->type_name("FORMAT");
    query.add_flag("--skip-damaged", q.skip_damaged,
                   "Skip damaged blocks, pages and posting lists (naming each on stderr) instead of failing");
}

void add_verify_options(CLI::App& verify, VerifyArgs& v) {
    verify.add_option("--db", v.db, kDbHelp)->type_name("PATH");
    verify.add_option("--capture", v.capture, "Only this capture")->check(kDecimal)->type_name("ID");
    verify.add_flag("--files", v.files,
                    "Also re-hash each capture's original file and compare it with the SHA-256 recorded at ingest");
    verify.add_option("--format", v.format, "text (default) or json (one object per problem, then a summary)")
        ->type_name("FORMAT");
}

void add_captures_options(CLI::App& captures, CapturesArgs& c) {
    captures.add_option("--db", c.db, kDbHelp)->type_name("PATH");
    captures.add_option("--timeout", c.timeout, kTimeoutHelp)->type_name("SECONDS");
    captures.add_flag("--long", c.long_form, "Every column: counts by kind, first and last time, live statistics");
    captures.add_option("--format", c.format, "text (default) or json (one object per capture per line)")
        ->type_name("FORMAT");
}

void add_prune_options(CLI::App& prune, PruneArgs& p) {
    prune.add_option("--db", p.db, kDbHelp)->type_name("PATH");
    prune.add_option("--timeout", p.timeout, kTimeoutHelp)->type_name("SECONDS");
    prune
        .add_option("--before", p.before,
                    "Remove the blocks of packets older than TIME (a block with a packet at or after TIME stays "
                    "whole); epoch seconds, RFC 3339 or now-DURATION, as query --from")
        ->type_name("TIME");
    prune
        .add_option("--capture", p.capture,
                    "Only this capture; alone, remove the whole capture (its original file is never touched)")
        ->check(kDecimal)
        ->type_name("ID");
    prune
        .add_option("--keep-size", p.keep_size,
                    "Remove the oldest packets until the database (pages in use), its WAL and the packet store "
                    "measure at most SIZE (k, M, G suffixes: powers of 1024)")
        ->transform(CLI::AsSizeValue(false).description(""))
        ->type_name("SIZE");
    prune.add_flag("--dry-run", p.dry_run, "Say what would be removed, change nothing");
}

void add_relocate_options(CLI::App& relocate, RelocateArgs& r) {
    relocate.add_option("--db", r.db, kDbHelp)->type_name("PATH");
    relocate.add_option("ID", r.id, "The capture (see 'capdb captures')")->required()->check(kDecimal)->type_name("ID");
    relocate.add_option("PATH", r.path, "Where its file is now")->required()->type_name("PATH");
}

void add_stats_options(CLI::App& stats, StatsArgs& s) {
    add_filter_options(stats, s.filter);
    stats
        .add_option("--interval", s.interval,
                    "Time chart interval: 1s, 100ms, 5m, 1h, 1d... (default: fitted to the width)")
        ->type_name("INTERVAL");
    stats.add_option("--top", s.top, "Rows of each top table (default 10)")->check(kDecimal)->type_name("N");
    stats.add_flag("--no-top", s.no_top, "Only the totals, time chart and protocol mix (no top tables)");
    stats.add_option("--format", s.format, "text (default) or json")->type_name("FORMAT");
    stats.add_flag("--plain", s.plain, "No colours or escape codes (also when stdout is not a terminal)");
    stats.add_option("--plot", s.plot, "Also write the time chart as a standalone SVG file")->type_name("FILE.svg");
    stats.add_option("--width", s.width, "Columns of the text report (default: the terminal's, else 80)")
        ->check(kDecimal)
        ->type_name("N");
    stats.add_option("expression", s.filter.expression, "Filter in tcpdump's syntax, as in capdb query")
        ->type_name("EXPRESSION");
}

void add_flows_options(CLI::App& flows, FlowsArgs& f) {
    add_filter_options(flows, f.filter);
    flows.add_option("--sort", f.sort, "bytes (default), packets, start or duration")->type_name("KEY");
    flows.add_option("--limit", f.limit, "At most N conversations")->check(kDecimal)->type_name("N");
    flows.add_option("--format", f.format, "line (default), json or csv")->type_name("FORMAT");
    flows.add_option("expression", f.filter.expression, "Filter in tcpdump's syntax, as in capdb query")
        ->type_name("EXPRESSION");
}

// "capdb" or "capdb query": the command whose --help the user wants.
std::string command_name(const CLI::App* cmd) { return cmd ? "capdb " + cmd->get_name() : std::string("capdb"); }

// The words CLI11 could not place, in the order given, as capdb says them.
std::string extras_message(const CLI::App* cmd, const std::vector<std::string>& words) {
    std::string out;
    for (const std::string& w : words) {
        if (!out.empty()) out += ", ";
        if (w.size() > 1 && w[0] == '-' && w != "--")
            out += fmt::format("unknown option '{}'", printable(w.substr(0, w.find('='))));
        else if (!cmd)
            out += fmt::format(
                "unknown command '{}' (ingest, query, stats, flows, captures, prune, vacuum, relocate, verify or "
                "interfaces)",
                printable(w));
        else
            out += fmt::format("unexpected argument '{}'", printable(w));
    }
    return out;
}

// CLI11's message for e, reworded where capdb has its own: an option given
// twice, an option without its value, a value of the wrong type.
std::string parse_error_message(const CLI::App* cmd, const CLI::ParseError& e) {
    const std::string what = e.what();
    if (cmd && e.get_name() == "ArgumentMismatch") {
        for (const CLI::Option* opt : cmd->get_options()) {
            const std::string name = opt->get_name();
            if (what.rfind(name + ":", 0) != 0) continue;
            if (opt->count() > 1 && opt->get_multi_option_policy() == CLI::MultiOptionPolicy::Throw)
                return opt->count() == 2 ? fmt::format("{} given twice", name)
                                         : fmt::format("{} given {} times", name, opt->count());
            return fmt::format("{} needs a value ({})", name, opt->get_type_name());
        }
    }
    if (cmd && e.get_name() == "ConversionError") {
        for (const CLI::Option* opt : cmd->get_options()) {
            if (what.find(" " + opt->get_name() + " =") == std::string::npos || opt->results().empty()) continue;
            return fmt::format("{}: '{}' is not a valid {}", opt->get_name(), printable(opt->results().back()),
                               opt->get_type_name());
        }
    }
    return printable(what);
}

int usage_error(const CLI::App* cmd, const std::string& message) {
    const std::string prefix = cmd ? cmd->get_name() + ": " : std::string();
    std::fprintf(stderr, "capdb: error: %s%s (see '%s --help')\n", prefix.c_str(), message.c_str(),
                 command_name(cmd).c_str());
    return static_cast<int>(Exit::usage);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"capdb: index packet captures in SQLite and query them in milliseconds"};
    app.footer(help_footer());
    app.set_version_flag("--version", std::string("capdb ") + CAPDB_VERSION);
    app.require_subcommand(0, 1);
    // Unknown words are collected, not thrown, so that they can be named in
    // the order given (CLI11's own message lists them backwards).
    app.allow_extras();

    IngestArgs in;
    auto* ingest = app.add_subcommand("ingest", "Read pcap/pcapng files (- for standard input) into the database");
    add_ingest_options(*ingest, in);

    QueryArgs q;
    auto* query = app.add_subcommand(
        "query", "Print the packets matching the flags and a tcpdump-syntax expression, in time order");
    add_query_options(*query, q);

    StatsArgs st;
    auto* stats = app.add_subcommand(
        "stats", "Summarise the matching packets: totals, time chart, top talkers, conversations, ports, protocols");
    add_stats_options(*stats, st);

    FlowsArgs fl;
    auto* flows =
        app.add_subcommand("flows", "One line per conversation (both directions merged) of the matching packets");
    add_flows_options(*flows, fl);

    CapturesArgs c;
    auto* captures = app.add_subcommand("captures", "List the ingested captures");
    add_captures_options(*captures, c);

    auto* interfaces = app.add_subcommand("interfaces", "List the interfaces capdb can capture on (as tcpdump -D)");

    PruneArgs pr;
    auto* prune = app.add_subcommand("prune", "Remove old packets from the database (and the packet store)");
    add_prune_options(*prune, pr);

    VacuumArgs va;
    auto* vacuum =
        app.add_subcommand("vacuum", "Return the database pages freed by prune to the file system, empty the WAL");
    vacuum->add_option("--db", va.db, kDbHelp)->type_name("PATH");

    RelocateArgs r;
    auto* relocate = app.add_subcommand(
        "relocate", "Point a file capture at its moved file, after checking its size and SHA-256 (for query -w)");
    add_relocate_options(*relocate, r);

    PushArgs pu;
    auto* push = app.add_subcommand(
        "push", "Copy the captures of a local database to a ClickHouse database (again: nothing twice)");
    push->add_option("--db", pu.db, "The local database (default: $CAPDB_DB or ./capdb.db)")->type_name("PATH");
    push->add_option("--to", pu.to, "clickhouse://[USER@]HOST:PORT/DATABASE")->required()->type_name("URL");
    push->add_option("--capture", pu.capture, "Only this capture")->check(kDecimal)->type_name("ID");
    push->add_flag("--delete-after", pu.delete_after,
                   "Remove each capture from the local database once the destination holds all its packets");
    push->add_option("--sensor", pu.sensor, "The sensor the captures are recorded as (default: the host name)")
        ->type_name("NAME");
    push->add_option("--timeout", pu.timeout, kTimeoutHelp)->type_name("SECONDS");

    VerifyArgs ve;
    auto* verify = app.add_subcommand(
        "verify", "Check the database's structures against their checksums and each other (read-only)");
    add_verify_options(*verify, ve);

    for (CLI::App* sub : {ingest, query, stats, flows, captures, interfaces, prune, vacuum, relocate, verify, push})
        sub->allow_extras();

    auto selected = [&]() -> const CLI::App* {
        for (const CLI::App* sub :
             {ingest, query, stats, flows, captures, interfaces, prune, vacuum, relocate, verify, push})
            if (sub->parsed()) return sub;
        return nullptr;
    };

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        const CLI::App* cmd = selected();
        return usage_error(cmd, parse_error_message(cmd, e));
    }
    const CLI::App* cmd = selected();
    std::vector<std::string> extras = app.remaining();
    if (cmd) {
        const std::vector<std::string> more = cmd->remaining();
        extras.insert(extras.end(), more.begin(), more.end());
    }
    if (!extras.empty()) return usage_error(cmd, extras_message(cmd, extras));

    try {
        if (ingest->parsed()) return run_ingest(in);
        if (query->parsed()) return run_query(q);
        if (stats->parsed()) return run_stats(st);
        if (flows->parsed()) return run_flows(fl);
        if (captures->parsed()) return run_captures(c);
        if (interfaces->parsed()) return run_interfaces();
        if (prune->parsed()) return run_prune(pr);
        if (vacuum->parsed()) return run_vacuum(va);
        if (relocate->parsed()) return run_relocate(r);
        if (verify->parsed()) return run_verify(ve);
        if (push->parsed()) return run_push(pu);
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
