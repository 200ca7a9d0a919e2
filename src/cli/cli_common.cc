// Signal handling, the database path and the filter options, shared by the commands.
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "capdb/error.h"
#include "capdb/filter.h"
#include "capdb/store.h"
#include "cli/cli.h"

namespace capdb::cli {

std::atomic<int> g_stop{0};
static_assert(std::atomic<int>::is_always_lock_free, "g_stop is written in a signal handler");

namespace {

extern "C" void on_signal(int sig) {
    const int saved_errno = errno;
    if (g_stop) {
        // A second signal: stop at once. SQLite discards the open transaction,
        // so the database keeps exactly what was committed.
        std::signal(sig, SIG_DFL);
        std::raise(sig);
    }
    g_stop = 1;
    errno = saved_errno;
}

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

}  // namespace

void install_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

std::string database_path(const std::string& flag) {
    if (!flag.empty()) return flag;
    if (const char* env = std::getenv("CAPDB_DB"); env && *env) return env;
    return "capdb.db";
}

std::uint32_t timeout_ms(const std::optional<double>& seconds) {
    if (!seconds) return 0;
    if (!(*seconds >= 0.001 && *seconds <= 86400))
        throw UsageError("--timeout must be between 0.001 and 86400 seconds");
    return static_cast<std::uint32_t>(*seconds * 1000 + 0.5);
}

std::optional<TimeSpan> time_arg(const std::string& flag, const std::optional<std::string>& arg, std::int64_t now_ns) {
    if (!arg) return std::nullopt;
    const std::string& text = *arg;
    auto t = parse_time_span(text, now_ns);
    if (!t)
        throw UsageError(
            fmt::format("{}: '{}' is not a time (epoch seconds such as 1490492402.5, RFC 3339 such as "
                        "2017-03-26T01:40:02Z, now, or now-DURATION such as now-15m)",
                        flag, printable(text)));
    return t;
}

Filter build_filter(const QueryArgs& a) {
    Filter f;
    // One reading of the clock for every relative time. A bound covers its
    // written unit: --to 2017-03-26 runs through the end of that day.
    const std::int64_t now = wall_clock_ns();
    if (const auto from = time_arg("--from", a.from, now)) f.from_ns = from->first_ns;
    if (const auto to = time_arg("--to", a.to, now)) f.to_ns = to->last_ns;
    if (a.last) {
        if (a.from || a.to) throw UsageError("--last cannot be combined with --from or --to");
        const auto d = parse_duration(*a.last);
        if (!d)
            throw UsageError(fmt::format(
                "--last: '{}' is not a duration (a number and a unit: s, m, h, d or w, such as 90s, 15m, 7d)",
                printable(*a.last)));
        f.from_ns = now - *d;
        // Following, the packets still to come are wanted too.
        if (!a.follow) f.to_ns = now;
    }
    if (f.from_ns && f.to_ns && *f.from_ns > *f.to_ns)
        throw UsageError(
            fmt::format("--from {} is after --to {}", printable(a.from.value_or("")), printable(a.to.value_or(""))));
    // The flags and the expression make one tree: the flags' terms ANDed
    // with the expression. The address flags name IP addresses (as `ip host`
    // or `ip6 host` would); the expression's `host` also matches ARP rows.
    // --inner / --outer choose the IP header they look at (default: either).
    std::vector<Expr> terms;
    if (a.inner && a.outer) throw UsageError("--inner and --outer cannot be combined");
    const Side side = a.inner ? Side::inner : a.outer ? Side::outer : Side::either;
    if (side != Side::either && !a.src && !a.dst && !a.host)
        throw UsageError(
            fmt::format("--{} restricts --src, --dst or --host; give one of them", a.inner ? "inner" : "outer"));
    if (auto p = address_arg("--src", a.src)) terms.push_back(Expr::address(*p, Dir::src, net_kind::ip, side));
    if (auto p = address_arg("--dst", a.dst)) terms.push_back(Expr::address(*p, Dir::dst, net_kind::ip, side));
    if (auto p = address_arg("--host", a.host)) terms.push_back(Expr::address(*p, Dir::either, net_kind::ip, side));
    if (a.tunnel) {
        std::optional<Tunnel> t;
        if (*a.tunnel == "any") t = Tunnel::none;
        for (unsigned k = 1; k <= kMaxTunnelKind; ++k)
            if (*a.tunnel == tunnel_name(static_cast<Tunnel>(k))) t = static_cast<Tunnel>(k);
        if (!t)
            throw UsageError(fmt::format(
                "--tunnel: unknown tunnel '{}' (gtp, vxlan, geneve, gre, erspan, mpls, pppoe, ipip, nsh or any)",
                printable(*a.tunnel)));
        terms.push_back(Expr::tunnel(*t));
    }
    if (a.teid) {
        if (*a.teid < 0 || *a.teid > 0xffffffffLL)
            throw UsageError(fmt::format("--teid: {} is not a TEID (0-4294967295)", *a.teid));
        terms.push_back(Expr::tunnel_id(Tunnel::gtp, static_cast<std::uint32_t>(*a.teid)));
    }
    if (a.vni) {
        if (*a.vni < 0 || *a.vni > 0xffffff)
            throw UsageError(fmt::format("--vni: {} is not a VNI (0-16777215)", *a.vni));
        const auto v = static_cast<std::uint32_t>(*a.vni);
        terms.push_back(Expr::any_of({Expr::tunnel_id(Tunnel::vxlan, v), Expr::tunnel_id(Tunnel::geneve, v)}));
    }
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

std::unique_ptr<Store> open_store_for_reading(const std::string& db_flag, const Filter& filter,
                                              std::function<void(const std::string&)> on_damaged,
                                              std::uint32_t timeout) {
    const std::string db = database_path(db_flag);
    auto store = open_store(
        db, {.read_only = true, .create = false, .on_damaged = std::move(on_damaged), .timeout_ms = timeout});
    // An id of no capture is the command line's mistake, not the database's:
    // the same arguments would fail again on any healthy database.
    if (filter.capture && !store->capture(*filter.capture))
        throw UsageError(fmt::format("--capture {}: no such capture in '{}' (see 'capdb captures')", *filter.capture,
                                     printable(db)));
    return store;
}

bool write_stdout(std::string_view text) {
    return std::fwrite(text.data(), 1, text.size(), stdout) == text.size() && std::fflush(stdout) == 0;
}

}  // namespace capdb::cli
