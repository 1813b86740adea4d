// attestctl resource put|ls|rm|init-key, run as the real binary, against a
// directory store and a SoftHSM2 token the test initialises itself. Checks
// that no secret ever appears on stdout or stderr.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "release/secret_store.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "s3cr3t-model-key-DO-NOT-PRINT";

struct CmdRun {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

CmdRun Attestctl(const std::string& args, const std::string& stdin_file = "") {
  std::string cmd = absl::StrCat(ATTESTCTL_PATH, " ", args, " 2>&1");
  if (!stdin_file.empty()) cmd += " <" + stdin_file;
  CmdRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  int st = pclose(p);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void WriteFile(const fs::path& p, const std::string& content, mode_t mode) {
  {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << content;
  }
  ::chmod(p.c_str(), mode);
}

std::string FindSoftHsm() {
  if (const char* env = std::getenv("RP_SOFTHSM2_MODULE")) return env;
  for (const char* p : {"/usr/lib/softhsm/libsofthsm2.so",
                        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                        "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"}) {
    if (fs::exists(p)) return p;
  }
  return "";
}

class ResourceCmdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "rp-resource-cli-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    WriteFile(dir_ / "secret.bin", kSecret, 0600);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
};

TEST_F(ResourceCmdTest, DirectoryStorePutLsRm) {
  const std::string store = "--store-dir " + (dir_ / "store").string();
  CmdRun put = Attestctl(absl::StrCat("resource put kms/model-key/v1 --in ",
                                   (dir_ / "secret.bin").string(), " ", store));
  ASSERT_EQ(put.exit_code, 0) << put.output;
  EXPECT_THAT(put.output, HasSubstr("stored kms/model-key/v1 (29 bytes)"));
  EXPECT_THAT(put.output, Not(HasSubstr(kSecret)));
  EXPECT_EQ(ReadAll(dir_ / "store/kms/model-key/v1"), kSecret);
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "store/kms/model-key/v1").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);

  // From stdin too.
  CmdRun put2 = Attestctl(absl::StrCat("resource put kms/other/v1 --in - ", store),
                       (dir_ / "secret.bin").string());
  ASSERT_EQ(put2.exit_code, 0) << put2.output;

  CmdRun ls = Attestctl("resource ls " + store);
  ASSERT_EQ(ls.exit_code, 0) << ls.output;
  EXPECT_EQ(ls.output, "kms/model-key/v1\nkms/other/v1\n");

  CmdRun rm = Attestctl("resource rm kms/model-key/v1 " + store);
  ASSERT_EQ(rm.exit_code, 0) << rm.output;
  EXPECT_EQ(Attestctl("resource ls " + store).output, "kms/other/v1\n");
  CmdRun again = Attestctl("resource rm kms/model-key/v1 " + store);
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_THAT(again.output, HasSubstr("NOT_FOUND"));
}

TEST_F(ResourceCmdTest, RefusesBadInvocations) {
  const std::string store = "--store-dir " + (dir_ / "store").string();
  const std::string in = "--in " + (dir_ / "secret.bin").string();
  for (const std::string& args :
       {absl::StrCat("resource put ../etc/passwd ", in, " ", store),
        absl::StrCat("resource put kms/a ", in, " ", store),
        absl::StrCat("resource put kms/a/b ", store),                     // no --in
        absl::StrCat("resource put kms/a/b ", in),                        // no store
        absl::StrCat("resource put kms/a/b ", in, " ", store, " --pkcs11-config x.yaml"),
        absl::StrCat("resource ls kms/a/b ", store),                      // ls takes no name
        absl::StrCat("resource get kms/a/b ", store),                     // there is no get
        absl::StrCat("resource init-key ", store),                        // needs pkcs11
        absl::StrCat("resource put kms/a/b --in ", (dir_ / "missing").string(), " ", store)}) {
    CmdRun r = Attestctl(args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
    EXPECT_THAT(r.output, Not(HasSubstr(kSecret))) << args;
  }
  WriteFile(dir_ / "empty.bin", "", 0600);
  EXPECT_EQ(Attestctl(absl::StrCat("resource put kms/a/b --in ", (dir_ / "empty.bin").string(),
                                   " ", store))
                .exit_code,
            2);
  WriteFile(dir_ / "big.bin", std::string(rp::release::kMaxSecretBytes + 1, 'x'), 0600);
  EXPECT_EQ(Attestctl(absl::StrCat("resource put kms/a/b --in ", (dir_ / "big.bin").string(),
                                   " ", store))
                .exit_code,
            2);
  EXPECT_FALSE(fs::exists(dir_ / "store/kms/a/b"));
}

TEST_F(ResourceCmdTest, Pkcs11StoreInitKeyPutLsRm) {
  const std::string module = FindSoftHsm();
  ASSERT_FALSE(module.empty()) << "softhsm2 not installed (scripts/install_deps.sh)";
  fs::create_directory(dir_ / "tokens");
  WriteFile(dir_ / "softhsm2.conf",
            absl::StrCat("directories.tokendir = ", (dir_ / "tokens").string(),
                         "\nobjectstore.backend = file\nlog.level = ERROR\n"),
            0600);
  ::setenv("SOFTHSM2_CONF", (dir_ / "softhsm2.conf").c_str(), 1);  // inherited by attestctl
  std::string init = absl::StrCat(
      "softhsm2-util --init-token --free --label rp-cli --pin 4321 --so-pin 8765 >/dev/null 2>&1");
  ASSERT_EQ(std::system(init.c_str()), 0) << init;
  WriteFile(dir_ / "hsm.pin", "4321\n", 0600);
  WriteFile(dir_ / "store.yaml",
            absl::StrCat("dir: records\npkcs11:\n  module: ", module,
                         "\n  token_label: rp-cli\n  pin_file: hsm.pin\n  key_label: rp-wrap\n"),
            0600);
  const std::string store = "--pkcs11-config " + (dir_ / "store.yaml").string();

  // Before the key exists the store refuses to open, and says how to fix it.
  CmdRun early = Attestctl("resource ls " + store);
  EXPECT_EQ(early.exit_code, 2);
  EXPECT_THAT(early.output, HasSubstr("init-key"));

  CmdRun init_key = Attestctl("resource init-key " + store);
  ASSERT_EQ(init_key.exit_code, 0) << init_key.output;
  EXPECT_THAT(init_key.output, HasSubstr("non-extractable"));
  CmdRun twice = Attestctl("resource init-key " + store);
  EXPECT_EQ(twice.exit_code, 2);
  EXPECT_THAT(twice.output, HasSubstr("ALREADY_EXISTS"));

  CmdRun put = Attestctl(absl::StrCat("resource put kms/model-key/v1 --in ",
                                   (dir_ / "secret.bin").string(), " ", store));
  ASSERT_EQ(put.exit_code, 0) << put.output;
  EXPECT_THAT(put.output, HasSubstr("pkcs11 token 'rp-cli' key 'rp-wrap'"));
  EXPECT_THAT(put.output, Not(HasSubstr(kSecret)));
  EXPECT_THAT(put.output, Not(HasSubstr("4321")));
  const std::string record = ReadAll(dir_ / "records/kms/model-key/v1");
  EXPECT_EQ(record.substr(0, 4), "RPSE");
  EXPECT_EQ(record.find("s3cr3t"), std::string::npos);

  CmdRun ls = Attestctl("resource ls " + store);
  ASSERT_EQ(ls.exit_code, 0) << ls.output;
  EXPECT_EQ(ls.output, "kms/model-key/v1\n");
  ASSERT_EQ(Attestctl("resource rm kms/model-key/v1 " + store).exit_code, 0);
  EXPECT_EQ(Attestctl("resource ls " + store).output, "");

  // Wrong PIN: UNAVAILABLE, exit 2, nothing written.
  WriteFile(dir_ / "hsm.pin", "0000\n", 0600);
  CmdRun bad = Attestctl(absl::StrCat("resource put kms/model-key/v2 --in ",
                                   (dir_ / "secret.bin").string(), " ", store));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.output, HasSubstr("UNAVAILABLE"));
  EXPECT_THAT(bad.output, HasSubstr("CKR_PIN_INCORRECT"));
  EXPECT_FALSE(fs::exists(dir_ / "records/kms/model-key/v2"));
  // A PIN file others can read is refused.
  WriteFile(dir_ / "hsm.pin", "4321\n", 0644);
  CmdRun open_pin = Attestctl("resource ls " + store);
  EXPECT_EQ(open_pin.exit_code, 2);
  EXPECT_THAT(open_pin.output, HasSubstr("0644"));
  ::unsetenv("SOFTHSM2_CONF");
}

}  // namespace
