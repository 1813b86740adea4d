#include "release/pkcs11_store.h"

#include <dlfcn.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <p11-kit/pkcs11.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <iterator>
#include <map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "verifier/common/byte_reader.h"
#include "verifier/common/status_macros.h"

namespace rp::release {
namespace {

// ---- Record layout (all integers big-endian) -------------------------------
//   magic "RPSE" | version u8 (=1) | wrap mechanism u32 (CKM_AES_KEY_WRAP_PAD
//   or CKM_AES_KEY_WRAP) | wrapped key length u16 | wrapped key | IV length u8
//   (=12) | IV | ciphertext length u32 | ciphertext || 16-byte GCM tag
constexpr std::array<uint8_t, 4> kMagic = {'R', 'P', 'S', 'E'};
constexpr uint8_t kVersion = 1;
constexpr size_t kDataKeyBytes = 32;  // AES-256
constexpr size_t kIvBytes = 12;
constexpr size_t kTagBytes = 16;
constexpr size_t kMaxWrappedKeyBytes = 64;
constexpr char kAadPrefix[] = "rp-secret-store/v1";  // + NUL + resource name

static_assert(4 + 1 + 4 + 2 + kMaxWrappedKeyBytes + 1 + kIvBytes + 4 + kTagBytes <=
              kPkcs11RecordOverheadBytes);

std::string CkrName(CK_RV rv) {
  switch (rv) {
#define RP_CKR(x) \
  case x:         \
    return #x;
    RP_CKR(CKR_OK)
    RP_CKR(CKR_CANCEL)
    RP_CKR(CKR_HOST_MEMORY)
    RP_CKR(CKR_SLOT_ID_INVALID)
    RP_CKR(CKR_GENERAL_ERROR)
    RP_CKR(CKR_FUNCTION_FAILED)
    RP_CKR(CKR_ARGUMENTS_BAD)
    RP_CKR(CKR_ATTRIBUTE_READ_ONLY)
    RP_CKR(CKR_ATTRIBUTE_SENSITIVE)
    RP_CKR(CKR_ATTRIBUTE_TYPE_INVALID)
    RP_CKR(CKR_ATTRIBUTE_VALUE_INVALID)
    RP_CKR(CKR_DATA_INVALID)
    RP_CKR(CKR_DATA_LEN_RANGE)
    RP_CKR(CKR_DEVICE_ERROR)
    RP_CKR(CKR_DEVICE_MEMORY)
    RP_CKR(CKR_DEVICE_REMOVED)
    RP_CKR(CKR_ENCRYPTED_DATA_INVALID)
    RP_CKR(CKR_ENCRYPTED_DATA_LEN_RANGE)
    RP_CKR(CKR_FUNCTION_CANCELED)
    RP_CKR(CKR_FUNCTION_NOT_SUPPORTED)
    RP_CKR(CKR_KEY_HANDLE_INVALID)
    RP_CKR(CKR_KEY_SIZE_RANGE)
    RP_CKR(CKR_KEY_TYPE_INCONSISTENT)
    RP_CKR(CKR_KEY_FUNCTION_NOT_PERMITTED)
    RP_CKR(CKR_KEY_NOT_WRAPPABLE)
    RP_CKR(CKR_KEY_UNEXTRACTABLE)
    RP_CKR(CKR_MECHANISM_INVALID)
    RP_CKR(CKR_MECHANISM_PARAM_INVALID)
    RP_CKR(CKR_OBJECT_HANDLE_INVALID)
    RP_CKR(CKR_OPERATION_ACTIVE)
    RP_CKR(CKR_OPERATION_NOT_INITIALIZED)
    RP_CKR(CKR_PIN_INCORRECT)
    RP_CKR(CKR_PIN_INVALID)
    RP_CKR(CKR_PIN_LEN_RANGE)
    RP_CKR(CKR_PIN_EXPIRED)
    RP_CKR(CKR_PIN_LOCKED)
    RP_CKR(CKR_SESSION_CLOSED)
    RP_CKR(CKR_SESSION_COUNT)
    RP_CKR(CKR_SESSION_HANDLE_INVALID)
    RP_CKR(CKR_SESSION_READ_ONLY)
    RP_CKR(CKR_SESSION_EXISTS)
    RP_CKR(CKR_TEMPLATE_INCOMPLETE)
    RP_CKR(CKR_TEMPLATE_INCONSISTENT)
    RP_CKR(CKR_TOKEN_NOT_PRESENT)
    RP_CKR(CKR_TOKEN_NOT_RECOGNIZED)
    RP_CKR(CKR_TOKEN_WRITE_PROTECTED)
    RP_CKR(CKR_UNWRAPPING_KEY_HANDLE_INVALID)
    RP_CKR(CKR_UNWRAPPING_KEY_SIZE_RANGE)
    RP_CKR(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT)
    RP_CKR(CKR_USER_ALREADY_LOGGED_IN)
    RP_CKR(CKR_USER_NOT_LOGGED_IN)
    RP_CKR(CKR_USER_PIN_NOT_INITIALIZED)
    RP_CKR(CKR_USER_TYPE_INVALID)
    RP_CKR(CKR_USER_ANOTHER_ALREADY_LOGGED_IN)
    RP_CKR(CKR_USER_TOO_MANY_TYPES)
    RP_CKR(CKR_WRAPPED_KEY_INVALID)
    RP_CKR(CKR_WRAPPED_KEY_LEN_RANGE)
    RP_CKR(CKR_WRAPPING_KEY_HANDLE_INVALID)
    RP_CKR(CKR_WRAPPING_KEY_SIZE_RANGE)
    RP_CKR(CKR_WRAPPING_KEY_TYPE_INCONSISTENT)
    RP_CKR(CKR_RANDOM_NO_RNG)
    RP_CKR(CKR_BUFFER_TOO_SMALL)
    RP_CKR(CKR_CRYPTOKI_NOT_INITIALIZED)
    RP_CKR(CKR_CRYPTOKI_ALREADY_INITIALIZED)
    RP_CKR(CKR_MUTEX_BAD)
    RP_CKR(CKR_MUTEX_NOT_LOCKED)
#undef RP_CKR
    default:
      return absl::StrFormat("CKR_0x%08lx", static_cast<unsigned long>(rv));
  }
}

// The HSM failed (or refused) — "backend unavailable" by the store contract.
absl::Status HsmError(absl::string_view function, CK_RV rv) {
  return absl::UnavailableError(absl::StrCat("pkcs11: ", function, ": ", CkrName(rv)));
}

// The cached wrapping-key handle went stale (token reset or logged out).
bool IsStaleKeyHandle(CK_RV rv) {
  return rv == CKR_KEY_HANDLE_INVALID || rv == CKR_OBJECT_HANDLE_INVALID ||
         rv == CKR_WRAPPING_KEY_HANDLE_INVALID || rv == CKR_UNWRAPPING_KEY_HANDLE_INVALID;
}

// Codes meaning "these bytes do not decrypt/unwrap under this key": a
// damaged or foreign record, not an HSM outage.
bool IsBadCiphertext(CK_RV rv) {
  return rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_ENCRYPTED_DATA_LEN_RANGE ||
         rv == CKR_WRAPPED_KEY_INVALID || rv == CKR_WRAPPED_KEY_LEN_RANGE;
}

std::string TrimLabel(const unsigned char* field, size_t n) {
  std::string s(reinterpret_cast<const char*>(field), n);  // NOLINT: fixed-size text field
  size_t end = s.find_last_not_of(' ');
  return end == std::string::npos ? "" : s.substr(0, end + 1);
}

CK_ULONG ULong(size_t n) { return static_cast<CK_ULONG>(n); }

// ---- Module: one dlopen + C_Initialize per path per process ----------------

class Module {
 public:
  static absl::StatusOr<std::shared_ptr<Module>> Load(const std::string& path);

  CK_FUNCTION_LIST* f() const { return functions_; }

  // Logs the application in on `session` (login state is per application
  // and token in PKCS#11, shared by all sessions). If the token is already
  // logged in, the PIN must be the one that logged it in here: otherwise a
  // second store with a wrong PIN would ride on the first one's login.
  absl::Status Login(CK_SLOT_ID slot, CK_SESSION_HANDLE session, const SecretBytes& pin) {
    std::array<uint8_t, SHA256_DIGEST_LENGTH> digest{};
    SHA256(pin.data(), pin.size(), digest.data());
    absl::MutexLock lock(&mu_);
    CK_RV rv = functions_->C_Login(session, CKU_USER, const_cast<CK_UTF8CHAR*>(pin.data()),
                                   ULong(pin.size()));
    if (rv == CKR_OK) {
      pin_digest_[slot] = digest;
      return absl::OkStatus();
    }
    if (rv == CKR_USER_ALREADY_LOGGED_IN) {
      auto it = pin_digest_.find(slot);
      if (it == pin_digest_.end()) {
        return absl::UnavailableError(
            "pkcs11: C_Login: CKR_USER_ALREADY_LOGGED_IN by another user of the module in this "
            "process; the PIN cannot be verified");
      }
      if (CRYPTO_memcmp(it->second.data(), digest.data(), digest.size()) != 0) {
        return HsmError("C_Login (token already logged in with another PIN)", CKR_PIN_INCORRECT);
      }
      return absl::OkStatus();
    }
    return HsmError("C_Login", rv);
  }

  ~Module() {
    if (owns_init_) functions_->C_Finalize(nullptr);
    // The library stays mapped: some modules (SoftHSM2 among them) register
    // process-exit handlers, so dlclose() could unmap code still referenced.
  }

 private:
  Module(CK_FUNCTION_LIST* functions, bool owns_init)
      : functions_(functions), owns_init_(owns_init) {}

  CK_FUNCTION_LIST* const functions_;
  const bool owns_init_;
  absl::Mutex mu_;
  std::map<CK_SLOT_ID, std::array<uint8_t, SHA256_DIGEST_LENGTH>> pin_digest_
      ABSL_GUARDED_BY(mu_);
};

absl::Mutex g_modules_mu(absl::kConstInit);
std::map<std::string, std::weak_ptr<Module>>& Modules() ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_modules_mu) {
  static auto* modules = new std::map<std::string, std::weak_ptr<Module>>();
  return *modules;
}

absl::StatusOr<std::shared_ptr<Module>> Module::Load(const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("pkcs11: empty module path");
  absl::MutexLock lock(&g_modules_mu);
  auto& modules = Modules();
  if (auto it = modules.find(path); it != modules.end()) {
    if (std::shared_ptr<Module> m = it->second.lock()) return m;
  }
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* err = ::dlerror();
    return absl::UnavailableError(
        absl::StrCat("pkcs11: cannot load module ", path, ": ", err ? err : "dlopen failed"));
  }
  auto get_list = reinterpret_cast<CK_C_GetFunctionList>(  // NOLINT: dlsym returns void*
      ::dlsym(handle, "C_GetFunctionList"));
  if (get_list == nullptr) {
    ::dlclose(handle);
    return absl::UnavailableError(
        absl::StrCat("pkcs11: ", path, " has no C_GetFunctionList (not a PKCS#11 module)"));
  }
  CK_FUNCTION_LIST* functions = nullptr;
  CK_RV rv = get_list(&functions);
  if (rv != CKR_OK || functions == nullptr) return HsmError("C_GetFunctionList", rv);
  if (functions->version.major != 2) {
    return absl::UnavailableError(absl::StrCat("pkcs11: ", path, " implements Cryptoki ",
                                               functions->version.major, ".",
                                               functions->version.minor, ", want 2.x"));
  }
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  rv = functions->C_Initialize(&args);
  bool owns_init = true;
  if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    owns_init = false;  // someone else in this process initialised it; they finalise
  } else if (rv != CKR_OK) {
    return HsmError("C_Initialize", rv);
  }
  // The deleter runs under the registry lock, so a concurrent Load() of the
  // same path cannot C_Initialize between our C_Finalize and the erase.
  std::shared_ptr<Module> module(new Module(functions, owns_init), [path](Module* m) {
    absl::MutexLock registry_lock(&g_modules_mu);
    auto& mods = Modules();
    if (auto it = mods.find(path); it != mods.end() && it->second.expired()) mods.erase(it);
    delete m;
  });
  modules[path] = module;
  return module;
}

// Destroys a session object when it goes out of scope.
class ObjectGuard {
 public:
  ObjectGuard(CK_FUNCTION_LIST* f, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object)
      : f_(f), session_(session), object_(object) {}
  ObjectGuard(const ObjectGuard&) = delete;
  ObjectGuard& operator=(const ObjectGuard&) = delete;
  ~ObjectGuard() { f_->C_DestroyObject(session_, object_); }

 private:
  CK_FUNCTION_LIST* f_;
  CK_SESSION_HANDLE session_;
  CK_OBJECT_HANDLE object_;
};

CK_BBOOL kTrue = CK_TRUE;
CK_BBOOL kFalse = CK_FALSE;
CK_OBJECT_CLASS kSecretKeyClass = CKO_SECRET_KEY;
CK_KEY_TYPE kAesKeyType = CKK_AES;

CK_ATTRIBUTE Attr(CK_ATTRIBUTE_TYPE type, CK_BBOOL* value) {
  return CK_ATTRIBUTE{type, value, sizeof(CK_BBOOL)};
}

}  // namespace

namespace internal {

// A logged-in token: module, slot, PIN, wrapping key and a session pool.
class Pkcs11Token {
 public:
  static absl::StatusOr<std::unique_ptr<Pkcs11Token>> Open(const Pkcs11Config& config);

  ~Pkcs11Token() {
    absl::MutexLock lock(&mu_);
    for (CK_SESSION_HANDLE s : idle_) f()->C_CloseSession(s);
    idle_.clear();
    if (anchor_ != CK_INVALID_HANDLE) f()->C_CloseSession(anchor_);
  }

  CK_FUNCTION_LIST* f() const { return module_->f(); }

  // One session, exclusively, for the duration of one operation.
  class Lease {
   public:
    Lease(Pkcs11Token* token, CK_SESSION_HANDLE session) : token_(token), session_(session) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { token_->Return(session_, broken_); }
    CK_SESSION_HANDLE get() const { return session_; }
    // Any error may leave an operation active or the session dead: close it
    // instead of handing it to the next caller.
    void MarkBroken() { broken_ = true; }

   private:
    Pkcs11Token* token_;
    CK_SESSION_HANDLE session_;
    bool broken_ = false;
  };

  absl::StatusOr<std::unique_ptr<Lease>> Acquire() {
    CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
    {
      absl::MutexLock lock(&mu_);
      if (!idle_.empty()) {
        session = idle_.back();
        idle_.pop_back();
      }
    }
    if (session == CK_INVALID_HANDLE) {
      CK_RV rv = f()->C_OpenSession(slot_, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr,
                                    &session);
      if (rv != CKR_OK) return HsmError("C_OpenSession", rv);
    }
    auto lease = std::make_unique<Lease>(this, session);
    CK_SESSION_INFO info{};
    CK_RV rv = f()->C_GetSessionInfo(session, &info);
    if (rv != CKR_OK) {
      lease->MarkBroken();
      return HsmError("C_GetSessionInfo", rv);
    }
    if (info.state != CKS_RW_USER_FUNCTIONS && info.state != CKS_RO_USER_FUNCTIONS) {
      // Logged out (first use, or the token/HSM was reset since).
      if (absl::Status s = module_->Login(slot_, session, pin_); !s.ok()) {
        lease->MarkBroken();
        return s;
      }
    }
    return lease;
  }

  CK_OBJECT_HANDLE wrap_key() const {
    absl::MutexLock lock(&key_mu_);
    return wrap_key_;
  }
  // Object handles may change when the token was logged out or reset (e.g.
  // SoftHSM2 forgets them once all sessions closed): find the key again by
  // label, re-check its attributes, and remember the new handle.
  // A key that vanished is an HSM problem (UNAVAILABLE), never NOT_FOUND,
  // which callers read as "no such resource".
  absl::StatusOr<CK_OBJECT_HANDLE> RefreshWrapKey(CK_SESSION_HANDLE session,
                                                  absl::string_view function, CK_RV stale_rv) {
    const std::string context = absl::StrCat(function, ": ", CkrName(stale_rv));
    absl::StatusOr<CK_OBJECT_HANDLE> found = FindKey(session, key_label_);
    if (absl::IsNotFound(found.status())) {
      return absl::UnavailableError(absl::StrCat(context, "; ", found.status().message()));
    }
    if (!found.ok()) return Annotate(found.status(), context);
    CK_OBJECT_HANDLE key = *found;
    RETURN_IF_ERROR(Annotate(CheckWrappingKey(session, key, key_label_), context));
    absl::MutexLock lock(&key_mu_);
    wrap_key_ = key;
    return key;
  }
  CK_MECHANISM_TYPE wrap_mechanism() const { return wrap_mechanism_; }
  bool SupportsWrap(CK_MECHANISM_TYPE mech) const {
    return mech == wrap_mechanism_ || (mech == CKM_AES_KEY_WRAP && wrap_supported_);
  }

  // Finds the unique AES secret key labelled `label`; 0 hits is NOT_FOUND.
  absl::StatusOr<CK_OBJECT_HANDLE> FindKey(CK_SESSION_HANDLE session, const std::string& label);

  // Checks the wrapping key's attributes against the store's contract.
  absl::Status CheckWrappingKey(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key,
                                const std::string& label);

 private:
  Pkcs11Token(std::shared_ptr<Module> module, CK_SLOT_ID slot, SecretBytes pin,
              std::string key_label)
      : module_(std::move(module)), slot_(slot), pin_(std::move(pin)),
        key_label_(std::move(key_label)) {}

  void Return(CK_SESSION_HANDLE session, bool broken) {
    if (broken) {
      f()->C_CloseSession(session);
      return;
    }
    absl::MutexLock lock(&mu_);
    idle_.push_back(session);
  }

  absl::Status ChooseMechanisms();

  const std::shared_ptr<Module> module_;
  const CK_SLOT_ID slot_;
  const SecretBytes pin_;
  const std::string key_label_;
  CK_MECHANISM_TYPE wrap_mechanism_ = CKM_AES_KEY_WRAP_PAD;  // set once in Open()
  bool wrap_supported_ = false;                              // plain CKM_AES_KEY_WRAP
  // A session opened at Open() and never used for operations (so never
  // closed on error) until destruction: PKCS#11 logs the application out —
  // and modules may drop object handles — when its last session closes.
  CK_SESSION_HANDLE anchor_ = CK_INVALID_HANDLE;
  mutable absl::Mutex key_mu_;
  CK_OBJECT_HANDLE wrap_key_ ABSL_GUARDED_BY(key_mu_) = CK_INVALID_HANDLE;
  absl::Mutex mu_;
  std::vector<CK_SESSION_HANDLE> idle_ ABSL_GUARDED_BY(mu_);

  friend absl::StatusOr<std::unique_ptr<Pkcs11Token>> OpenToken(const Pkcs11Config&, bool);
};

namespace {

absl::StatusOr<SecretBytes> ReadPin(const std::string& pin_file) {
  auto pin = ReadPrivateFile(pin_file, kMaxPinFileBytes, /*allow_root_owner=*/true);
  if (!pin.ok()) {
    // A missing PIN file is a configuration error, never "resource not found".
    return absl::FailedPreconditionError(absl::StrCat("pkcs11 pin_file: ", pin.status().message()));
  }
  size_t n = pin->size();
  while (n > 0 && (pin->data()[n - 1] == '\n' || pin->data()[n - 1] == '\r')) --n;
  pin->Truncate(n);
  if (pin->empty()) {
    return absl::FailedPreconditionError(absl::StrCat("pkcs11 pin_file ", pin_file, " is empty"));
  }
  return pin;
}

absl::StatusOr<CK_SLOT_ID> FindSlot(CK_FUNCTION_LIST* f, const std::string& token_label) {
  CK_ULONG count = 0;
  CK_RV rv = f->C_GetSlotList(CK_TRUE, nullptr, &count);
  if (rv != CKR_OK) return HsmError("C_GetSlotList", rv);
  std::vector<CK_SLOT_ID> slots(count);
  if (count > 0) {
    rv = f->C_GetSlotList(CK_TRUE, slots.data(), &count);
    if (rv != CKR_OK) return HsmError("C_GetSlotList", rv);
    slots.resize(count);
  }
  std::vector<CK_SLOT_ID> matches;
  for (CK_SLOT_ID slot : slots) {
    CK_TOKEN_INFO info{};
    rv = f->C_GetTokenInfo(slot, &info);
    if (rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_TOKEN_NOT_RECOGNIZED) continue;
    if (rv != CKR_OK) return HsmError("C_GetTokenInfo", rv);
    if ((info.flags & CKF_TOKEN_INITIALIZED) == 0) continue;
    if (TrimLabel(info.label, sizeof(info.label)) == token_label) matches.push_back(slot);
  }
  if (matches.empty()) {
    return absl::UnavailableError(absl::StrCat("pkcs11: no token labelled '", token_label,
                                               "' (", slots.size(), " slots with a token)"));
  }
  // Two tokens with one label: we could pick the wrong one; fail closed.
  if (matches.size() > 1) {
    return absl::UnavailableError(
        absl::StrCat("pkcs11: ", matches.size(), " tokens are labelled '", token_label, "'"));
  }
  return matches[0];
}

}  // namespace

absl::Status Pkcs11Token::ChooseMechanisms() {
  auto supports = [&](CK_MECHANISM_TYPE mech, CK_FLAGS flags) {
    CK_MECHANISM_INFO info{};
    return f()->C_GetMechanismInfo(slot_, mech, &info) == CKR_OK && (info.flags & flags) == flags;
  };
  if (!supports(CKM_AES_KEY_GEN, CKF_GENERATE)) {
    return absl::FailedPreconditionError("pkcs11: token lacks CKM_AES_KEY_GEN");
  }
  if (!supports(CKM_AES_GCM, CKF_ENCRYPT | CKF_DECRYPT)) {
    return absl::FailedPreconditionError("pkcs11: token lacks CKM_AES_GCM encrypt/decrypt");
  }
  wrap_supported_ = supports(CKM_AES_KEY_WRAP, CKF_WRAP | CKF_UNWRAP);
  if (supports(CKM_AES_KEY_WRAP_PAD, CKF_WRAP | CKF_UNWRAP)) {
    wrap_mechanism_ = CKM_AES_KEY_WRAP_PAD;
  } else if (wrap_supported_) {
    wrap_mechanism_ = CKM_AES_KEY_WRAP;
  } else {
    return absl::FailedPreconditionError(
        "pkcs11: token supports neither CKM_AES_KEY_WRAP_PAD nor CKM_AES_KEY_WRAP");
  }
  return absl::OkStatus();
}

absl::StatusOr<CK_OBJECT_HANDLE> Pkcs11Token::FindKey(CK_SESSION_HANDLE session,
                                                      const std::string& label) {
  std::string label_copy = label;
  std::array<CK_ATTRIBUTE, 4> tmpl = {{
      {CKA_CLASS, &kSecretKeyClass, sizeof(kSecretKeyClass)},
      {CKA_KEY_TYPE, &kAesKeyType, sizeof(kAesKeyType)},
      {CKA_LABEL, label_copy.data(), ULong(label_copy.size())},
      Attr(CKA_TOKEN, &kTrue),
  }};
  CK_RV rv = f()->C_FindObjectsInit(session, tmpl.data(), ULong(tmpl.size()));
  if (rv != CKR_OK) return HsmError("C_FindObjectsInit", rv);
  std::array<CK_OBJECT_HANDLE, 2> found{};
  CK_ULONG n = 0;
  rv = f()->C_FindObjects(session, found.data(), ULong(found.size()), &n);
  CK_RV final_rv = f()->C_FindObjectsFinal(session);
  if (rv != CKR_OK) return HsmError("C_FindObjects", rv);
  if (final_rv != CKR_OK) return HsmError("C_FindObjectsFinal", final_rv);
  if (n == 0) {
    return absl::NotFoundError(absl::StrCat("pkcs11: no AES key labelled '", label, "' on the token"));
  }
  if (n > 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("pkcs11: more than one AES key is labelled '", label, "'"));
  }
  return found[0];
}

absl::Status Pkcs11Token::CheckWrappingKey(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key,
                                           const std::string& label) {
  CK_BBOOL extractable = CK_TRUE, never_extractable = CK_FALSE, sensitive = CK_FALSE,
           wrap = CK_FALSE, unwrap = CK_FALSE;
  CK_ULONG value_len = 0;
  std::array<CK_ATTRIBUTE, 6> attrs = {{
      Attr(CKA_EXTRACTABLE, &extractable),
      Attr(CKA_NEVER_EXTRACTABLE, &never_extractable),
      Attr(CKA_SENSITIVE, &sensitive),
      Attr(CKA_WRAP, &wrap),
      Attr(CKA_UNWRAP, &unwrap),
      {CKA_VALUE_LEN, &value_len, sizeof(value_len)},
  }};
  CK_RV rv = f()->C_GetAttributeValue(session, key, attrs.data(), ULong(attrs.size()));
  if (rv != CKR_OK) return HsmError("C_GetAttributeValue (wrapping key)", rv);
  std::vector<std::string> problems;
  if (extractable != CK_FALSE) problems.push_back("CKA_EXTRACTABLE is true");
  if (never_extractable != CK_TRUE) problems.push_back("CKA_NEVER_EXTRACTABLE is false");
  if (sensitive != CK_TRUE) problems.push_back("CKA_SENSITIVE is false");
  if (wrap != CK_TRUE) problems.push_back("CKA_WRAP is false");
  if (unwrap != CK_TRUE) problems.push_back("CKA_UNWRAP is false");
  if (value_len != kDataKeyBytes) {
    problems.push_back(absl::StrCat("CKA_VALUE_LEN is ", value_len, ", want 32 (AES-256)"));
  }
  if (!problems.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "pkcs11: wrapping key '", label, "' must stay inside the HSM: ", absl::StrJoin(problems, ", ")));
  }
  return absl::OkStatus();
}

// Loads the module, finds the token, reads the PIN and logs in. When
// `find_key`, also finds and checks the wrapping key.
absl::StatusOr<std::unique_ptr<Pkcs11Token>> OpenToken(const Pkcs11Config& config, bool find_key) {
  for (const auto& [field, value] :
       {std::pair<const char*, const std::string*>{"module", &config.module},
        {"token_label", &config.token_label},
        {"pin_file", &config.pin_file},
        {"key_label", &config.key_label}}) {
    if (value->empty()) {
      return absl::InvalidArgumentError(absl::StrCat("pkcs11 config: ", field, " is required"));
    }
  }
  if (config.token_label.size() > 32) {
    return absl::InvalidArgumentError("pkcs11 config: token_label is longer than 32 bytes");
  }
  ASSIGN_OR_RETURN(SecretBytes pin, ReadPin(config.pin_file));
  ASSIGN_OR_RETURN(std::shared_ptr<Module> module, Module::Load(config.module));
  ASSIGN_OR_RETURN(CK_SLOT_ID slot, FindSlot(module->f(), config.token_label));
  std::unique_ptr<Pkcs11Token> token(
      new Pkcs11Token(std::move(module), slot, std::move(pin), config.key_label));
  RETURN_IF_ERROR(token->ChooseMechanisms());
  CK_RV rv = token->f()->C_OpenSession(slot, CKF_SERIAL_SESSION, nullptr, nullptr, &token->anchor_);
  if (rv != CKR_OK) return HsmError("C_OpenSession", rv);
  ASSIGN_OR_RETURN(std::unique_ptr<Pkcs11Token::Lease> lease, token->Acquire());  // logs in
  // Verify our PIN even when the token was already logged in by another
  // store sharing the module (Acquire() then skipped the login).
  if (absl::Status s = token->module_->Login(token->slot_, lease->get(), token->pin_); !s.ok()) {
    lease->MarkBroken();
    return s;
  }
  if (find_key) {
    auto key = token->FindKey(lease->get(), config.key_label);
    if (!key.ok()) {
      lease->MarkBroken();
      if (absl::IsNotFound(key.status())) {
        return absl::FailedPreconditionError(absl::StrCat(
            key.status().message(), " (create it with `attestctl resource init-key`)"));
      }
      return key.status();
    }
    if (absl::Status s = token->CheckWrappingKey(lease->get(), *key, config.key_label); !s.ok()) {
      lease->MarkBroken();
      return s;
    }
    absl::MutexLock key_lock(&token->key_mu_);
    token->wrap_key_ = *key;
  }
  return token;
}

}  // namespace internal

using internal::Pkcs11Token;

Pkcs11Store::Pkcs11Store(std::unique_ptr<Pkcs11Token> token,
                         std::unique_ptr<DirectoryStore> records, std::string description)
    : token_(std::move(token)), records_(std::move(records)), description_(std::move(description)) {}

Pkcs11Store::~Pkcs11Store() = default;

absl::StatusOr<std::unique_ptr<Pkcs11Store>> Pkcs11Store::Create(const Pkcs11Config& config,
                                                                 const std::string& dir) {
  if (dir.empty()) return absl::InvalidArgumentError("pkcs11 store: dir is required");
  ASSIGN_OR_RETURN(
      std::unique_ptr<DirectoryStore> records,
      DirectoryStore::Create(dir, {.max_record_bytes = kMaxSecretBytes + kPkcs11RecordOverheadBytes}));
  ASSIGN_OR_RETURN(std::unique_ptr<Pkcs11Token> token, internal::OpenToken(config, true));
  std::string description = absl::StrCat(
      "pkcs11 token '", config.token_label, "' key '", config.key_label, "' (",
      token->wrap_mechanism() == CKM_AES_KEY_WRAP_PAD ? "CKM_AES_KEY_WRAP_PAD" : "CKM_AES_KEY_WRAP",
      " + AES-256-GCM) module ", config.module, " records ", dir);
  return std::unique_ptr<Pkcs11Store>(
      new Pkcs11Store(std::move(token), std::move(records), std::move(description)));
}

absl::Status Pkcs11Store::GenerateWrappingKey(const Pkcs11Config& config) {
  ASSIGN_OR_RETURN(std::unique_ptr<Pkcs11Token> token, internal::OpenToken(config, false));
  ASSIGN_OR_RETURN(std::unique_ptr<Pkcs11Token::Lease> lease, token->Acquire());
  auto existing = token->FindKey(lease->get(), config.key_label);
  if (existing.ok() || absl::IsFailedPrecondition(existing.status())) {
    return absl::AlreadyExistsError(
        absl::StrCat("pkcs11: a key labelled '", config.key_label, "' already exists"));
  }
  if (!absl::IsNotFound(existing.status())) return existing.status();
  std::string label = config.key_label;
  CK_ULONG value_len = kDataKeyBytes;
  std::array<CK_ATTRIBUTE, 16> tmpl = {{
      {CKA_CLASS, &kSecretKeyClass, sizeof(kSecretKeyClass)},
      {CKA_KEY_TYPE, &kAesKeyType, sizeof(kAesKeyType)},
      {CKA_VALUE_LEN, &value_len, sizeof(value_len)},
      {CKA_LABEL, label.data(), ULong(label.size())},
      Attr(CKA_TOKEN, &kTrue),
      Attr(CKA_PRIVATE, &kTrue),
      Attr(CKA_SENSITIVE, &kTrue),
      Attr(CKA_EXTRACTABLE, &kFalse),
      Attr(CKA_MODIFIABLE, &kFalse),
      Attr(CKA_WRAP, &kTrue),
      Attr(CKA_UNWRAP, &kTrue),
      Attr(CKA_ENCRYPT, &kFalse),
      Attr(CKA_DECRYPT, &kFalse),
      Attr(CKA_SIGN, &kFalse),
      Attr(CKA_VERIFY, &kFalse),
      Attr(CKA_DERIVE, &kFalse),
  }};
  CK_MECHANISM mech{CKM_AES_KEY_GEN, nullptr, 0};
  CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
  CK_RV rv = token->f()->C_GenerateKey(lease->get(), &mech, tmpl.data(), ULong(tmpl.size()), &key);
  if (rv != CKR_OK) {
    lease->MarkBroken();
    return HsmError("C_GenerateKey (wrapping key)", rv);
  }
  // Verify what the module actually made, not what we asked for.
  return token->CheckWrappingKey(lease->get(), key, config.key_label);
}

namespace {

std::vector<uint8_t> Aad(std::string_view resource) {
  std::vector<uint8_t> aad(sizeof(kAadPrefix) + resource.size());  // prefix includes its NUL
  std::copy(std::begin(kAadPrefix), std::end(kAadPrefix), aad.begin());
  std::copy(resource.begin(), resource.end(), aad.begin() + sizeof(kAadPrefix));
  return aad;
}

void PutU16(std::vector<uint8_t>& out, size_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
void PutU32(std::vector<uint8_t>& out, uint64_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

struct Envelope {
  CK_MECHANISM_TYPE wrap_mechanism = 0;
  std::span<const uint8_t> wrapped_key, iv, ciphertext;  // borrow the record
};

// Bounded parse of a record (no crypto); DATA_LOSS on any deviation.
absl::StatusOr<Envelope> ParseEnvelope(std::span<const uint8_t> record, absl::string_view what) {
  auto bad = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat(what, ": malformed record: ", why));
  };
  ByteReader r(record);
  std::span<const uint8_t> magic;
  uint8_t version = 0;
  if (!r.ReadBytes(kMagic.size(), &magic) || !std::equal(magic.begin(), magic.end(), kMagic.begin())) {
    return bad("bad magic (not a pkcs11 store record)");
  }
  if (!r.ReadU8(&version) || version != kVersion) return bad("unsupported version");
  Envelope env;
  uint32_t mech = 0;
  if (!r.ReadU32Be(&mech)) return bad("truncated mechanism");
  if (mech != CKM_AES_KEY_WRAP_PAD && mech != CKM_AES_KEY_WRAP) {
    return bad(absl::StrFormat("wrap mechanism 0x%x not allowed", mech));
  }
  env.wrap_mechanism = mech;
  uint16_t wrapped_len = 0;
  if (!r.ReadU16Be(&wrapped_len) || wrapped_len == 0 || wrapped_len > kMaxWrappedKeyBytes ||
      !r.ReadBytes(wrapped_len, &env.wrapped_key)) {
    return bad("wrapped key");
  }
  uint8_t iv_len = 0;
  if (!r.ReadU8(&iv_len) || iv_len != kIvBytes || !r.ReadBytes(iv_len, &env.iv)) return bad("IV");
  uint32_t ct_len = 0;
  if (!r.ReadU32Be(&ct_len) || ct_len <= kTagBytes || ct_len > kMaxSecretBytes + kTagBytes ||
      !r.ReadBytes(ct_len, &env.ciphertext)) {
    return bad("ciphertext");
  }
  if (!r.empty()) return bad("trailing bytes");
  return env;
}

}  // namespace

absl::Status Pkcs11Store::Put(std::string_view resource_view, std::span<const uint8_t> secret) {
  const std::string resource(resource_view);
  if (!IsValidResourceName(resource)) {
    return absl::InvalidArgumentError("invalid resource name (want <repository>/<type>/<tag>)");
  }
  std::string what = absl::StrCat("resource ", resource);
  if (secret.empty()) return absl::InvalidArgumentError(absl::StrCat(what, ": empty secret"));
  if (secret.size() > kMaxSecretBytes) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", secret.size(),
                                                   " bytes, more than the cap of ", kMaxSecretBytes));
  }
  CK_FUNCTION_LIST* f = token_->f();
  ASSIGN_OR_RETURN(std::unique_ptr<Pkcs11Token::Lease> lease, token_->Acquire());
  auto fail = [&](absl::string_view function, CK_RV rv) {
    lease->MarkBroken();
    return Annotate(HsmError(function, rv), what);
  };

  // Fresh data key inside the HSM: sensitive (its value is never readable),
  // extractable only so that it can be wrapped, a session object that dies
  // with the guard below.
  CK_ULONG value_len = kDataKeyBytes;
  std::array<CK_ATTRIBUTE, 11> tmpl = {{
      {CKA_CLASS, &kSecretKeyClass, sizeof(kSecretKeyClass)},
      {CKA_KEY_TYPE, &kAesKeyType, sizeof(kAesKeyType)},
      {CKA_VALUE_LEN, &value_len, sizeof(value_len)},
      Attr(CKA_TOKEN, &kFalse),
      Attr(CKA_PRIVATE, &kTrue),
      Attr(CKA_SENSITIVE, &kTrue),
      Attr(CKA_EXTRACTABLE, &kTrue),
      Attr(CKA_ENCRYPT, &kTrue),
      Attr(CKA_DECRYPT, &kFalse),
      Attr(CKA_WRAP, &kFalse),
      Attr(CKA_UNWRAP, &kFalse),
  }};
  CK_MECHANISM keygen{CKM_AES_KEY_GEN, nullptr, 0};
  CK_OBJECT_HANDLE data_key = CK_INVALID_HANDLE;
  CK_RV rv = f->C_GenerateKey(lease->get(), &keygen, tmpl.data(), ULong(tmpl.size()), &data_key);
  if (rv != CKR_OK) return fail("C_GenerateKey (data key)", rv);
  ObjectGuard data_key_guard(f, lease->get(), data_key);

  std::array<uint8_t, kIvBytes> iv{};
  if (RAND_bytes(iv.data(), static_cast<int>(iv.size())) != 1) {
    return absl::InternalError("RAND_bytes failed");
  }
  std::vector<uint8_t> aad = Aad(resource);
  CK_GCM_PARAMS gcm{};
  gcm.pIv = iv.data();
  gcm.ulIvLen = ULong(iv.size());
  gcm.ulIvBits = ULong(iv.size() * 8);
  gcm.pAAD = aad.data();
  gcm.ulAADLen = ULong(aad.size());
  gcm.ulTagBits = ULong(kTagBytes * 8);
  CK_MECHANISM gcm_mech{CKM_AES_GCM, &gcm, sizeof(gcm)};
  rv = f->C_EncryptInit(lease->get(), &gcm_mech, data_key);
  if (rv != CKR_OK) return fail("C_EncryptInit (AES-GCM)", rv);
  std::vector<uint8_t> ciphertext(secret.size() + kTagBytes);
  CK_ULONG ct_len = ULong(ciphertext.size());
  rv = f->C_Encrypt(lease->get(), const_cast<CK_BYTE*>(secret.data()), ULong(secret.size()),
                    ciphertext.data(), &ct_len);
  if (rv != CKR_OK) return fail("C_Encrypt (AES-GCM)", rv);
  if (ct_len != secret.size() + kTagBytes) {
    lease->MarkBroken();
    return absl::UnavailableError(absl::StrCat(what, ": pkcs11: C_Encrypt returned ", ct_len,
                                               " bytes, want ", secret.size() + kTagBytes));
  }

  CK_MECHANISM wrap_mech{token_->wrap_mechanism(), nullptr, 0};
  std::array<uint8_t, kMaxWrappedKeyBytes> wrapped{};
  CK_ULONG wrapped_len = ULong(wrapped.size());
  rv = f->C_WrapKey(lease->get(), &wrap_mech, token_->wrap_key(), data_key, wrapped.data(),
                    &wrapped_len);
  if (IsStaleKeyHandle(rv)) {
    auto fresh = token_->RefreshWrapKey(lease->get(), "C_WrapKey", rv);
    if (!fresh.ok()) {
      lease->MarkBroken();
      return Annotate(fresh.status(), what);
    }
    wrapped_len = ULong(wrapped.size());
    rv = f->C_WrapKey(lease->get(), &wrap_mech, *fresh, data_key, wrapped.data(), &wrapped_len);
  }
  if (rv != CKR_OK) return fail("C_WrapKey", rv);
  if (wrapped_len == 0 || wrapped_len > wrapped.size()) {
    lease->MarkBroken();
    return absl::UnavailableError(absl::StrCat(what, ": pkcs11: C_WrapKey returned ", wrapped_len,
                                               " bytes"));
  }

  std::vector<uint8_t> record(kMagic.begin(), kMagic.end());
  record.push_back(kVersion);
  PutU32(record, token_->wrap_mechanism());
  PutU16(record, wrapped_len);
  record.insert(record.end(), wrapped.begin(), wrapped.begin() + static_cast<ptrdiff_t>(wrapped_len));
  record.push_back(static_cast<uint8_t>(iv.size()));
  record.insert(record.end(), iv.begin(), iv.end());
  PutU32(record, ct_len);
  record.insert(record.end(), ciphertext.begin(), ciphertext.end());
  return records_->Put(resource, record);
}

absl::StatusOr<SecretBytes> Pkcs11Store::Get(std::string_view resource_view) const {
  const std::string resource(resource_view);
  // Name checks, NOT_FOUND and the file rules come from the record layer.
  ASSIGN_OR_RETURN(SecretBytes record, records_->Get(resource));
  std::string what = absl::StrCat("resource ", resource);
  ASSIGN_OR_RETURN(Envelope env, ParseEnvelope(record.span(), what));
  if (!token_->SupportsWrap(env.wrap_mechanism)) {
    return absl::UnavailableError(absl::StrFormat(
        "%s: pkcs11: record wrapped with mechanism 0x%x, which this token lacks", what,
        env.wrap_mechanism));
  }
  CK_FUNCTION_LIST* f = token_->f();
  ASSIGN_OR_RETURN(std::unique_ptr<Pkcs11Token::Lease> lease, token_->Acquire());
  auto fail = [&](absl::string_view function, CK_RV rv) {
    lease->MarkBroken();
    if (IsBadCiphertext(rv)) {
      return absl::DataLossError(absl::StrCat(
          what, ": record does not authenticate under the wrapping key (", function, ": ",
          CkrName(rv), "): tampered, truncated, moved from another resource or another key"));
    }
    return Annotate(HsmError(function, rv), what);
  };

  // The data key comes back as a non-extractable, sensitive session object:
  // usable for exactly this decryption, never readable.
  std::array<CK_ATTRIBUTE, 10> tmpl = {{
      {CKA_CLASS, &kSecretKeyClass, sizeof(kSecretKeyClass)},
      {CKA_KEY_TYPE, &kAesKeyType, sizeof(kAesKeyType)},
      Attr(CKA_TOKEN, &kFalse),
      Attr(CKA_PRIVATE, &kTrue),
      Attr(CKA_SENSITIVE, &kTrue),
      Attr(CKA_EXTRACTABLE, &kFalse),
      Attr(CKA_DECRYPT, &kTrue),
      Attr(CKA_ENCRYPT, &kFalse),
      Attr(CKA_WRAP, &kFalse),
      Attr(CKA_UNWRAP, &kFalse),
  }};
  CK_MECHANISM wrap_mech{env.wrap_mechanism, nullptr, 0};
  CK_OBJECT_HANDLE data_key = CK_INVALID_HANDLE;
  auto unwrap = [&](CK_OBJECT_HANDLE wrapping_key) {
    return f->C_UnwrapKey(lease->get(), &wrap_mech, wrapping_key,
                          const_cast<CK_BYTE*>(env.wrapped_key.data()),
                          ULong(env.wrapped_key.size()), tmpl.data(), ULong(tmpl.size()),
                          &data_key);
  };
  CK_RV rv = unwrap(token_->wrap_key());
  if (IsStaleKeyHandle(rv)) {
    auto fresh = token_->RefreshWrapKey(lease->get(), "C_UnwrapKey", rv);
    if (!fresh.ok()) {
      lease->MarkBroken();
      return Annotate(fresh.status(), what);
    }
    rv = unwrap(*fresh);
  }
  if (rv != CKR_OK) return fail("C_UnwrapKey", rv);
  ObjectGuard data_key_guard(f, lease->get(), data_key);

  std::vector<uint8_t> aad = Aad(resource);
  CK_GCM_PARAMS gcm{};
  gcm.pIv = const_cast<CK_BYTE*>(env.iv.data());
  gcm.ulIvLen = ULong(env.iv.size());
  gcm.ulIvBits = ULong(env.iv.size() * 8);
  gcm.pAAD = aad.data();
  gcm.ulAADLen = ULong(aad.size());
  gcm.ulTagBits = ULong(kTagBytes * 8);
  CK_MECHANISM gcm_mech{CKM_AES_GCM, &gcm, sizeof(gcm)};
  rv = f->C_DecryptInit(lease->get(), &gcm_mech, data_key);
  if (rv != CKR_OK) return fail("C_DecryptInit (AES-GCM)", rv);
  // Single-part GCM: the module returns plaintext only after the tag
  // verified. The buffer wipes itself on every exit path.
  SecretBytes plaintext = SecretBytes::Zeroed(env.ciphertext.size());
  CK_ULONG pt_len = ULong(plaintext.size());
  rv = f->C_Decrypt(lease->get(), const_cast<CK_BYTE*>(env.ciphertext.data()),
                    ULong(env.ciphertext.size()), plaintext.data(), &pt_len);
  if (rv != CKR_OK) return fail("C_Decrypt (AES-GCM)", rv);
  if (pt_len != env.ciphertext.size() - kTagBytes) {
    lease->MarkBroken();
    return absl::DataLossError(absl::StrCat(what, ": decrypted to ", pt_len, " bytes, want ",
                                            env.ciphertext.size() - kTagBytes));
  }
  plaintext.Truncate(pt_len);
  return plaintext;
}

absl::StatusOr<std::vector<std::string>> Pkcs11Store::List() const { return records_->List(); }

absl::Status Pkcs11Store::Remove(std::string_view resource) { return records_->Remove(resource); }

std::string Pkcs11Store::Describe() const { return description_; }

}  // namespace rp::release
