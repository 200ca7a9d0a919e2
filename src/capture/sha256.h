// Incremental SHA-256 through OpenSSL's EVP interface, which uses the CPU's
// SHA extensions where present.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

struct evp_md_ctx_st;

namespace capdb {

class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;

    void update(const void* data, std::size_t n);
    // Lowercase hex digest; later calls return the same, and update() does
    // nothing once it has been taken.
    [[nodiscard]] std::string hex();

private:
    struct CtxFree {
        void operator()(evp_md_ctx_st* c) const noexcept;
    };
    std::unique_ptr<evp_md_ctx_st, CtxFree> ctx_;
    bool finished_ = false;
    std::string digest_;
};

}  // namespace capdb
