#include "store/clickhouse/url.h"

#include <charconv>
#include <cstdlib>

#include <fmt/format.h>

#include "capdb/error.h"

namespace capdb::clickhouse {

namespace {

constexpr std::string_view kScheme = "clickhouse://";

bool is_host_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

bool is_user_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
}

}  // namespace

bool is_clickhouse_url(std::string_view text) noexcept { return text.starts_with(kScheme); }

bool is_identifier(std::string_view name) noexcept {
    if (name.empty() || name.size() > 64 || (name.front() >= '0' && name.front() <= '9')) return false;
    for (const char c : name)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
    return true;
}

Location parse_location(std::string_view text) {
    const std::string shown = printable(text);
    const auto bad = [&](std::string_view why) {
        return UsageError(
            fmt::format("--db '{}': {} (clickhouse://[USER@]HOST:PORT/DATABASE[?cluster=NAME])", shown, why));
    };
    if (!is_clickhouse_url(text)) throw bad("not a clickhouse:// URL");
    Location loc;
    loc.url = std::string(text);
    std::string_view rest = text.substr(kScheme.size());
    if (const auto q = rest.find('?'); q != std::string_view::npos) {
        const std::string_view query = rest.substr(q + 1);
        rest = rest.substr(0, q);
        if (!query.starts_with("cluster=")) throw bad("the only parameter is cluster=NAME");
        loc.cluster = std::string(query.substr(8));
        if (!is_identifier(loc.cluster)) throw bad("a cluster name is letters, digits and '_'");
    }
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos) throw bad("no database");
    loc.database = std::string(rest.substr(slash + 1));
    if (!is_identifier(loc.database)) throw bad("a database name is letters, digits and '_'");
    std::string_view authority = rest.substr(0, slash);
    if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
        loc.user = std::string(authority.substr(0, at));
        authority = authority.substr(at + 1);
        if (loc.user.find(':') != std::string::npos) throw bad("no password in the URL: set CAPDB_CLICKHOUSE_PASSWORD");
        if (loc.user.empty()) throw bad("empty user name");
        for (const char c : loc.user)
            if (!is_user_char(c)) throw bad("a user name is letters, digits, '_', '.' and '-'");
    }
    const auto colon = authority.rfind(':');
    if (colon == std::string_view::npos) throw bad("no port (the server's HTTP port, such as 8123)");
    loc.host = std::string(authority.substr(0, colon));
    if (loc.host.empty()) throw bad("no host");
    for (const char c : loc.host)
        if (!is_host_char(c)) throw bad("a host is a name or an IPv4 address");
    const std::string_view port = authority.substr(colon + 1);
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535)
        throw bad("the port is a number 1-65535");
    loc.port = static_cast<std::uint16_t>(value);
    if (const char* pw = std::getenv("CAPDB_CLICKHOUSE_PASSWORD")) loc.password = pw;
    return loc;
}

}  // namespace capdb::clickhouse
