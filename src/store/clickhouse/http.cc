#include "store/clickhouse/http.h"

#include <curl/curl.h>
#include <dlfcn.h>

#include <algorithm>
#include <mutex>

#include <fmt/format.h>

#include "capdb/error.h"

namespace capdb::clickhouse {

namespace {

// libcurl, loaded when a ClickHouse store is first used rather than linked:
// it pulls in TLS, Kerberos and LDAP libraries whose loading and
// initialisers would cost every capdb command (a SQLite query too) about
// 20 ms of start-up.
struct CurlApi {
    decltype(&::curl_global_init) global_init = nullptr;
    decltype(&::curl_easy_init) easy_init = nullptr;
    decltype(&::curl_easy_cleanup) easy_cleanup = nullptr;
    decltype(&::curl_easy_reset) easy_reset = nullptr;
    decltype(&::curl_easy_setopt) easy_setopt = nullptr;
    decltype(&::curl_easy_perform) easy_perform = nullptr;
    decltype(&::curl_easy_getinfo) easy_getinfo = nullptr;
    decltype(&::curl_easy_strerror) easy_strerror = nullptr;
    decltype(&::curl_easy_escape) easy_escape = nullptr;
    decltype(&::curl_free) free = nullptr;
};

CurlApi g_curl;
std::string g_curl_error;  // why it could not be loaded

// Loads libcurl and calls curl_global_init, once (it is not thread-safe).
// Throws DatabaseError naming url when it cannot be loaded.
const CurlApi& curl_api(const std::string& url) {
    static std::once_flag once;
    std::call_once(once, [] {
        void* lib = ::dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
            const char* why = ::dlerror();
            g_curl_error = why ? why : "dlopen failed";
            return;
        }
        bool all = true;
        auto load = [&](auto& fn, const char* name) {
            fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(lib, name));
            all = all && fn != nullptr;
        };
        load(g_curl.global_init, "curl_global_init");
        load(g_curl.easy_init, "curl_easy_init");
        load(g_curl.easy_cleanup, "curl_easy_cleanup");
        load(g_curl.easy_reset, "curl_easy_reset");
        load(g_curl.easy_setopt, "curl_easy_setopt");
        load(g_curl.easy_perform, "curl_easy_perform");
        load(g_curl.easy_getinfo, "curl_easy_getinfo");
        load(g_curl.easy_strerror, "curl_easy_strerror");
        load(g_curl.easy_escape, "curl_easy_escape");
        load(g_curl.free, "curl_free");
        if (!all) {
            g_curl_error = "libcurl.so.4 lacks a function capdb uses";
            return;
        }
        g_curl.global_init(CURL_GLOBAL_DEFAULT);
    });
    if (!g_curl_error.empty())
        throw DatabaseError(
            fmt::format("{}: cannot load libcurl ({}); install libcurl4", printable(url), g_curl_error));
    return g_curl;
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
    if (t->status == 0) g_curl.easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &t->status);
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

void CurlCloser::operator()(void* handle) const noexcept { g_curl.easy_cleanup(static_cast<CURL*>(handle)); }

Http::Http(const Location& where, std::chrono::milliseconds timeout) : where_(where), timeout_(timeout) {
    curl_.reset(curl_api(where_.url).easy_init());
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
    g_curl.easy_reset(curl);  // keeps the connection cache: keep-alive
    std::string url = fmt::format("http://{}:{}/", where_.host, where_.port);
    // With rows to send, the statement goes in the URL and the rows in the
    // body; otherwise the statement is the body.
    std::string_view data = query;
    if (!body.empty()) {
        char* escaped = g_curl.easy_escape(curl, query.data(), static_cast<int>(query.size()));
        if (!escaped) throw DatabaseError(fmt::format("{}: out of memory", printable(where_.url)));
        url += "?query=";
        url += escaped;
        g_curl.free(escaped);
        data = {reinterpret_cast<const char*>(body.data()), body.size()};
    }
    Transfer t;
    t.curl = curl;
    t.on_data = &on_data;
    g_curl.easy_setopt(curl, CURLOPT_URL, url.c_str());
    g_curl.easy_setopt(curl, CURLOPT_POST, 1L);
    g_curl.easy_setopt(curl, CURLOPT_POSTFIELDS, data.data());
    g_curl.easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(data.size()));
    g_curl.easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    g_curl.easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
    g_curl.easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                       static_cast<long>(std::min<std::int64_t>(timeout_.count(), 10000)));
    g_curl.easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
    g_curl.easy_setopt(curl, CURLOPT_WRITEDATA, &t);
    g_curl.easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    if (!where_.user.empty() || !where_.password.empty()) {
        g_curl.easy_setopt(curl, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
        g_curl.easy_setopt(curl, CURLOPT_USERNAME, where_.user.empty() ? "default" : where_.user.c_str());
        g_curl.easy_setopt(curl, CURLOPT_PASSWORD, where_.password.c_str());
    }
    const CURLcode rc = g_curl.easy_perform(curl);
    if (t.failure) std::rethrow_exception(t.failure);
    if (t.stopped) return;
    const std::string url_shown = printable(where_.url);
    if (rc == CURLE_OPERATION_TIMEDOUT)
        throw DatabaseError(fmt::format("{}: no answer within {} ms (see --timeout)", url_shown, timeout_.count()));
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST)
        throw UnreachableError(fmt::format("{}: cannot reach the server ({})", url_shown, g_curl.easy_strerror(rc)));
    if (rc != CURLE_OK)
        throw DatabaseError(fmt::format("{}: cannot reach the server ({})", url_shown, g_curl.easy_strerror(rc)));
    if (t.status == 0) g_curl.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &t.status);
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
