// PayloadHasher, Sha256Hex and HmacSha256 (declared in sigv4.h) over OpenSSL 3's EVP API.

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/digest.h"
#include "net/sigv4.h"

namespace sluice::net {

struct PayloadHasher::State {
  EVP_MD_CTX* ctx = nullptr;
};

PayloadHasher::PayloadHasher() : state_(new State) {
  state_->ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(state_->ctx, EVP_sha256(), nullptr);
}

PayloadHasher::~PayloadHasher() {
  EVP_MD_CTX_free(state_->ctx);
  delete state_;
}

void PayloadHasher::Update(std::string_view data) {
  EVP_DigestUpdate(state_->ctx, data.data(), data.size());
}

std::string PayloadHasher::HexDigest() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(state_->ctx, out, &len);
  return ToHex(std::string_view(reinterpret_cast<const char*>(out), len));
}

std::string Sha256Hex(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr);
  return ToHex(std::string_view(reinterpret_cast<const char*>(out), len));
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

}  // namespace sluice::net
