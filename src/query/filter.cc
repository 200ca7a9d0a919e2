#include "capdb/filter.h"

#include <time.h>

#include <charconv>
#include <limits>

namespace capdb {

void Filter::also(Expr e) {
    std::vector<Expr> parts;
    parts.push_back(std::move(expr));
    parts.push_back(std::move(e));
    expr = Expr::all_of(std::move(parts));
}

bool matches(const Filter& f, const PacketView& p) noexcept {
    if (f.capture && p.capture != *f.capture) return false;
    if (f.from_ns && p.ts_ns < *f.from_ns) return false;
    if (f.to_ns && p.ts_ns > *f.to_ns) return false;
    return matches(f.expr, p);
}

namespace {

constexpr std::int64_t kNsPerSec = 1'000'000'000;
// int64 nanoseconds cover 1677-09-21 to 2262-04-11.
constexpr std::int64_t kMaxSeconds = std::numeric_limits<std::int64_t>::max() / kNsPerSec - 1;

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// The span from start that a time written to the precision `unit` (in ns)
// covers: its last nanosecond is start + unit - 1, short of overflow.
TimeSpan span_of(std::int64_t start, std::int64_t unit) noexcept {
    constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
    return TimeSpan{start, start > kMax - (unit - 1) ? kMax : start + (unit - 1)};
}

constexpr bool is_leap(std::int64_t y) noexcept { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned days_in_month(std::int64_t y, unsigned m) noexcept {
    static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

struct Scanner {
    std::string_view s;
    std::size_t i = 0;
    [[nodiscard]] bool done() const noexcept { return i == s.size(); }
    [[nodiscard]] char peek() const noexcept { return done() ? '\0' : s[i]; }
    bool eat(char c) noexcept {
        if (peek() != c) return false;
        ++i;
        return true;
    }
    // Exactly n decimal digits.
    std::optional<unsigned> digits(std::size_t n) noexcept {
        if (s.size() - i < n) return std::nullopt;
        unsigned v = 0;
        for (std::size_t k = 0; k < n; ++k) {
            char c = s[i + k];
            if (c < '0' || c > '9') return std::nullopt;
            v = v * 10 + static_cast<unsigned>(c - '0');
        }
        i += n;
        return v;
    }
    // A fraction after '.' or ',' as nanoseconds; digits beyond 9 are
    // truncated. unit: the nanoseconds its last digit stands for (1 from
    // the ninth digit on).
    std::optional<std::int64_t> fraction(std::int64_t& unit) noexcept {
        std::int64_t ns = 0;
        std::size_t n = 0;
        while (!done() && s[i] >= '0' && s[i] <= '9') {
            if (n < 9) ns = ns * 10 + (s[i] - '0');
            ++n;
            ++i;
        }
        if (n == 0) return std::nullopt;
        unit = 1;
        for (std::size_t k = n; k < 9; ++k) {
            ns *= 10;
            unit *= 10;
        }
        return ns;
    }
};

std::optional<TimeSpan> parse_epoch(std::string_view text) noexcept {
    Scanner sc{text};
    std::int64_t secs = 0;
    std::size_t n = 0;
    while (!sc.done() && sc.peek() >= '0' && sc.peek() <= '9') {
        secs = secs * 10 + (sc.peek() - '0');
        if (secs > kMaxSeconds) return std::nullopt;
        ++sc.i;
        ++n;
    }
    if (n == 0) return std::nullopt;
    std::int64_t frac = 0;
    std::int64_t unit = kNsPerSec;
    if (sc.eat('.')) {
        auto f = sc.fraction(unit);
        if (!f) return std::nullopt;
        frac = *f;
    }
    if (!sc.done()) return std::nullopt;
    return span_of(secs * kNsPerSec + frac, unit);
}

std::optional<TimeSpan> parse_rfc3339(std::string_view text) noexcept {
    Scanner sc{text};
    auto y = sc.digits(4);
    if (!y || !sc.eat('-')) return std::nullopt;
    auto mo = sc.digits(2);
    if (!mo || !sc.eat('-')) return std::nullopt;
    auto d = sc.digits(2);
    if (!d || *mo < 1 || *mo > 12 || *d < 1 || *d > days_in_month(*y, *mo)) return std::nullopt;
    unsigned hh = 0, mm = 0, ss = 0;
    std::int64_t frac = 0;
    std::int64_t offset_s = 0;
    std::int64_t unit = 86400 * kNsPerSec;  // a date alone: the whole day
    if (!sc.done()) {
        if (!sc.eat('T') && !sc.eat('t') && !sc.eat(' ')) return std::nullopt;
        auto h = sc.digits(2);
        if (!h || !sc.eat(':')) return std::nullopt;
        auto m = sc.digits(2);
        if (!m) return std::nullopt;
        hh = *h;
        mm = *m;
        unit = 60 * kNsPerSec;
        if (sc.eat(':')) {
            auto s = sc.digits(2);
            if (!s) return std::nullopt;
            ss = *s;
            unit = kNsPerSec;
            if (sc.eat('.') || sc.eat(',')) {
                auto f = sc.fraction(unit);
                if (!f) return std::nullopt;
                frac = *f;
            }
        }
        if (hh > 23 || mm > 59 || ss > 60) return std::nullopt;  // 60: leap second
        if (sc.eat('Z') || sc.eat('z')) {
        } else if (sc.peek() == '+' || sc.peek() == '-') {
            const bool neg = sc.peek() == '-';
            ++sc.i;
            auto oh = sc.digits(2);
            if (!oh) return std::nullopt;
            sc.eat(':');
            auto om = sc.digits(2);
            if (!om || *oh > 23 || *om > 59) return std::nullopt;
            offset_s = (static_cast<std::int64_t>(*oh) * 3600 + *om * 60) * (neg ? -1 : 1);
        }
    }
    if (!sc.done()) return std::nullopt;
    const std::int64_t days = days_from_civil(*y, *mo, *d);
    const std::int64_t secs = days * 86400 + hh * 3600 + mm * 60 + ss - offset_s;
    if (secs > kMaxSeconds || secs < -kMaxSeconds) return std::nullopt;
    return span_of(secs * kNsPerSec + frac, unit);
}

}  // namespace

std::optional<std::int64_t> parse_duration(std::string_view text) noexcept {
    // One or more <digits><unit> parts, largest first or not: "90s", "1h30m".
    static constexpr std::int64_t kMaxDuration = std::numeric_limits<std::int64_t>::max() / 2;
    if (text.empty()) return std::nullopt;
    std::int64_t total = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        std::int64_t n = 0;
        const std::size_t start = i;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
            n = n * 10 + (text[i] - '0');
            if (n > kMaxSeconds) return std::nullopt;
            ++i;
        }
        if (i == start || i == text.size()) return std::nullopt;
        std::int64_t unit_s = 0;
        switch (text[i++]) {
            case 's': unit_s = 1; break;
            case 'm': unit_s = 60; break;
            case 'h': unit_s = 3600; break;
            case 'd': unit_s = 86400; break;
            case 'w': unit_s = 7 * 86400; break;
            default: return std::nullopt;
        }
        if (n > (kMaxDuration - total) / (unit_s * kNsPerSec)) return std::nullopt;
        total += n * unit_s * kNsPerSec;
    }
    return total;
}

std::optional<TimeSpan> parse_time_span(std::string_view text, std::int64_t now_ns) noexcept {
    if (text == "now") return TimeSpan{now_ns, now_ns};
    if (text.starts_with("now-")) {
        const auto d = parse_duration(text.substr(4));
        if (!d || now_ns < std::numeric_limits<std::int64_t>::min() + *d) return std::nullopt;
        return TimeSpan{now_ns - *d, now_ns - *d};
    }
    if (text.size() >= 10 && text[4] == '-') return parse_rfc3339(text);
    return parse_epoch(text);
}

std::optional<std::int64_t> parse_time(std::string_view text) noexcept {
    const auto span = parse_time_span(text, wall_clock_ns());
    if (!span) return std::nullopt;
    return span->first_ns;
}

std::int64_t wall_clock_ns() noexcept {
    timespec t{};
    ::clock_gettime(CLOCK_REALTIME, &t);
    return static_cast<std::int64_t>(t.tv_sec) * kNsPerSec + t.tv_nsec;
}

namespace {
struct ProtoName {
    std::string_view name;
    std::uint8_t number;
    const char* display;
};
constexpr ProtoName kProtos[] = {
    {"icmp", 1, "ICMP"},      {"igmp", 2, "IGMP"},         {"tcp", 6, "TCP"},    {"udp", 17, "UDP"},
    {"gre", 47, "GRE"},       {"esp", 50, "ESP"},          {"ah", 51, "AH"},     {"icmp6", 58, "ICMPv6"},
    {"icmpv6", 58, "ICMPv6"}, {"ospf", 89, "OSPF"},        {"pim", 103, "PIM"},  {"vrrp", 112, "VRRP"},
    {"sctp", 132, "SCTP"},    {"udplite", 136, "UDPLite"}, {"dccp", 33, "DCCP"}, {"ipip", 4, "IPIP"},
    {"ipv6", 41, "IPv6"},
};

template <class T>
std::optional<T> parse_uint(std::string_view text, unsigned max) noexcept {
    unsigned v = 0;
    if (text.empty() || text.size() > 5) return std::nullopt;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size() || v > max) return std::nullopt;
    return static_cast<T>(v);
}
}  // namespace

std::optional<std::uint8_t> parse_proto(std::string_view text) noexcept {
    std::string lower;
    for (char c : text) lower += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    for (const auto& p : kProtos)
        if (p.name == lower) return p.number;
    return parse_uint<std::uint8_t>(text, 255);
}

std::optional<std::uint16_t> parse_port(std::string_view text) noexcept {
    return parse_uint<std::uint16_t>(text, 65535);
}

const char* proto_name(std::uint8_t proto) noexcept {
    for (const auto& p : kProtos)
        if (p.number == proto) return p.display;
    return nullptr;
}

}  // namespace capdb
