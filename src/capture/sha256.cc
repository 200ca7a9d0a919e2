#include "capture/sha256.h"

// SHA256_Init and friends are deprecated in OpenSSL 3 in favour of EVP, but
// remain supported and are what keeps libcrypto's footprint in capdb small.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <fcntl.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "capdb/capture.h"
#include "capdb/error.h"

namespace capdb {

Sha256::Sha256() : ctx_(std::make_unique<SHA256_CTX>()) {
    if (SHA256_Init(ctx_.get()) != 1) throw Error(Exit::internal, "cannot initialise SHA-256");
}

Sha256::~Sha256() = default;

void Sha256::update(const void* data, std::size_t n) {
    if (!finished_) SHA256_Update(ctx_.get(), data, n);
}

std::string Sha256::hex() {
    if (finished_) return digest_;
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256_Final(md, ctx_.get());
    finished_ = true;
    static constexpr char kHex[] = "0123456789abcdef";
    digest_.reserve(2 * SHA256_DIGEST_LENGTH);
    for (const unsigned char b : md) {
        digest_ += kHex[b >> 4];
        digest_ += kHex[b & 15];
    }
    return digest_;
}

namespace {

// A file descriptor closed when it goes out of scope.
class UniqueFd {
public:
    explicit UniqueFd(int fd) noexcept : fd_(fd) {}
    ~UniqueFd() {
        if (fd_ >= 0) ::close(fd_);
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    [[nodiscard]] int get() const noexcept { return fd_; }

private:
    int fd_;
};

}  // namespace

std::string sha256_file(const std::string& path) {
    const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) throw InputError(fmt::format("cannot open '{}': {}", printable(path), std::strerror(errno)));
    Sha256 h;
    std::vector<unsigned char> buf(1 << 20);
    for (;;) {
        const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw InputError(fmt::format("cannot read '{}': {}", printable(path), std::strerror(errno)));
        if (n == 0) break;
        h.update(buf.data(), static_cast<std::size_t>(n));
    }
    return h.hex();
}

}  // namespace capdb
