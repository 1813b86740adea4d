// Pkcs11Store end to end against SoftHSM2. The fixture makes its own token:
// a temporary SOFTHSM2_CONF and token directory, `softhsm2-util
// --init-token`, a 0600 PIN file and the wrapping key made by
// Pkcs11Store::GenerateWrappingKey. The test checks the key's attributes
// with its own raw PKCS#11 client (not the code under test).
//
// softhsm2 is a build dependency (scripts/install_deps.sh): if the module or
// softhsm2-util is missing these tests fail, they do not skip.
#include "release/pkcs11_store.h"

#include <dlfcn.h>
#include <p11-kit/pkcs11.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rp::release {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kToken[] = "rp-test";
constexpr char kPin[] = "1234";
constexpr char kKey[] = "rp-wrap";

std::string FindModule() {
  if (const char* env = std::getenv("RP_SOFTHSM2_MODULE")) return env;
  for (const char* p : {"/usr/lib/softhsm/libsofthsm2.so",
                        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                        "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
                        "/usr/local/lib/softhsm/libsofthsm2.so"}) {
    if (fs::exists(p)) return p;
  }
  return "";
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void WriteFile(const fs::path& p, std::string_view content, mode_t mode) {
  {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << content;
  }
  ::chmod(p.c_str(), mode);
}

std::vector<uint8_t> RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

std::string Str(std::span<const uint8_t> b) { return {b.begin(), b.end()}; }

// A minimal independent PKCS#11 client for checks the store must not be
// trusted to report about itself.
class RawClient {
 public:
  explicit RawClient(const std::string& module) {
    void* h = ::dlopen(module.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) return;
    auto get = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(h, "C_GetFunctionList"));
    if (get == nullptr || get(&f_) != CKR_OK) return;
    CK_RV rv = f_->C_Initialize(nullptr);
    owns_init_ = rv == CKR_OK;
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) return;
    CK_ULONG n = 16;
    std::vector<CK_SLOT_ID> slots(n);
    if (f_->C_GetSlotList(CK_TRUE, slots.data(), &n) != CKR_OK) return;
    for (CK_ULONG i = 0; i < n; ++i) {
      CK_TOKEN_INFO info{};
      if (f_->C_GetTokenInfo(slots[i], &info) != CKR_OK) continue;
      std::string label(reinterpret_cast<char*>(info.label), sizeof(info.label));
      label.erase(label.find_last_not_of(' ') + 1);
      if (label == kToken) {
        if (f_->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr,
                              &session_) != CKR_OK) {
          return;
        }
        CK_RV login = f_->C_Login(session_, CKU_USER,
                                  reinterpret_cast<CK_UTF8CHAR*>(const_cast<char*>(kPin)), 4);
        ok_ = login == CKR_OK || login == CKR_USER_ALREADY_LOGGED_IN;
        return;
      }
    }
  }
  ~RawClient() {
    if (f_ != nullptr && session_ != CK_INVALID_HANDLE) f_->C_CloseSession(session_);
    if (owns_init_) f_->C_Finalize(nullptr);
  }
  bool ok() const { return ok_; }
  CK_FUNCTION_LIST* f() const { return f_; }
  CK_SESSION_HANDLE session() const { return session_; }

  CK_OBJECT_HANDLE FindKey(const std::string& label) {
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    std::string l = label;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_LABEL, l.data(), l.size()}};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    CK_ULONG n = 0;
    f_->C_FindObjectsInit(session_, tmpl, 2);
    f_->C_FindObjects(session_, &h, 1, &n);
    f_->C_FindObjectsFinal(session_);
    return n == 1 ? h : CK_INVALID_HANDLE;
  }

  CK_RV GenerateAes(const std::string& label, bool token, bool extractable, bool sensitive,
                    CK_OBJECT_HANDLE* out) {
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ULONG len = 32;
    CK_BBOOL t = CK_TRUE, tok = token ? CK_TRUE : CK_FALSE, ext = extractable ? CK_TRUE : CK_FALSE,
             sens = sensitive ? CK_TRUE : CK_FALSE;
    std::string l = label;
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &cls, sizeof(cls)},    {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_LABEL, l.data(), l.size()},
        {CKA_TOKEN, &tok, 1},              {CKA_PRIVATE, &t, 1},
        {CKA_EXTRACTABLE, &ext, 1},        {CKA_SENSITIVE, &sens, 1},
        {CKA_WRAP, &t, 1},                 {CKA_UNWRAP, &t, 1},
    };
    CK_MECHANISM mech{CKM_AES_KEY_GEN, nullptr, 0};
    return f_->C_GenerateKey(session_, &mech, tmpl, std::size(tmpl), out);
  }

 private:
  CK_FUNCTION_LIST* f_ = nullptr;
  CK_SESSION_HANDLE session_ = CK_INVALID_HANDLE;
  bool owns_init_ = false;
  bool ok_ = false;
};

class Pkcs11StoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    module_ = new std::string(FindModule());
    std::string tmpl = (fs::temp_directory_path() / "rp-softhsm-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) return;
    base_ = new fs::path(tmpl);
    fs::create_directory(*base_ / "tokens");
    WriteFile(*base_ / "softhsm2.conf",
              absl::StrCat("directories.tokendir = ", (*base_ / "tokens").string(),
                           "\nobjectstore.backend = file\nlog.level = ERROR\n"),
              0600);
    ::setenv("SOFTHSM2_CONF", (*base_ / "softhsm2.conf").c_str(), 1);
    WriteFile(*base_ / "pin", absl::StrCat(kPin, "\n"), 0600);
    std::string cmd = absl::StrCat("softhsm2-util --init-token --free --label ", kToken,
                                   " --pin ", kPin, " --so-pin 5678 >", (*base_ / "init.log").string(),
                                   " 2>&1");
    if (std::system(cmd.c_str()) != 0) {
      *init_error_ = absl::StrCat("`", cmd, "` failed: ", ReadAll(*base_ / "init.log"));
      return;
    }
    absl::Status key = Pkcs11Store::GenerateWrappingKey(Config());
    if (!key.ok()) {
      *init_error_ = absl::StrCat("GenerateWrappingKey: ", key.ToString());
      return;
    }
    ready_ = true;
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    if (base_ != nullptr) fs::remove_all(*base_, ec);
  }

  void SetUp() override {
    ASSERT_FALSE(module_->empty()) << "libsofthsm2.so not found: run scripts/install_deps.sh "
                                      "(Debian package softhsm2) or set RP_SOFTHSM2_MODULE";
    ASSERT_TRUE(ready_) << *init_error_;
    dir_ = *base_ / absl::StrCat("records-", ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  static Pkcs11Config Config() {
    return Pkcs11Config{.module = *module_, .token_label = kToken,
                        .pin_file = (*base_ / "pin").string(), .key_label = kKey};
  }
  std::unique_ptr<Pkcs11Store> Open(const Pkcs11Config& config) {
    auto store = Pkcs11Store::Create(config, dir_.string());
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }
  fs::path RecordPath(std::string_view resource) const { return dir_ / std::string(resource); }

  static std::string* module_;
  static fs::path* base_;
  static std::string* init_error_;
  static bool ready_;
  fs::path dir_;
};
std::string* Pkcs11StoreTest::module_ = nullptr;
fs::path* Pkcs11StoreTest::base_ = nullptr;
std::string* Pkcs11StoreTest::init_error_ = new std::string("fixture did not run");
bool Pkcs11StoreTest::ready_ = false;

TEST_F(Pkcs11StoreTest, PutGetListRemove) {
  auto store = Open(Config());
  ASSERT_NE(store, nullptr);
  std::vector<uint8_t> one = {0x42};
  std::vector<uint8_t> model = RandomBytes(32, 1);
  std::vector<uint8_t> max = RandomBytes(kMaxSecretBytes, 2);
  ASSERT_TRUE(store->Put("kms/model-key/v1", model).ok());
  ASSERT_TRUE(store->Put("kms/tiny/v1", one).ok());
  ASSERT_TRUE(store->Put("kms/big/v1", max).ok());
  for (const auto& [name, want] : {std::pair{"kms/model-key/v1", &model},
                                   std::pair{"kms/tiny/v1", &one}, std::pair{"kms/big/v1", &max}}) {
    auto got = store->Get(name);
    ASSERT_TRUE(got.ok()) << name << ": " << got.status();
    EXPECT_EQ(Str(got->span()), Str(*want)) << name;
  }
  EXPECT_THAT(*store->List(), ElementsAre("kms/big/v1", "kms/model-key/v1", "kms/tiny/v1"));
  std::vector<uint8_t> too_big(kMaxSecretBytes + 1, 1);
  EXPECT_TRUE(absl::IsInvalidArgument(store->Put("kms/big/v1", too_big)));
  EXPECT_TRUE(absl::IsInvalidArgument(store->Put("kms/empty/v1", {})));
  EXPECT_TRUE(absl::IsInvalidArgument(store->Put("kms/../v1", one)));
  EXPECT_TRUE(absl::IsInvalidArgument(store->Get("kms/big").status()));

  // Replacing makes a new envelope (fresh data key and IV).
  std::string first = ReadAll(RecordPath("kms/model-key/v1"));
  ASSERT_TRUE(store->Put("kms/model-key/v1", model).ok());
  EXPECT_NE(ReadAll(RecordPath("kms/model-key/v1")), first);
  EXPECT_EQ(Str(store->Get("kms/model-key/v1")->span()), Str(model));

  ASSERT_TRUE(store->Remove("kms/model-key/v1").ok());
  EXPECT_TRUE(absl::IsNotFound(store->Get("kms/model-key/v1").status()));
  EXPECT_TRUE(absl::IsNotFound(store->Remove("kms/model-key/v1")));
  EXPECT_TRUE(absl::IsNotFound(store->Get("no/such/resource").status()));
}

TEST_F(Pkcs11StoreTest, RecordHoldsNoPlaintext) {
  auto store = Open(Config());
  ASSERT_NE(store, nullptr);
  std::vector<uint8_t> secret = RandomBytes(4096, 7);
  std::string ascii = "PLAINTEXT-MARKER-do-not-store-me-in-the-clear";
  ASSERT_TRUE(store->Put("kms/model-key/v1", secret).ok());
  ASSERT_TRUE(store->Put("kms/ascii/v1", std::span<const uint8_t>(
                                             reinterpret_cast<const uint8_t*>(ascii.data()),
                                             ascii.size()))
                  .ok());
  std::string record = ReadAll(RecordPath("kms/model-key/v1"));
  EXPECT_EQ(record.substr(0, 4), "RPSE");
  EXPECT_LE(record.size(), secret.size() + kPkcs11RecordOverheadBytes);
  // No 8-byte window of the secret appears anywhere in the record.
  std::string s = Str(secret);
  for (size_t i = 0; i + 8 <= s.size(); i += 8) {
    ASSERT_EQ(record.find(s.substr(i, 8)), std::string::npos) << "window at " << i;
  }
  std::string ascii_record = ReadAll(RecordPath("kms/ascii/v1"));
  EXPECT_EQ(ascii_record.find("PLAINTEXT"), std::string::npos);
  EXPECT_EQ(ascii_record.find("clear"), std::string::npos);

  struct stat st {};
  ASSERT_EQ(::stat(RecordPath("kms/model-key/v1").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(::stat((dir_ / "kms").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
}

TEST_F(Pkcs11StoreTest, WrappingKeyCannotLeaveTheHsm) {
  auto store = Open(Config());  // keeps the module initialised and logged in
  ASSERT_NE(store, nullptr);
  RawClient raw(*module_);
  ASSERT_TRUE(raw.ok());
  CK_OBJECT_HANDLE key = raw.FindKey(kKey);
  ASSERT_NE(key, CK_INVALID_HANDLE);

  // The value cannot be read...
  std::vector<uint8_t> value(64);
  CK_ATTRIBUTE value_attr = {CKA_VALUE, value.data(), value.size()};
  EXPECT_EQ(raw.f()->C_GetAttributeValue(raw.session(), key, &value_attr, 1),
            CKR_ATTRIBUTE_SENSITIVE);
  EXPECT_EQ(value_attr.ulValueLen, CK_UNAVAILABLE_INFORMATION);

  // ...the attributes say so and cannot be changed...
  CK_BBOOL extractable = CK_TRUE, never_extractable = CK_FALSE, sensitive = CK_FALSE,
           modifiable = CK_TRUE;
  CK_ATTRIBUTE attrs[] = {{CKA_EXTRACTABLE, &extractable, 1},
                          {CKA_NEVER_EXTRACTABLE, &never_extractable, 1},
                          {CKA_SENSITIVE, &sensitive, 1},
                          {CKA_MODIFIABLE, &modifiable, 1}};
  ASSERT_EQ(raw.f()->C_GetAttributeValue(raw.session(), key, attrs, 4), CKR_OK);
  EXPECT_EQ(extractable, CK_FALSE);
  EXPECT_EQ(never_extractable, CK_TRUE);
  EXPECT_EQ(sensitive, CK_TRUE);
  EXPECT_EQ(modifiable, CK_FALSE);
  CK_BBOOL t = CK_TRUE;
  CK_ATTRIBUTE make_extractable = {CKA_EXTRACTABLE, &t, 1};
  EXPECT_NE(raw.f()->C_SetAttributeValue(raw.session(), key, &make_extractable, 1), CKR_OK);

  // ...and it cannot be wrapped out under a key we hold.
  CK_OBJECT_HANDLE ours = CK_INVALID_HANDLE;
  ASSERT_EQ(raw.GenerateAes("test-kek", /*token=*/false, /*extractable=*/true,
                            /*sensitive=*/false, &ours),
            CKR_OK);
  CK_MECHANISM wrap{CKM_AES_KEY_WRAP_PAD, nullptr, 0};
  std::vector<uint8_t> out(128);
  CK_ULONG out_len = out.size();
  EXPECT_EQ(raw.f()->C_WrapKey(raw.session(), &wrap, ours, key, out.data(), &out_len),
            CKR_KEY_UNEXTRACTABLE);
  raw.f()->C_DestroyObject(raw.session(), ours);
}

TEST_F(Pkcs11StoreTest, RefusesAWrappingKeyThatCouldLeaveTheHsm) {
  {
    RawClient raw(*module_);
    ASSERT_TRUE(raw.ok());
    CK_OBJECT_HANDLE h;
    ASSERT_EQ(raw.GenerateAes("extractable-key", true, /*extractable=*/true, true, &h), CKR_OK);
    ASSERT_EQ(raw.GenerateAes("plain-key", true, /*extractable=*/false, /*sensitive=*/false, &h),
              CKR_OK);
  }  // finalised: the store initialises the module afresh
  Pkcs11Config config = Config();
  config.key_label = "extractable-key";
  auto store = Pkcs11Store::Create(config, dir_.string());
  ASSERT_TRUE(absl::IsFailedPrecondition(store.status())) << store.status();
  EXPECT_THAT(store.status().message(), HasSubstr("CKA_EXTRACTABLE is true"));
  config.key_label = "plain-key";
  store = Pkcs11Store::Create(config, dir_.string());
  ASSERT_TRUE(absl::IsFailedPrecondition(store.status())) << store.status();
  EXPECT_THAT(store.status().message(), HasSubstr("CKA_SENSITIVE is false"));
  config.key_label = "no-such-key";
  store = Pkcs11Store::Create(config, dir_.string());
  ASSERT_TRUE(absl::IsFailedPrecondition(store.status())) << store.status();
  EXPECT_THAT(store.status().message(), HasSubstr("init-key"));

  // Making the key again is refused rather than shadowing the first one.
  EXPECT_TRUE(absl::IsAlreadyExists(Pkcs11Store::GenerateWrappingKey(Config())));
}

TEST_F(Pkcs11StoreTest, TamperedOrMovedRecordsAreDataLoss) {
  auto store = Open(Config());
  ASSERT_NE(store, nullptr);
  std::vector<uint8_t> secret = RandomBytes(100, 3);
  ASSERT_TRUE(store->Put("kms/a/v1", secret).ok());
  const std::string good = ReadAll(RecordPath("kms/a/v1"));
  // Malformed records are caught by the parser (DATA_LOSS).
  auto expect_data_loss = [&](const std::string& record, const char* what) {
    WriteFile(RecordPath("kms/a/v1"), record, 0600);
    auto got = store->Get("kms/a/v1");
    EXPECT_TRUE(absl::IsDataLoss(got.status())) << what << ": " << got.status();
    EXPECT_THAT(got.status().message(), Not(HasSubstr(Str(secret))));
  };
  // Well-formed records that fail the HSM's integrity checks (RFC 5649 for
  // the wrapped key, the GCM tag for the rest) are refused by the HSM. The
  // code is the module's: DATA_LOSS for CKR_ENCRYPTED_DATA_INVALID and
  // friends, UNAVAILABLE for SoftHSM2's CKR_GENERAL_ERROR, which cannot be
  // told from a fault. Either way: no value, the failing call named.
  auto expect_hsm_refusal = [&](const std::string& record, const char* what, const char* call) {
    WriteFile(RecordPath("kms/a/v1"), record, 0600);
    auto got = store->Get("kms/a/v1");
    EXPECT_FALSE(got.ok()) << what;
    EXPECT_TRUE(absl::IsDataLoss(got.status()) || absl::IsUnavailable(got.status()))
        << what << ": " << got.status();
    EXPECT_THAT(got.status().message(), HasSubstr(call)) << what;
    EXPECT_THAT(got.status().message(), Not(HasSubstr(Str(secret))));
  };
  // Layout: magic 4 | version 1 | mech 4 | wrapped len 2 | wrapped 40 | iv len 1 | iv 12 | ct len 4 | ct
  const size_t wrapped_at = 11, iv_at = 11 + 40 + 1, ct_at = iv_at + 12 + 4;
  ASSERT_EQ(good.size(), ct_at + secret.size() + 16);
  auto flip = [&](size_t offset) {
    std::string bad = good;
    bad[offset] = static_cast<char>(bad[offset] ^ 0x01);
    return bad;
  };
  for (const auto& [offset, what] : {std::pair<size_t, const char*>{0, "magic"},
                                     {4, "version"}, {8, "mechanism"}}) {
    expect_data_loss(flip(offset), what);
  }
  expect_hsm_refusal(flip(wrapped_at + 5), "wrapped key", "C_UnwrapKey");
  expect_hsm_refusal(flip(iv_at + 3), "IV", "C_Decrypt");
  expect_hsm_refusal(flip(ct_at + 7), "ciphertext", "C_Decrypt");
  expect_hsm_refusal(flip(good.size() - 1), "tag", "C_Decrypt");
  expect_data_loss(good.substr(0, good.size() - 1), "truncated");
  expect_data_loss(good + "x", "trailing byte");
  expect_data_loss("just some plaintext", "not a record");

  // A valid record copied to another resource's path fails (AAD binds the
  // name), and the original still decrypts.
  WriteFile(RecordPath("kms/a/v1"), good, 0600);
  ASSERT_TRUE(store->Put("kms/b/v1", RandomBytes(10, 4)).ok());
  WriteFile(RecordPath("kms/b/v1"), good, 0600);
  auto moved = store->Get("kms/b/v1");
  EXPECT_FALSE(moved.ok());
  EXPECT_THAT(moved.status().message(), HasSubstr("C_Decrypt"));
  EXPECT_EQ(Str(store->Get("kms/a/v1")->span()), Str(secret));

  // File rules of the record layer apply.
  ::chmod(RecordPath("kms/a/v1").c_str(), 0644);
  EXPECT_TRUE(absl::IsFailedPrecondition(store->Get("kms/a/v1").status()));
}

TEST_F(Pkcs11StoreTest, RecordsUnderAnotherWrappingKeyDoNotOpen) {
  {
    Pkcs11Config other = Config();
    other.key_label = "rp-wrap-other";
    ASSERT_TRUE(Pkcs11Store::GenerateWrappingKey(other).ok());
  }
  auto store = Open(Config());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Put("kms/a/v1", RandomBytes(50, 5)).ok());
  Pkcs11Config other = Config();
  other.key_label = "rp-wrap-other";
  auto store2 = Open(other);
  ASSERT_NE(store2, nullptr);
  auto got = store2->Get("kms/a/v1");
  EXPECT_FALSE(got.ok());
  EXPECT_TRUE(absl::IsDataLoss(got.status()) || absl::IsUnavailable(got.status())) << got.status();
  EXPECT_THAT(got.status().message(), HasSubstr("C_UnwrapKey"));
  EXPECT_TRUE(store->Get("kms/a/v1").ok());
}

TEST_F(Pkcs11StoreTest, HsmUnavailableIsUnavailable) {
  struct Case {
    const char* name;
    Pkcs11Config config;
    const char* want;
  };
  Pkcs11Config wrong_module = Config();
  wrong_module.module = "/nonexistent/libsofthsm2.so";
  Pkcs11Config not_a_module = Config();
  not_a_module.module = "libcrypto.so.3";  // a real shared object without C_GetFunctionList
  Pkcs11Config no_token = Config();
  no_token.token_label = "no-such-token";
  Pkcs11Config wrong_pin = Config();
  wrong_pin.pin_file = (*base_ / "wrong.pin").string();
  WriteFile(wrong_pin.pin_file, "0000\n", 0600);
  for (const Case& c : {Case{"wrong module path", wrong_module, "cannot load module"},
                        Case{"not a PKCS#11 module", not_a_module, "C_GetFunctionList"},
                        Case{"token missing", no_token, "no token labelled 'no-such-token'"},
                        Case{"wrong PIN", wrong_pin, "CKR_PIN_INCORRECT"}}) {
    auto store = Pkcs11Store::Create(c.config, dir_.string());
    ASSERT_TRUE(absl::IsUnavailable(store.status())) << c.name << ": " << store.status();
    EXPECT_THAT(store.status().message(), HasSubstr(c.want)) << c.name;
    EXPECT_THAT(store.status().message(), Not(HasSubstr("0000"))) << c.name;
  }

  // A wrong PIN does not ride on another store's login to the same token.
  auto good = Open(Config());
  ASSERT_NE(good, nullptr);
  auto bad = Pkcs11Store::Create(wrong_pin, dir_.string());
  ASSERT_TRUE(absl::IsUnavailable(bad.status())) << bad.status();
  EXPECT_THAT(bad.status().message(), HasSubstr("CKR_PIN_INCORRECT"));
}

TEST_F(Pkcs11StoreTest, PinFileMustBePrivate) {
  Pkcs11Config config = Config();
  config.pin_file = (*base_ / "open.pin").string();
  WriteFile(config.pin_file, kPin, 0644);
  auto store = Pkcs11Store::Create(config, dir_.string());
  ASSERT_TRUE(absl::IsFailedPrecondition(store.status())) << store.status();
  EXPECT_THAT(store.status().message(), HasSubstr("0644"));
  config.pin_file = (*base_ / "missing.pin").string();
  store = Pkcs11Store::Create(config, dir_.string());
  EXPECT_TRUE(absl::IsFailedPrecondition(store.status())) << store.status();
  config.pin_file = (*base_ / "empty.pin").string();
  WriteFile(config.pin_file, "\n", 0600);
  store = Pkcs11Store::Create(config, dir_.string());
  EXPECT_TRUE(absl::IsFailedPrecondition(store.status())) << store.status();
}

// The token disappears while the store is running (its files are gone, as
// when an HSM is unplugged or its storage fails): Get reports UNAVAILABLE
// and returns nothing.
TEST_F(Pkcs11StoreTest, HsmGoneAtReleaseTimeIsUnavailableAndLeaksNothing) {
  auto store = Open(Config());
  ASSERT_NE(store, nullptr);
  std::vector<uint8_t> secret = RandomBytes(64, 9);
  ASSERT_TRUE(store->Put("kms/a/v1", secret).ok());
  ASSERT_TRUE(store->Get("kms/a/v1").ok());
  fs::path tokens = *base_ / "tokens", moved = *base_ / "tokens-away";
  fs::rename(tokens, moved);
  fs::create_directory(tokens);
  auto got = store->Get("kms/a/v1");
  EXPECT_FALSE(got.ok());
  EXPECT_TRUE(absl::IsUnavailable(got.status())) << got.status();
  EXPECT_THAT(got.status().message(), HasSubstr("CKR_"));
  EXPECT_THAT(got.status().message(), Not(HasSubstr(absl::BytesToHexString(Str(secret)))));
  EXPECT_TRUE(absl::IsUnavailable(store->Put("kms/b/v1", secret))) << "put while gone";
  fs::remove(tokens);
  fs::rename(moved, tokens);
}

TEST_F(Pkcs11StoreTest, ConcurrentGets) {
  auto store = Open(Config());
  ASSERT_NE(store, nullptr);
  std::vector<std::vector<uint8_t>> secrets;
  for (int i = 0; i < 3; ++i) {
    secrets.push_back(RandomBytes(40 + i, 100 + i));
    ASSERT_TRUE(store->Put(absl::StrCat("kms/k", i, "/v1"), secrets.back()).ok());
  }
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        int k = (t + i) % 3;
        auto got = store->Get(absl::StrCat("kms/k", k, "/v1"));
        if (!got.ok() || Str(got->span()) != Str(secrets[k])) ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST_F(Pkcs11StoreTest, DescribeNamesTheBackendButNotThePin) {
  auto store = Open(Config());
  ASSERT_NE(store, nullptr);
  std::string d = store->Describe();
  EXPECT_THAT(d, HasSubstr("pkcs11 token 'rp-test' key 'rp-wrap'"));
  EXPECT_THAT(d, HasSubstr("CKM_AES_KEY_WRAP_PAD"));
  EXPECT_THAT(d, Not(HasSubstr(kPin)));
}

}  // namespace
}  // namespace rp::release
