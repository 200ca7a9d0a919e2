#include "capture/sha256.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <span>
#include <vector>

#include <fmt/format.h>

#include "capdb/capture.h"
#include "capdb/error.h"
#include "util/unique_fd.h"

namespace capdb {

void Sha256::CtxFree::operator()(evp_md_ctx_st* c) const noexcept { EVP_MD_CTX_free(c); }

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1)
        throw Error(Exit::internal, "cannot initialise SHA-256");
}

Sha256::~Sha256() = default;

void Sha256::update(const void* data, std::size_t n) {
    if (!finished_ && EVP_DigestUpdate(ctx_.get(), data, n) != 1) throw Error(Exit::internal, "SHA-256 update failed");
}

std::string Sha256::hex() {
    if (finished_) return digest_;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), md, &len) != 1) throw Error(Exit::internal, "SHA-256 final failed");
    finished_ = true;
    static constexpr char kHex[] = "0123456789abcdef";
    digest_.reserve(2 * std::size_t{len});
    for (const unsigned char b : std::span(md, len)) {
        digest_ += kHex[b >> 4];
        digest_ += kHex[b & 15];
    }
    return digest_;
}

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
