// 'capdb verify': checks a database's own structures (checksums, and how
// pages, blocks, postings and capture rows agree), one line per problem and
// a summary; exit 0 when clean, 6 when not.
#include <cstdio>
#include <iterator>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "capdb/error.h"
#include "capdb/store.h"
#include "capdb/verify.h"
#include "cli/cli.h"

namespace capdb::cli {
namespace {

// A JSON string of printable(text) (as every capdb output escapes it).
std::string json_text(std::string_view text) {
    std::string out = "\"";
    for (char c : printable(text)) {
        if (c == '"' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    return out + "\"";
}

template <typename T>
std::string json_or_null(const std::optional<T>& v) {
    return v ? fmt::format("{}", *v) : std::string("null");
}

// "capture 3, blocks, block 12 page 4: ..."
std::string problem_line(const VerifyProblem& p) {
    std::string where;
    if (p.capture) where += fmt::format("capture {}, ", *p.capture);
    where += p.table;
    if (p.block) where += fmt::format(", block {}", *p.block);
    if (p.page) where += fmt::format(" page {}", *p.page);
    return fmt::format("{}: {}", where, printable(p.what));
}

}  // namespace

int run_verify(const VerifyArgs& a) {
    const bool json = a.format == "json";
    if (!json && a.format != "text")
        throw UsageError(fmt::format("--format: unknown format '{}' (text, json)", printable(a.format)));
    VerifyRequest request;
    request.capture = a.capture;
    request.files = a.files;
    const std::string db = database_path(a.db);
    if (is_clickhouse_location(db))
        throw UsageError("verify checks an SQLite database's checksums; ClickHouse checks its own parts");
    const VerifySummary s = verify_database(db, request, [&](const VerifyProblem& p) {
        if (json)
            std::printf("{\"capture\":%s,\"table\":%s,\"block\":%s,\"page\":%s,\"problem\":%s}\n",
                        json_or_null(p.capture).c_str(), json_text(p.table).c_str(), json_or_null(p.block).c_str(),
                        json_or_null(p.page).c_str(), json_text(p.what).c_str());
        else
            std::printf("%s\n", problem_line(p).c_str());
        std::fflush(stdout);
    });
    if (json)
        std::printf(
            "{\"summary\":{\"ok\":%s,\"problems\":%llu,\"captures\":%llu,\"blocks\":%llu,\"pages\":%llu,"
            "\"postings\":%llu,\"segments\":%llu,\"files\":%llu}}\n",
            s.problems == 0 ? "true" : "false", static_cast<unsigned long long>(s.problems),
            static_cast<unsigned long long>(s.captures), static_cast<unsigned long long>(s.blocks),
            static_cast<unsigned long long>(s.pages), static_cast<unsigned long long>(s.postings),
            static_cast<unsigned long long>(s.segments), static_cast<unsigned long long>(s.files));
    else
        std::printf(
            "%s: %llu problem%s; checked %llu captures, %llu blocks, %llu pages, %llu posting lists, %llu"
            " segments, %llu files\n",
            s.problems == 0 ? "ok" : "DAMAGED", static_cast<unsigned long long>(s.problems), s.problems == 1 ? "" : "s",
            static_cast<unsigned long long>(s.captures), static_cast<unsigned long long>(s.blocks),
            static_cast<unsigned long long>(s.pages), static_cast<unsigned long long>(s.postings),
            static_cast<unsigned long long>(s.segments), static_cast<unsigned long long>(s.files));
    return s.problems == 0 ? 0 : static_cast<int>(Exit::database);
}

}  // namespace capdb::cli
