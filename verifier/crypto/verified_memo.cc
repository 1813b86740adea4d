#include "verifier/crypto/verified_memo.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_map>
#include <utility>

#include "verifier/common/lru.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/verified_memo_internal.h"

namespace rp::crypto {
namespace {

constexpr uint64_t kFlagCost = 160;  // key string + list / index nodes

std::atomic<bool> g_enabled{true};
thread_local bool t_bypass = false;

struct Counters {
  std::atomic<uint64_t> hits{0}, misses{0}, admitted{0}, evictions{0};
};

// One kind's LRU plus its doorkeeper (keys seen once, no value).
template <typename V>
class Store {
 public:
  explicit Store(MemoKind kind) : kind_(kind) { Reset(MemoOptions{}); }

  void Reset(const MemoOptions& o) {
    std::lock_guard<std::mutex> lock(mu_);
    lru_ = std::make_unique<LruMap<V>>(o.max_entries == 0 ? 1 : o.max_entries, o.max_bytes);
    door_ = std::make_unique<LruMap<char>>(o.doorkeeper_entries == 0 ? 1 : o.doorkeeper_entries,
                                           0);
    counters_.hits = 0;
    counters_.misses = 0;
    counters_.admitted = 0;
    counters_.evictions = 0;
  }

  // Runs fn(const V&) on a hit under the lock; counts the hit or the miss.
  template <typename Fn>
  bool Find(const std::string& key, Fn fn) {
    std::lock_guard<std::mutex> lock(mu_);
    if (V* v = lru_->Get(key); v != nullptr && fn(*v)) {
      counters_.hits.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    counters_.misses.fetch_add(1, std::memory_order_relaxed);
    return false;
  }

  // Second sighting admits; the first only enters the doorkeeper.
  template <typename Make>
  void Remember(const std::string& key, uint64_t cost, Make make) {
    std::lock_guard<std::mutex> lock(mu_);
    if (lru_->Peek(key) != nullptr) {
      return;
    }
    if (door_->Peek(key) == nullptr) {
      door_->Put(key, 0, 0);
      return;
    }
    door_->Erase(key);
    bool stored = false;
    const auto evicted = lru_->Put(key, make(), cost, &stored);
    if (stored) counters_.admitted.fetch_add(1, std::memory_order_relaxed);
    counters_.evictions.fetch_add(evicted.size(), std::memory_order_relaxed);
  }

  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    lru_->EraseIf([](const std::string&, const V&) { return true; });
    door_->EraseIf([](const std::string&, const char&) { return true; });
  }

  MemoKindStats Stats() {
    MemoKindStats s;
    s.hits = counters_.hits.load();
    s.misses = counters_.misses.load();
    s.admitted = counters_.admitted.load();
    s.evictions = counters_.evictions.load();
    std::lock_guard<std::mutex> lock(mu_);
    s.entries = lru_->size();
    s.bytes = lru_->cost();
    return s;
  }

  template <typename Fn>
  void ForEachValue(Fn fn) {
    std::lock_guard<std::mutex> lock(mu_);
    lru_->ForEachOldestFirst([&](const std::string&, const V& v) { fn(v); });
  }

  MemoKind kind() const { return kind_; }

 private:
  const MemoKind kind_;
  std::mutex mu_;
  std::unique_ptr<LruMap<V>> lru_;
  std::unique_ptr<LruMap<char>> door_;
  Counters counters_;
};

struct State {
  std::mutex options_mu;
  MemoOptions options;
  Store<OpensslPtr<X509>> certificates{MemoKind::kCertificate};
  Store<std::vector<OpensslPtr<X509>>> pems{MemoKind::kPemCertificates};
  Store<memo_internal::ChainEntry> chains{MemoKind::kChain};
  Store<char> signatures{MemoKind::kSignature};
  Store<char> crl_signatures{MemoKind::kCrlSignature};
  Store<char> cert_signatures{MemoKind::kCertSignature};
  Store<char> ocsp_signatures{MemoKind::kOcspSignature};
  Store<std::shared_ptr<const void>> documents{MemoKind::kDocument};
  Store<OpensslPtr<X509_CRL>> crls{MemoKind::kCrl};

  Store<char>* Flags(MemoKind kind) {
    switch (kind) {
      case MemoKind::kSignature: return &signatures;
      case MemoKind::kCrlSignature: return &crl_signatures;
      case MemoKind::kCertSignature: return &cert_signatures;
      case MemoKind::kOcspSignature: return &ocsp_signatures;
      default: return nullptr;
    }
  }
  template <typename Fn>
  void ForEach(Fn fn) {
    fn(certificates);
    fn(pems);
    fn(chains);
    fn(signatures);
    fn(crl_signatures);
    fn(cert_signatures);
    fn(ocsp_signatures);
    fn(documents);
    fn(crls);
  }
};

State& Global() {
  static State* state = new State();  // never destroyed: used from any thread until exit
  return *state;
}

OpensslPtr<X509> NewRef(const X509* cert) {
  X509* m = const_cast<X509*>(cert);  // NOLINT: a reference count, not the contents
  if (X509_up_ref(m) != 1) return nullptr;
  return OpensslPtr<X509>(m);
}

}  // namespace

std::string_view MemoKindName(MemoKind kind) {
  switch (kind) {
    case MemoKind::kCertificate: return "certificate";
    case MemoKind::kPemCertificates: return "pem_certificates";
    case MemoKind::kSignature: return "signature";
    case MemoKind::kChain: return "chain";
    case MemoKind::kCrlSignature: return "crl_signature";
    case MemoKind::kCertSignature: return "cert_signature";
    case MemoKind::kOcspSignature: return "ocsp_signature";
    case MemoKind::kDocument: return "document";
    case MemoKind::kCrl: return "crl";
  }
  return "unknown";
}

namespace {
struct OcspWindows {
  std::mutex mu;
  std::set<std::pair<int64_t, int64_t>> windows;
};
OcspWindows& GlobalOcspWindows() {
  static OcspWindows* const w = new OcspWindows();
  return *w;
}
void ClearOcspWindows() {
  OcspWindows& w = GlobalOcspWindows();
  std::lock_guard<std::mutex> lock(w.mu);
  w.windows.clear();
}
}  // namespace

void ConfigureVerifiedMemo(const MemoOptions& options) {
  ClearOcspWindows();
  State& s = Global();
  std::lock_guard<std::mutex> lock(s.options_mu);
  s.options = options;
  g_enabled.store(options.enabled);
  s.ForEach([&](auto& store) { store.Reset(options); });
}

MemoOptions VerifiedMemoOptions() {
  State& s = Global();
  std::lock_guard<std::mutex> lock(s.options_mu);
  return s.options;
}

MemoKindStats VerifiedMemoStats(MemoKind kind) {
  MemoKindStats out;
  Global().ForEach([&](auto& store) {
    if (store.kind() == kind) out = store.Stats();
  });
  return out;
}

void ClearVerifiedMemo() {
  ClearOcspWindows();
  Global().ForEach([](auto& store) { store.Clear(); });
}

std::string DocumentMemoKey(std::string_view domain, std::span<const uint8_t> bytes) {
  if (!memo_internal::Active()) return "";
  return memo_internal::KeyBuilder(MemoKind::kDocument).Text(domain).Bytes(bytes).Finish();
}

std::shared_ptr<const void> FindVerifiedDocument(const std::string& key) {
  std::shared_ptr<const void> out;
  if (key.empty() || !memo_internal::Active()) return out;
  Global().documents.Find(key, [&](const std::shared_ptr<const void>& v) {
    out = v;
    return out != nullptr;
  });
  return out;
}

void RememberVerifiedDocument(const std::string& key, std::shared_ptr<const void> value,
                              uint64_t cost) {
  if (key.empty() || value == nullptr || !memo_internal::Active()) return;
  Global().documents.Remember(key, kFlagCost + cost, [&] { return std::move(value); });
}

std::vector<std::pair<int64_t, int64_t>> VerifiedMemoChainWindows() {
  std::vector<std::pair<int64_t, int64_t>> out;
  Global().chains.ForEachValue(
      [&](const memo_internal::ChainEntry& e) { out.emplace_back(e.not_before, e.not_after); });
  return out;
}

std::vector<std::pair<int64_t, int64_t>> VerifiedMemoOcspWindows() {
  OcspWindows& w = GlobalOcspWindows();
  std::lock_guard<std::mutex> lock(w.mu);
  return {w.windows.begin(), w.windows.end()};
}

struct ScopedRequestMemo::State {
  std::unordered_map<std::string, std::shared_ptr<const void>> values;
};

namespace {
thread_local ScopedRequestMemo::State* t_request = nullptr;
}  // namespace

ScopedRequestMemo::ScopedRequestMemo()
    : state_(std::make_unique<State>()), previous_(t_request) {
  t_request = state_.get();
}

ScopedRequestMemo::~ScopedRequestMemo() { t_request = previous_; }

bool InRequestScope() { return t_request != nullptr && memo_internal::Active(); }

std::string RequestMemoKey(std::string_view domain,
                           std::span<const std::span<const uint8_t>> parts) {
  if (t_request == nullptr || !memo_internal::Active()) return "";
  memo_internal::KeyBuilder key(MemoKind::kDocument);
  key.Text("request").Text(domain);
  for (const auto& part : parts) key.Bytes(part);
  return key.Finish();
}

std::shared_ptr<const void> FindInRequest(const std::string& key) {
  if (key.empty() || t_request == nullptr || !memo_internal::Active()) return nullptr;
  auto it = t_request->values.find(key);
  return it == t_request->values.end() ? nullptr : it->second;
}

void RememberInRequest(const std::string& key, std::shared_ptr<const void> value) {
  if (key.empty() || t_request == nullptr || !memo_internal::Active() ||
      t_request->values.size() >= kMaxRequestMemoEntries) {
    return;
  }
  t_request->values.emplace(key, std::move(value));
}

ScopedMemoBypass::ScopedMemoBypass() : previous_(t_bypass) { t_bypass = true; }
ScopedMemoBypass::~ScopedMemoBypass() { t_bypass = previous_; }

namespace memo_internal {

namespace {

void FreeCertificateDigest(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*idx*/,
                           long /*argl*/, void* /*argp*/) {
  delete static_cast<std::array<uint8_t, 32>*>(ptr);
}

int CertificateDigestIndex() {
  static const int index =
      X509_get_ex_new_index(0, nullptr, nullptr, nullptr, FreeCertificateDigest);
  return index;
}

bool DerSha256(const X509* cert, std::array<uint8_t, 32>& out) {
  unsigned char* der = nullptr;
  const int len = cert == nullptr ? -1 : i2d_X509(cert, &der);
  if (len <= 0) {
    ERR_clear_error();
    return false;
  }
  const bool ok = EVP_Digest(der, static_cast<size_t>(len), out.data(), nullptr, Sha256Md(),
                             nullptr) == 1;
  OPENSSL_free(der);
  return ok;
}

// The encoding of memo-key integers and part lengths (KeyBuilder::Int,
// KeyBuilder::Bytes) and of the pinned key identity below.
std::array<uint8_t, 8> BigEndian64(uint64_t v) {
  std::array<uint8_t, 8> b{};
  for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(v >> (8 * (7 - i)));
  return b;
}

void AppendPart(std::vector<uint8_t>& out, std::span<const uint8_t> part) {
  const std::array<uint8_t, 8> len = BigEndian64(part.size());
  out.insert(out.end(), len.begin(), len.end());
  out.insert(out.end(), part.begin(), part.end());
}

void AppendInt(std::vector<uint8_t>& out, int64_t value) {
  AppendPart(out, BigEndian64(static_cast<uint64_t>(value)));
}

// What KeyBuilder::Key feeds to the digest: exactly the bytes of Int(type)
// then, for EC, Text(curve) and Bytes(encoded point); for RSA, Bytes(n) and
// Bytes(e), and for RSA-PSS also Bytes(its SubjectPublicKeyInfo DER).
bool KeyIdentity(const EVP_PKEY* key, std::vector<uint8_t>& out) {
  if (key == nullptr) return false;
  const int id = EVP_PKEY_get_base_id(key);
  AppendInt(out, id);
  if (id == EVP_PKEY_EC) {
    char group[64] = {};
    size_t group_len = 0;
    std::array<uint8_t, 160> point{};
    size_t point_len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &group_len) != 1 ||
        EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size(),
                                        &point_len) != 1) {
      ERR_clear_error();
      return false;
    }
    AppendPart(out, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(group), group_len));
    AppendPart(out, std::span<const uint8_t>(point.data(), point_len));
    return true;
  }
  if (id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS) {
    BIGNUM* n = nullptr;
    BIGNUM* e = nullptr;
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
      BN_free(n);
      BN_free(e);
      ERR_clear_error();
      return false;
    }
    for (const BIGNUM* bn : {n, e}) {
      std::vector<uint8_t> bytes(static_cast<size_t>(BN_num_bytes(bn)));
      BN_bn2bin(bn, bytes.data());
      AppendPart(out, bytes);
    }
    BN_free(n);
    BN_free(e);
    // RSA-PSS keys may carry restrictions: their full SPKI is the identity.
    if (id == EVP_PKEY_RSA_PSS) {
      unsigned char* der = nullptr;
      const int len = i2d_PUBKEY(const_cast<EVP_PKEY*>(key), &der);  // NOLINT: only read
      if (len <= 0) {
        ERR_clear_error();
        return false;
      }
      AppendPart(out, std::span<const uint8_t>(der, static_cast<size_t>(len)));
      OPENSSL_free(der);
    }
    return true;
  }
  return false;  // other key types are not memoised
}

void FreeKeyIdentity(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*idx*/,
                     long /*argl*/, void* /*argp*/) {
  delete static_cast<std::vector<uint8_t>*>(ptr);
}

int KeyIdentityIndex() {
  static const int index = EVP_PKEY_get_ex_new_index(0, nullptr, nullptr, nullptr, FreeKeyIdentity);
  return index;
}

// Attaches KeyIdentity to the certificate's public key (the EVP_PKEY the
// certificate owns, which X509_get0_pubkey returns to every verifier), so
// that KeyBuilder::Key does not re-encode it on every use. Same rule as
// below: only before the certificate is published.
void PinKeyIdentity(const X509* cert) {
  const int index = KeyIdentityIndex();
  EVP_PKEY* key = X509_get0_pubkey(cert);
  if (key == nullptr || index < 0 || EVP_PKEY_get_ex_data(key, index) != nullptr) {
    ERR_clear_error();
    return;
  }
  auto identity = std::make_unique<std::vector<uint8_t>>();
  if (!KeyIdentity(key, *identity)) return;
  if (EVP_PKEY_set_ex_data(key, index, identity.get()) == 1) {
    (void)identity.release();  // owned by the key now (FreeKeyIdentity)
  } else {
    ERR_clear_error();
  }
}

// Attaches the DER digest to a certificate about to be shared through the
// memo. Called before the object is published (no other thread sees it yet).
void PinCertificateDigest(const X509* cert) {
  const int index = CertificateDigestIndex();
  if (cert == nullptr || index < 0 || X509_get_ex_data(cert, index) != nullptr) return;
  auto digest = std::make_unique<std::array<uint8_t, 32>>();
  if (!DerSha256(cert, *digest)) return;
  if (X509_set_ex_data(const_cast<X509*>(cert), index, digest.get()) == 1) {  // NOLINT
    (void)digest.release();  // owned by the certificate now (FreeCertificateDigest)
    PinKeyIdentity(cert);
  } else {
    ERR_clear_error();
  }
}

}  // namespace

void NoteOcspWindow(int64_t from, int64_t until) {
  OcspWindows& w = GlobalOcspWindows();
  std::lock_guard<std::mutex> lock(w.mu);
  if (w.windows.size() < 4096) w.windows.emplace(from, until);
}

bool CertificateDigest(const X509* cert, std::array<uint8_t, 32>& out) {
  if (cert == nullptr) return false;
  const int index = CertificateDigestIndex();
  if (index >= 0) {
    const auto* pinned =
        static_cast<const std::array<uint8_t, 32>*>(X509_get_ex_data(cert, index));
    if (pinned != nullptr) {
      out = *pinned;
      return true;
    }
  }
  return DerSha256(cert, out);
}

bool Active() { return !t_bypass && g_enabled.load(std::memory_order_relaxed); }

KeyBuilder::KeyBuilder(MemoKind kind) : ctx_(EVP_MD_CTX_new()), ok_(ctx_ != nullptr) {
  if (ok_ && EVP_DigestInit_ex(ctx_, Sha256Md(), nullptr) != 1) ok_ = false;
  Int(static_cast<int64_t>(kind));
}

KeyBuilder::~KeyBuilder() { EVP_MD_CTX_free(ctx_); }

KeyBuilder& KeyBuilder::Bytes(std::span<const uint8_t> part) {
  if (!ok_) return *this;
  // Length-prefixed, so concatenations of parts cannot collide.
  const std::array<uint8_t, 8> len = BigEndian64(part.size());
  if (EVP_DigestUpdate(ctx_, len.data(), len.size()) != 1 ||
      (!part.empty() && EVP_DigestUpdate(ctx_, part.data(), part.size()) != 1)) {
    ok_ = false;
  }
  return *this;
}

KeyBuilder& KeyBuilder::Text(std::string_view part) {
  return Bytes({reinterpret_cast<const uint8_t*>(part.data()), part.size()});
}

KeyBuilder& KeyBuilder::Int(int64_t value) {
  return Bytes(BigEndian64(static_cast<uint64_t>(value)));
}

KeyBuilder& KeyBuilder::Key(const EVP_PKEY* key) {
  if (!ok_) return *this;
  // A pinned certificate's key carries its identity (PinCertificateDigest);
  // any other key is encoded here, into the same bytes.
  const int index = KeyIdentityIndex();
  if (key != nullptr && index >= 0) {
    if (const auto* pinned = static_cast<const std::vector<uint8_t>*>(
            EVP_PKEY_get_ex_data(key, index))) {
      if (EVP_DigestUpdate(ctx_, pinned->data(), pinned->size()) != 1) ok_ = false;
      return *this;
    }
  }
  std::vector<uint8_t> identity;
  if (!KeyIdentity(key, identity) ||
      EVP_DigestUpdate(ctx_, identity.data(), identity.size()) != 1) {
    ok_ = false;
  }
  return *this;
}

KeyBuilder& KeyBuilder::Certificate(const X509* cert) {
  if (!ok_) return *this;
  std::array<uint8_t, 32> digest{};
  if (!CertificateDigest(cert, digest)) {
    ok_ = false;
    return *this;
  }
  return Bytes(digest);
}

KeyBuilder& KeyBuilder::Crl(const X509_CRL* crl) {
  if (!ok_) return *this;
  unsigned char* der = nullptr;
  const int len = crl == nullptr ? -1 : i2d_X509_CRL(crl, &der);
  if (len <= 0) {
    ok_ = false;
    return *this;
  }
  Bytes(std::span<const uint8_t>(der, static_cast<size_t>(len)));
  OPENSSL_free(der);
  return *this;
}

std::string KeyBuilder::Finish() {
  if (!ok_) return "";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_, md, &len) != 1) {
    ok_ = false;
    return "";
  }
  return std::string(reinterpret_cast<const char*>(md), len);
}

bool Found(MemoKind kind, const std::string& key) {
  Store<char>* s = Global().Flags(kind);
  return s != nullptr && !key.empty() && s->Find(key, [](const char&) { return true; });
}

void Remember(MemoKind kind, const std::string& key) {
  Store<char>* s = Global().Flags(kind);
  if (s != nullptr && !key.empty()) s->Remember(key, kFlagCost, [] { return char{1}; });
}

std::optional<bool> FindOutcome(MemoKind kind, const std::string& key) {
  Store<char>* s = Global().Flags(kind);
  std::optional<bool> out;
  if (s == nullptr || key.empty()) return out;
  s->Find(key, [&](const char& v) {
    out = v == 1;
    return true;
  });
  return out;
}

void RememberOutcome(MemoKind kind, const std::string& key, bool verified) {
  Store<char>* s = Global().Flags(kind);
  if (s != nullptr && !key.empty()) {
    s->Remember(key, kFlagCost, [verified] { return verified ? char{1} : char{2}; });
  }
}

OpensslPtr<X509> FindCertificate(const std::string& key) {
  OpensslPtr<X509> out;
  if (key.empty()) return out;
  Global().certificates.Find(key, [&](const OpensslPtr<X509>& c) {
    out = NewRef(c.get());
    return out != nullptr;
  });
  return out;
}

void RememberCertificate(const std::string& key, const X509* cert, size_t der_size) {
  if (key.empty() || cert == nullptr) return;
  PinCertificateDigest(cert);
  // Decoded certificate: about three times its DER plus the key and fields.
  Global().certificates.Remember(key, 3 * der_size + 2048, [&] { return NewRef(cert); });
}

OpensslPtr<X509_CRL> FindCrl(const std::string& key) {
  OpensslPtr<X509_CRL> out;
  if (key.empty()) return out;
  Global().crls.Find(key, [&](const OpensslPtr<X509_CRL>& c) {
    X509_CRL* m = const_cast<X509_CRL*>(c.get());  // NOLINT: a reference count
    if (X509_CRL_up_ref(m) != 1) return false;
    out.reset(m);
    return true;
  });
  return out;
}

void RememberCrl(const std::string& key, const X509_CRL* crl, size_t size) {
  if (key.empty() || crl == nullptr) return;
  Global().crls.Remember(key, 3 * size + 2048, [&] {
    X509_CRL* m = const_cast<X509_CRL*>(crl);  // NOLINT: a reference count
    return X509_CRL_up_ref(m) == 1 ? OpensslPtr<X509_CRL>(m) : OpensslPtr<X509_CRL>();
  });
}

std::optional<std::vector<OpensslPtr<X509>>> FindPem(const std::string& key) {
  std::optional<std::vector<OpensslPtr<X509>>> out;
  if (key.empty()) return out;
  Global().pems.Find(key, [&](const std::vector<OpensslPtr<X509>>& certs) {
    std::vector<OpensslPtr<X509>> refs;
    for (const auto& c : certs) {
      OpensslPtr<X509> r = NewRef(c.get());
      if (r == nullptr) return false;
      refs.push_back(std::move(r));
    }
    out = std::move(refs);
    return true;
  });
  return out;
}

void RememberPem(const std::string& key, const std::vector<OpensslPtr<X509>>& certs,
                 size_t pem_size) {
  if (key.empty()) return;
  for (const auto& c : certs) PinCertificateDigest(c.get());
  Global().pems.Remember(key, 3 * pem_size + 2048 * certs.size(), [&] {
    std::vector<OpensslPtr<X509>> refs;
    for (const auto& c : certs) refs.push_back(NewRef(c.get()));
    return refs;
  });
}

std::optional<ChainEntry> FindChain(const std::string& key, int64_t at) {
  std::optional<ChainEntry> out;
  if (key.empty()) return out;
  Global().chains.Find(key, [&](const ChainEntry& e) {
    if (at < e.not_before || at >= e.not_after) return false;  // outside: full run
    out = e;
    return true;
  });
  return out;
}

void RememberChain(const std::string& key, ChainEntry entry) {
  if (key.empty()) return;
  const uint64_t cost = kFlagCost + 2 * entry.path.size();
  Global().chains.Remember(key, cost, [&] { return std::move(entry); });
}

}  // namespace memo_internal
}  // namespace rp::crypto
