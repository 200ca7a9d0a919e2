#include "store/clickhouse/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <mutex>

#include <fmt/format.h>

#include "capdb/error.h"

namespace capdb::clickhouse {

void CurlCloser::operator()(void* handle) const noexcept { curl_easy_cleanup(static_cast<CURL*>(handle)); }

namespace {

// curl_global_init once, before the first handle (it is not thread-safe).
void global_init() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// The server's error answer, shortened to its message: "Code: 60,
// e.displayText() = DB::Exception: Table x doesn't exist., e.what() = ..."
// becomes "Table x doesn't exist. (code 60)".
std::string server_message(std::string text) {
    if (const auto nl = text.find('\n'); nl != std::string::npos) text.resize(nl);
    std::string code;
    if (text.starts_with("Code: ")) code = text.substr(6, text.find(',') - 6);
    if (const auto d = text.find("DB::Exception: "); d != std::string::npos) {
        text = text.substr(d + 15);
        if (const auto w = text.find(", e.what()"); w != std::string::npos) text.resize(w);
    }
    if (text.size() > 400) text = text.substr(0, 400) + "...";
    text = printable(text);
    return code.empty() ? text : fmt::format("{} (code {})", text, code);
}

struct Transfer {
    CURL* curl = nullptr;
    const std::function<bool(std::span<const std::uint8_t>)>* on_data = nullptr;
    long status = 0;
    std::string error_body;  // the answer of a non-200 status
    bool stopped = false;    // on_data asked to stop
    std::exception_ptr failure;
};

extern "C" std::size_t on_write(char* data, std::size_t size, std::size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const std::size_t bytes = size * n;
    if (t->status == 0) curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &t->status);
    if (t->status != 200) {
        if (t->error_body.size() < 4096) t->error_body.append(data, std::min<std::size_t>(bytes, 4096));
        return bytes;
    }
    try {
        if (!(*t->on_data)({reinterpret_cast<const std::uint8_t*>(data), bytes})) {
            t->stopped = true;
            return 0;  // CURLE_WRITE_ERROR: the transfer ends
        }
    } catch (...) {
        t->failure = std::current_exception();
        return 0;
    }
    return bytes;
}

}  // namespace

Http::Http(const Location& where, std::chrono::milliseconds timeout) : where_(where), timeout_(timeout) {
    global_init();
    curl_.reset(curl_easy_init());
    if (!curl_) throw DatabaseError(fmt::format("{}: cannot start an HTTP client", printable(where_.url)));
}

std::string Http::post(std::string_view query, std::span<const std::uint8_t> body) {
    std::string out;
    perform(query, body, [&](std::span<const std::uint8_t> data) {
        out.append(reinterpret_cast<const char*>(data.data()), data.size());
        return true;
    });
    return out;
}

void Http::stream(std::string_view query, const std::function<bool(std::span<const std::uint8_t>)>& on_data) {
    perform(query, {}, on_data);
}

void Http::perform(std::string_view query, std::span<const std::uint8_t> body,
                   const std::function<bool(std::span<const std::uint8_t>)>& on_data) {
    CURL* curl = static_cast<CURL*>(curl_.get());
    curl_easy_reset(curl);  // keeps the connection cache: keep-alive
    std::string url = fmt::format("http://{}:{}/", where_.host, where_.port);
    // With rows to send, the statement goes in the URL and the rows in the
    // body; otherwise the statement is the body.
    std::string_view data = query;
    if (!body.empty()) {
        char* escaped = curl_easy_escape(curl, query.data(), static_cast<int>(query.size()));
        if (!escaped) throw DatabaseError(fmt::format("{}: out of memory", printable(where_.url)));
        url += "?query=";
        url += escaped;
        curl_free(escaped);
        data = {reinterpret_cast<const char*>(body.data()), body.size()};
    }
    Transfer t;
    t.curl = curl;
    t.on_data = &on_data;
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, data.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(data.size()));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::min<std::int64_t>(timeout_.count(), 10000)));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    if (!where_.user.empty() || !where_.password.empty()) {
        curl_easy_setopt(curl, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
        curl_easy_setopt(curl, CURLOPT_USERNAME, where_.user.empty() ? "default" : where_.user.c_str());
        curl_easy_setopt(curl, CURLOPT_PASSWORD, where_.password.c_str());
    }
    const CURLcode rc = curl_easy_perform(curl);
    if (t.failure) std::rethrow_exception(t.failure);
    if (t.stopped) return;
    const std::string url_shown = printable(where_.url);
    if (rc == CURLE_OPERATION_TIMEDOUT)
        throw DatabaseError(fmt::format("{}: no answer within {} ms (see --timeout)", url_shown, timeout_.count()));
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST)
        throw UnreachableError(fmt::format("{}: cannot reach the server ({})", url_shown, curl_easy_strerror(rc)));
    if (rc != CURLE_OK)
        throw DatabaseError(fmt::format("{}: cannot reach the server ({})", url_shown, curl_easy_strerror(rc)));
    if (t.status == 0) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &t.status);
    if (t.status != 200) {
        if (t.status == 401 || t.status == 403 || t.error_body.find("Code: 193") != std::string::npos ||
            t.error_body.find("Code: 192") != std::string::npos || t.error_body.find("Code: 516") != std::string::npos)
            throw DatabaseError(fmt::format(
                "{}: authentication failed for user '{}' ({}); the password comes from "
                "CAPDB_CLICKHOUSE_PASSWORD",
                url_shown, printable(where_.user.empty() ? "default" : where_.user), server_message(t.error_body)));
        throw DatabaseError(
            fmt::format("{}: the server answered {}: {}", url_shown, t.status, server_message(t.error_body)));
    }
}

}  // namespace capdb::clickhouse
