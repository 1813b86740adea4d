#include "release/secret_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "release/secret_bytes.h"

namespace rp::release {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

TEST(ResourceNameTest, AcceptsKbsStyleNames) {
  for (const std::string& name : std::vector<std::string>{"kms/model-key/v1", "default/key/1", "a/b/c", "A.b_c-9/x.y/Z_-.",
                           std::string(64, 'r') + "/" + std::string(64, 't') + "/" +
                               std::string(64, 'g')}) {
    EXPECT_TRUE(IsValidResourceName(name)) << name;
  }
  EXPECT_EQ(kMaxResourceNameBytes, 194u);
}

TEST(ResourceNameTest, RejectsEverythingElse) {
  for (const std::string& name : std::vector<std::string>{"", "/", "//", "a/b", "a/b/c/d", "a//c", "/a/b", "a/b/", "..", "../a/b",
                           "a/./c", "a/b/..", ".a/b/c", "a/b/.c", "a b/c/d", "a/b/c%2f",
                           "a\\b/c/d", "a/b/c\t", std::string(65, 'r') + "/t/g",
                           "a/b/" + std::string(65, 'g'), std::string("a/\0/c", 5)}) {
    EXPECT_FALSE(IsValidResourceName(name)) << name;
  }
}

TEST(SecretBytesTest, MoveLeavesSourceEmptyAndTruncateShrinks) {
  SecretBytes a(std::vector<uint8_t>{1, 2, 3, 4});
  SecretBytes b = std::move(a);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the contract under test
  ASSERT_EQ(b.size(), 4u);
  b.Truncate(2);
  EXPECT_EQ(b.size(), 2u);
  EXPECT_EQ(b.data()[1], 2);
  b.Truncate(9);
  EXPECT_EQ(b.size(), 2u);
  SecretBytes c = SecretBytes::Zeroed(3);
  c = std::move(b);
  EXPECT_EQ(c.size(), 2u);
  c.Wipe();
  EXPECT_TRUE(c.empty());
}

TEST(StoreConfigTest, ParsesPkcs11BlockAndResolvesRelativePaths) {
  auto c = ParseSecretStoreConfig(R"(
type: pkcs11
dir: records
pkcs11:
  module: /usr/lib/softhsm/libsofthsm2.so
  token_label: rp-release
  pin_file: hsm.pin
  key_label: rp-release-wrap
)",
                                  "store.yaml", "/etc/rp");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->type, "pkcs11");
  EXPECT_EQ(c->dir, "/etc/rp/records");
  EXPECT_EQ(c->pkcs11.module, "/usr/lib/softhsm/libsofthsm2.so");
  EXPECT_EQ(c->pkcs11.token_label, "rp-release");
  EXPECT_EQ(c->pkcs11.pin_file, "/etc/rp/hsm.pin");
  EXPECT_EQ(c->pkcs11.key_label, "rp-release-wrap");

  // JSON works too; a bare module name is left to the loader's search path.
  auto j = ParseSecretStoreConfig(
      R"({"dir": "/d", "pkcs11": {"module": "libsofthsm2.so", "token_label": "t",
          "pin_file": "/p", "key_label": "k"}})",
      "store.json", "/etc/rp", "pkcs11");
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(j->type, "pkcs11");
  EXPECT_EQ(j->pkcs11.module, "libsofthsm2.so");
}

TEST(StoreConfigTest, RejectsBadBlocks) {
  struct Case {
    const char* text;
    const char* want;
  } cases[] = {
      {"type: pkcs11\ndir: d\npkcs11: {module: m, token_label: t, pin_file: p}\n",
       "pkcs11.key_label is required"},
      {"type: pkcs11\ndir: d\npkcs11: {module: m, token_label: t, pin_file: p, key_label: k, "
       "slot: 0}\n",
       "unknown field pkcs11.slot"},
      {"type: vault\ndir: d\n", "type must be"},
      {"type: directory\n", "dir is required"},
      {"type: directory\ndir: d\npin: 1234\n", "unknown field pin"},
      {"type: directory\ndir: d\npkcs11: {module: m}\n", "pkcs11 settings given"},
      {"type: directory\ndir: [a, b]\n", "dir must be a string"},
      {"- a\n- b\n", "must be a mapping"},
      {"type: [unclosed\n", "store.yaml"},
  };
  for (const Case& c : cases) {
    auto got = ParseSecretStoreConfig(c.text, "store.yaml", "");
    ASSERT_FALSE(got.ok()) << c.text;
    EXPECT_TRUE(absl::IsInvalidArgument(got.status()));
    EXPECT_THAT(got.status().message(), HasSubstr(c.want)) << c.text;
  }
  auto wrong_type = ParseSecretStoreConfig("type: directory\ndir: d\n", "f", "", "pkcs11");
  EXPECT_THAT(wrong_type.status().message(), HasSubstr("want 'pkcs11'"));
}

TEST(StoreConfigTest, OpensADirectoryStore) {
  std::string tmpl = (fs::temp_directory_path() / "rp-storecfg-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  auto c = ParseSecretStoreConfig("type: directory\ndir: s\n", "f", tmpl);
  ASSERT_TRUE(c.ok()) << c.status();
  auto store = OpenSecretStore(*c);
  ASSERT_TRUE(store.ok()) << store.status();
  std::vector<uint8_t> v = {1, 2, 3};
  ASSERT_TRUE((*store)->Put("a/b/c", v).ok());
  EXPECT_EQ((*store)->Get("a/b/c")->size(), 3u);
  EXPECT_THAT((*store)->Describe(), HasSubstr(tmpl));
  std::error_code ec;
  fs::remove_all(tmpl, ec);
}

}  // namespace
}  // namespace rp::release
