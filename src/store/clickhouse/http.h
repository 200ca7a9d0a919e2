// ClickHouse's HTTP interface through libcurl: one easy handle per Http,
// reused from request to request (keep-alive). Every failure becomes a
// DatabaseError naming the server's URL; the password is sent by libcurl
// (HTTP basic authentication) and never appears in a message.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "capdb/error.h"
#include "store/clickhouse/url.h"

namespace capdb::clickhouse {

// The server could not be connected to: nothing of the request reached it,
// so it may be sent again.
struct UnreachableError : DatabaseError {
    explicit UnreachableError(const std::string& m) : DatabaseError(m) {}
};

struct CurlCloser {
    void operator()(void* handle) const noexcept;
};

class Http {
public:
    // timeout: the longest a request may take, connection included.
    Http(const Location& where, std::chrono::milliseconds timeout);
    Http(Http&&) noexcept = default;
    Http& operator=(Http&&) noexcept = default;
    ~Http() = default;

    // Runs one statement (query in the URL, body as its data: an INSERT's
    // rows) and returns the answer. Throws DatabaseError for a connection
    // failure, a time-out or an error answer (with the server's message).
    std::string post(std::string_view query, std::span<const std::uint8_t> body = {});
    // As post(), handing the answer to on_data chunk by chunk as it
    // arrives; on_data returns false to stop reading (not an error).
    void stream(std::string_view query, const std::function<bool(std::span<const std::uint8_t>)>& on_data);

    [[nodiscard]] const Location& location() const noexcept { return where_; }

private:
    void perform(std::string_view query, std::span<const std::uint8_t> body,
                 const std::function<bool(std::span<const std::uint8_t>)>& on_data);

    Location where_;
    std::chrono::milliseconds timeout_;
    std::unique_ptr<void, CurlCloser> curl_;
};

}  // namespace capdb::clickhouse
