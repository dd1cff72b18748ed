#include "crypto/keyring.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/temp_dir.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "core/bytes.h"
#include "core/fault_env.h"
#include "crypto/primitives.h"

namespace hygie::crypto {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kWrongKek[] = "wrong key-encryption key or passphrase";

using test_support::TempDir;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Replaces a file the way an editor or a restore would: new file, then rename.
void ReplaceFile(const std::string& path, std::string_view contents) {
  const std::string tmp = path + ".edit";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << contents;
  }
  ASSERT_EQ(::chmod(tmp.c_str(), 0600), 0);
  ASSERT_EQ(::rename(tmp.c_str(), path.c_str()), 0);
}

void EditJson(const std::string& path, const std::function<void(rapidjson::Document&)>& edit) {
  rapidjson::Document doc;
  const std::string text = ReadFile(path);
  doc.Parse(text.c_str());
  ASSERT_FALSE(doc.HasParseError());
  edit(doc);
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  doc.Accept(w);
  ReplaceFile(path, std::string_view(sb.GetString(), sb.GetSize()));
}

void WriteKeyFile(const std::string& path, const Bytes& bytes, mode_t mode) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  }
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

std::string Str(ByteView b) { return std::string(AsChars(b)); }

KekSource KeyFile(const std::string& path) {
  KekSource k;
  k.kind = KekSource::Kind::kKeyFile;
  k.key_file = path;
  return k;
}

KekSource Passphrase(const std::string& passphrase) {
  KekSource k;
  k.kind = KekSource::Kind::kPassphrase;
  k.passphrase = passphrase;
  k.scrypt.n = 1u << 14;  // small, to keep the tests fast
  k.scrypt.r = 8;
  k.scrypt.p = 1;
  return k;
}

class KeyringTest : public ::testing::Test {
 protected:
  std::string dir() const { return tmp_.Path("keyring"); }
  std::string key_file() const { return tmp_.Path("kek.key"); }
  std::string json() const { return tmp_.Path("keyring/keyring.json"); }

  std::unique_ptr<Keyring> CreateWithKeyFile() {
    auto k = Keyring::Create(dir(), KeyFile(key_file()));
    EXPECT_TRUE(k.ok()) << k.status().ToString();
    return k.ok() ? std::move(k).value() : nullptr;
  }
  std::unique_ptr<Keyring> OpenWithKeyFile() {
    auto k = Keyring::Open(dir(), KeyFile(key_file()));
    EXPECT_TRUE(k.ok()) << k.status().ToString();
    return k.ok() ? std::move(k).value() : nullptr;
  }

  TempDir tmp_;
};

TEST_F(KeyringTest, CreateWithKeyFileThenOpen) {
  auto ring = CreateWithKeyFile();
  ASSERT_NE(ring, nullptr);
  EXPECT_EQ(ModeOf(dir()), 0700u);
  EXPECT_EQ(ModeOf(key_file()), 0600u);
  EXPECT_EQ(ModeOf(json()), 0600u);
  EXPECT_EQ(ReadFile(key_file()).size(), 32u);
  EXPECT_TRUE(ring->Tenants().empty());

  ASSERT_TRUE(ring->AddTenant("acme").ok());
  auto keys = ring->Tenant("acme");
  ASSERT_TRUE(keys.ok());
  const TenantKeys& k = **keys;
  EXPECT_EQ(k.tenant(), "acme");
  EXPECT_EQ(k.active_data_key_id(), 1u);
  EXPECT_EQ(k.data_key_count(), 1u);
  EXPECT_EQ(k.active_data_key().size(), 32u);
  EXPECT_EQ(k.index_key().size(), 32u);
  EXPECT_EQ(k.audit_seed().size(), 32u);
  EXPECT_NE(Str(k.active_data_key().bytes()), Str(k.index_key().bytes()));
  EXPECT_NE(Str(k.index_key().bytes()), Str(k.audit_seed().bytes()));
  EXPECT_EQ(k.data_key(1), &k.active_data_key());
  EXPECT_EQ(k.data_key(2), nullptr);
  EXPECT_EQ(ModeOf(json()), 0600u);
  EXPECT_EQ(ModeOf(dir() + "/keyring.lock"), 0600u);

  auto reopened = OpenWithKeyFile();
  ASSERT_NE(reopened, nullptr);
  auto again = reopened->Tenant("acme");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(Str((*again)->active_data_key().bytes()), Str(k.active_data_key().bytes()));
  EXPECT_EQ(Str((*again)->index_key().bytes()), Str(k.index_key().bytes()));
  EXPECT_EQ(Str((*again)->audit_seed().bytes()), Str(k.audit_seed().bytes()));
}

TEST_F(KeyringTest, CreateWithPassphraseThenOpen) {
  auto ring = Keyring::Create(dir(), Passphrase("correct horse battery staple"));
  ASSERT_TRUE(ring.ok()) << ring.status().ToString();
  ASSERT_TRUE((*ring)->AddTenant("clinic-1").ok());
  auto keys = (*ring)->Tenant("clinic-1");
  ASSERT_TRUE(keys.ok());
  const std::string text = ReadFile(json());
  EXPECT_THAT(text, HasSubstr("scrypt"));
  EXPECT_THAT(text, HasSubstr("16384"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("correct horse")));

  // Open takes the scrypt parameters from disk, whatever the source says.
  KekSource source = Passphrase("correct horse battery staple");
  source.scrypt.n = 1u << 20;
  auto reopened = Keyring::Open(dir(), source);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  auto again = (*reopened)->Tenant("clinic-1");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(Str((*again)->index_key().bytes()), Str((*keys)->index_key().bytes()));

  auto wrong = Keyring::Open(dir(), Passphrase("correct horse battery stapler"));
  EXPECT_EQ(wrong.status().code(), Code::kPermissionDenied);
  EXPECT_THAT(wrong.status().message(), HasSubstr(kWrongKek));
  EXPECT_EQ(Keyring::Open(dir(), Passphrase("")).status().code(), Code::kInvalidArgument);
  // The keyring is passphrase-protected: a key file is the wrong kind of KEK.
  EXPECT_EQ(Keyring::Open(dir(), KeyFile(key_file())).status().code(), Code::kFailedPrecondition);
}

TEST_F(KeyringTest, CreateRefusesWeakOrAbsurdScryptParameters) {
  KekSource weak = Passphrase("pw");
  weak.scrypt.n = 1u << 10;
  EXPECT_EQ(Keyring::Create(dir(), weak).status().code(), Code::kInvalidArgument);
  KekSource odd = Passphrase("pw");
  odd.scrypt.n = (1u << 14) + 1;
  EXPECT_EQ(Keyring::Create(dir(), odd).status().code(), Code::kInvalidArgument);
  KekSource huge = Passphrase("pw");
  huge.scrypt.n = uint64_t{1} << 40;
  EXPECT_EQ(Keyring::Create(dir(), huge).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Keyring::Create(dir(), Passphrase("")).status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(dir()));
}

TEST_F(KeyringTest, WrongKeyFileIsPermissionDenied) {
  ASSERT_NE(CreateWithKeyFile(), nullptr);
  const std::string other = tmp_.Path("other.key");
  auto random = RandomBytes(32);
  ASSERT_TRUE(random.ok());
  WriteKeyFile(other, *random, 0600);
  auto wrong = Keyring::Open(dir(), KeyFile(other));
  EXPECT_EQ(wrong.status().code(), Code::kPermissionDenied);
  EXPECT_THAT(wrong.status().message(), HasSubstr(kWrongKek));
  // One flipped bit of the real key is just as wrong.
  Bytes flipped = ToBytes(ReadFile(key_file()));
  flipped[0] ^= 1;
  WriteKeyFile(other, flipped, 0600);
  EXPECT_EQ(Keyring::Open(dir(), KeyFile(other)).status().code(), Code::kPermissionDenied);
  EXPECT_EQ(Keyring::Open(dir(), Passphrase("x")).status().code(), Code::kFailedPrecondition);
}

TEST_F(KeyringTest, KeyFileAccessibleToGroupOrOthersIsRefused) {
  ASSERT_NE(CreateWithKeyFile(), nullptr);
  for (mode_t mode : {0644, 0640, 0604, 0660, 0606, 0610, 0601}) {
    ASSERT_EQ(::chmod(key_file().c_str(), mode), 0);
    auto r = Keyring::Open(dir(), KeyFile(key_file()));
    EXPECT_EQ(r.status().code(), Code::kFailedPrecondition) << std::oct << mode;
    EXPECT_THAT(r.status().message(), HasSubstr("chmod 600"));
  }
  ASSERT_EQ(::chmod(key_file().c_str(), 0400), 0);
  EXPECT_TRUE(Keyring::Open(dir(), KeyFile(key_file())).ok());
  ASSERT_EQ(::chmod(key_file().c_str(), 0600), 0);
  EXPECT_TRUE(Keyring::Open(dir(), KeyFile(key_file())).ok());
}

TEST_F(KeyringTest, KeyFileOfTheWrongSizeIsRefused) {
  ASSERT_NE(CreateWithKeyFile(), nullptr);
  const Bytes real = ToBytes(ReadFile(key_file()));
  const std::string other = tmp_.Path("sized.key");
  Bytes shorter(real.begin(), real.end() - 1);
  WriteKeyFile(other, shorter, 0600);
  EXPECT_EQ(Keyring::Open(dir(), KeyFile(other)).status().code(), Code::kFailedPrecondition);
  Bytes longer = real;
  longer.push_back('\n');
  WriteKeyFile(other, longer, 0600);
  EXPECT_EQ(Keyring::Open(dir(), KeyFile(other)).status().code(), Code::kFailedPrecondition);
  WriteKeyFile(other, {}, 0600);
  EXPECT_EQ(Keyring::Open(dir(), KeyFile(other)).status().code(), Code::kFailedPrecondition);
  EXPECT_FALSE(Keyring::Open(dir(), KeyFile(tmp_.Path("missing.key"))).ok());
}

TEST_F(KeyringTest, CreateNeverOverwrites) {
  auto ring = CreateWithKeyFile();
  ASSERT_NE(ring, nullptr);
  ASSERT_TRUE(ring->AddTenant("acme").ok());
  const std::string key_before = ReadFile(key_file());
  const std::string json_before = ReadFile(json());

  // Existing keyring directory, existing key file: both refused, nothing touched.
  EXPECT_EQ(Keyring::Create(dir(), KeyFile(tmp_.Path("new.key"))).status().code(),
            Code::kAlreadyExists);
  EXPECT_FALSE(std::filesystem::exists(tmp_.Path("new.key")));
  EXPECT_EQ(Keyring::Create(tmp_.Path("other-ring"), KeyFile(key_file())).status().code(),
            Code::kAlreadyExists);
  EXPECT_FALSE(std::filesystem::exists(tmp_.Path("other-ring")));
  EXPECT_EQ(ReadFile(key_file()), key_before);
  EXPECT_EQ(ReadFile(json()), json_before);
  auto reopened = OpenWithKeyFile();
  ASSERT_NE(reopened, nullptr);
  EXPECT_TRUE(reopened->HasTenant("acme"));

  // An existing empty directory is fine, and gets mode 0700.
  const std::string empty = tmp_.Path("empty");
  ASSERT_EQ(::mkdir(empty.c_str(), 0755), 0);
  EXPECT_TRUE(Keyring::Create(empty, KeyFile(tmp_.Path("empty.key"))).ok());
  EXPECT_EQ(ModeOf(empty), 0700u);
}

TEST_F(KeyringTest, TenantNamesAreValidated) {
  auto ring = CreateWithKeyFile();
  ASSERT_NE(ring, nullptr);
  for (std::string_view bad :
       {"", "a", "Acme", "acme_1", "acme.1", "../x", "a/b", "a|b", "acme ", "caf\xc3\xa9"}) {
    EXPECT_EQ(ring->AddTenant(bad).code(), Code::kInvalidArgument) << bad;
    EXPECT_EQ(ring->RotateDataKey(bad).status().code(), Code::kInvalidArgument) << bad;
  }
  EXPECT_EQ(ring->AddTenant(std::string(64, 'a')).code(), Code::kInvalidArgument);
  EXPECT_TRUE(ring->AddTenant(std::string(63, 'a')).ok());
  EXPECT_TRUE(ring->AddTenant("ab").ok());
  EXPECT_TRUE(ring->AddTenant("hopital-42").ok());
  EXPECT_EQ(ring->AddTenant("ab").code(), Code::kAlreadyExists);
  EXPECT_EQ(ring->RotateDataKey("nope").status().code(), Code::kNotFound);
  EXPECT_EQ(ring->Tenant("nope").status().code(), Code::kNotFound);
  EXPECT_FALSE(ring->HasTenant("nope"));
  EXPECT_THAT(ring->Tenants(), ElementsAre(std::string(63, 'a'), "ab", "hopital-42"));
}

TEST_F(KeyringTest, RotationKeepsOldKeysAndSnapshotsAreImmutable) {
  auto ring = CreateWithKeyFile();
  ASSERT_NE(ring, nullptr);
  ASSERT_TRUE(ring->AddTenant("acme").ok());
  auto before = ring->Tenant("acme");
  ASSERT_TRUE(before.ok());
  std::shared_ptr<const TenantKeys> old = *before;
  const std::string key1 = Str(old->active_data_key().bytes());

  auto id = ring->RotateDataKey("acme");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, 2u);
  auto id3 = ring->RotateDataKey("acme");
  ASSERT_TRUE(id3.ok());
  EXPECT_EQ(*id3, 3u);

  auto after = ring->Tenant("acme");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ((*after)->active_data_key_id(), 3u);
  EXPECT_EQ((*after)->data_key_count(), 3u);
  ASSERT_NE((*after)->data_key(1), nullptr);
  EXPECT_EQ(Str((*after)->data_key(1)->bytes()), key1);
  ASSERT_NE((*after)->data_key(2), nullptr);
  EXPECT_NE(Str((*after)->data_key(2)->bytes()), key1);
  EXPECT_NE(Str((*after)->data_key(3)->bytes()), Str((*after)->data_key(2)->bytes()));
  EXPECT_EQ(Str((*after)->index_key().bytes()), Str(old->index_key().bytes()));
  EXPECT_EQ(Str((*after)->audit_seed().bytes()), Str(old->audit_seed().bytes()));

  // The snapshot taken before the rotation is unchanged.
  EXPECT_EQ(old->active_data_key_id(), 1u);
  EXPECT_EQ(old->data_key_count(), 1u);
  EXPECT_EQ(Str(old->active_data_key().bytes()), key1);

  // And everything survives a reopen.
  auto reopened = OpenWithKeyFile();
  ASSERT_NE(reopened, nullptr);
  auto disk = reopened->Tenant("acme");
  ASSERT_TRUE(disk.ok());
  EXPECT_EQ((*disk)->active_data_key_id(), 3u);
  EXPECT_EQ(Str((*disk)->data_key(1)->bytes()), key1);
  EXPECT_EQ(Str((*disk)->data_key(3)->bytes()), Str((*after)->data_key(3)->bytes()));
}

// A CLI and a server on the same keyring directory.
TEST_F(KeyringTest, TwoKeyringsOnOneDirectorySeeEachOthersChanges) {
  auto server = CreateWithKeyFile();
  ASSERT_NE(server, nullptr);
  auto cli = OpenWithKeyFile();
  ASSERT_NE(cli, nullptr);

  ASSERT_TRUE(cli->AddTenant("acme").ok());
  EXPECT_FALSE(server->HasTenant("acme"));  // not until Reload
  ASSERT_TRUE(server->Reload().ok());
  ASSERT_TRUE(server->HasTenant("acme"));
  auto s_keys = server->Tenant("acme");
  auto c_keys = cli->Tenant("acme");
  ASSERT_TRUE(s_keys.ok() && c_keys.ok());
  EXPECT_EQ(Str((*s_keys)->active_data_key().bytes()), Str((*c_keys)->active_data_key().bytes()));

  // Reload without a change keeps the very same snapshot.
  ASSERT_TRUE(server->Reload().ok());
  EXPECT_EQ(server->Tenant("acme")->get(), s_keys->get());

  // The CLI rotates; the server's held snapshot stays, a reload shows key 2.
  auto rotated = cli->RotateDataKey("acme");
  ASSERT_TRUE(rotated.ok());
  EXPECT_EQ(*rotated, 2u);
  EXPECT_EQ((*server->Tenant("acme"))->active_data_key_id(), 1u);
  ASSERT_TRUE(server->Reload().ok());
  auto s_rotated = server->Tenant("acme");
  ASSERT_TRUE(s_rotated.ok());
  EXPECT_EQ((*s_rotated)->active_data_key_id(), 2u);
  EXPECT_EQ(Str((*s_rotated)->data_key(1)->bytes()), Str((*s_keys)->active_data_key().bytes()));
  EXPECT_EQ(Str((*s_rotated)->data_key(2)->bytes()),
            Str((*cli->Tenant("acme"))->active_data_key().bytes()));

  // The CLI adds a tenant while its view is stale (the server wrote last): the writer re-reads
  // under the lock, so nothing the other wrote is lost.
  ASSERT_TRUE(server->AddTenant("beta").ok());
  ASSERT_TRUE(cli->AddTenant("gamma").ok());
  EXPECT_THAT(cli->Tenants(), ElementsAre("acme", "beta", "gamma"));
  ASSERT_TRUE(server->RotateDataKey("beta").ok());
  ASSERT_TRUE(cli->RotateDataKey("beta").ok());
  ASSERT_TRUE(server->Reload().ok());
  EXPECT_THAT(server->Tenants(), ElementsAre("acme", "beta", "gamma"));
  EXPECT_EQ((*server->Tenant("beta"))->active_data_key_id(), 3u);
  EXPECT_EQ((*server->Tenant("acme"))->active_data_key_id(), 2u);
}

TEST_F(KeyringTest, ConcurrentWritersLoseNothing) {
  auto a = CreateWithKeyFile();
  ASSERT_NE(a, nullptr);
  auto b = OpenWithKeyFile();
  ASSERT_NE(b, nullptr);
  std::vector<Status> results(16);
  std::thread ta([&] {
    for (int i = 0; i < 8; ++i) results[i] = a->AddTenant("ta-" + std::to_string(i));
  });
  std::thread tb([&] {
    for (int i = 0; i < 8; ++i) results[8 + i] = b->AddTenant("tb-" + std::to_string(i));
  });
  ta.join();
  tb.join();
  for (const Status& s : results) EXPECT_TRUE(s.ok()) << s.ToString();
  auto fresh = OpenWithKeyFile();
  ASSERT_NE(fresh, nullptr);
  EXPECT_EQ(fresh->Tenants().size(), 16u);
  ASSERT_TRUE(a->Reload().ok());
  ASSERT_TRUE(b->Reload().ok());
  EXPECT_EQ(a->Tenants(), fresh->Tenants());
  EXPECT_EQ(b->Tenants(), fresh->Tenants());
}

TEST_F(KeyringTest, WrappedKeyMovedBetweenTenantsIsDataLoss) {
  auto ring = CreateWithKeyFile();
  ASSERT_NE(ring, nullptr);
  ASSERT_TRUE(ring->AddTenant("acme").ok());
  ASSERT_TRUE(ring->AddTenant("beta").ok());
  const std::string original = ReadFile(json());

  // beta's index key copied over acme's.
  EditJson(json(), [](rapidjson::Document& d) {
    auto& tenants = d["tenants"];
    tenants["acme"]["index_key"].SetString(tenants["beta"]["index_key"].GetString(),
                                           d.GetAllocator());
  });
  auto opened = Keyring::Open(dir(), KeyFile(key_file()));
  EXPECT_EQ(opened.status().code(), Code::kDataLoss);
  EXPECT_THAT(opened.status().message(), HasSubstr("acme"));

  // A running keyring refuses the change on Reload and keeps serving what it had.
  auto before = ring->Tenant("acme");
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(ring->Reload().code(), Code::kDataLoss);
  EXPECT_EQ(ring->Tenant("acme")->get(), before->get());
  // And a writer does not build on the bad file.
  EXPECT_EQ(ring->AddTenant("gamma").code(), Code::kDataLoss);
  EXPECT_FALSE(ring->HasTenant("gamma"));

  // Data key of beta moved into acme.
  ReplaceFile(json(), original);
  EditJson(json(), [](rapidjson::Document& d) {
    auto& tenants = d["tenants"];
    tenants["acme"]["data_keys"][0]["wrapped"].SetString(
        tenants["beta"]["data_keys"][0]["wrapped"].GetString(), d.GetAllocator());
  });
  EXPECT_EQ(Keyring::Open(dir(), KeyFile(key_file())).status().code(), Code::kDataLoss);

  // Purpose swap within one tenant: the index key presented as the audit seed.
  ReplaceFile(json(), original);
  EditJson(json(), [](rapidjson::Document& d) {
    auto& acme = d["tenants"]["acme"];
    acme["audit_seed"].SetString(acme["index_key"].GetString(), d.GetAllocator());
  });
  EXPECT_EQ(Keyring::Open(dir(), KeyFile(key_file())).status().code(), Code::kDataLoss);

  // A whole tenant entry renamed.
  ReplaceFile(json(), original);
  EditJson(json(), [](rapidjson::Document& d) {
    d["tenants"].FindMember("beta")->name.SetString("zeta", d.GetAllocator());
  });
  EXPECT_EQ(Keyring::Open(dir(), KeyFile(key_file())).status().code(), Code::kDataLoss);

  // Restored, everything opens again.
  ReplaceFile(json(), original);
  EXPECT_TRUE(Keyring::Open(dir(), KeyFile(key_file())).ok());
  EXPECT_TRUE(ring->Reload().ok());
}

TEST_F(KeyringTest, DataKeyIdsAreBoundToTheirWrapping) {
  auto ring = CreateWithKeyFile();
  ASSERT_NE(ring, nullptr);
  ASSERT_TRUE(ring->AddTenant("acme").ok());
  ASSERT_TRUE(ring->RotateDataKey("acme").ok());
  // Swap the wrapped bytes of data keys 1 and 2.
  EditJson(json(), [](rapidjson::Document& d) {
    auto& keys = d["tenants"]["acme"]["data_keys"];
    std::string w1 = keys[0]["wrapped"].GetString();
    std::string w2 = keys[1]["wrapped"].GetString();
    keys[0]["wrapped"].SetString(w2.c_str(), d.GetAllocator());
    keys[1]["wrapped"].SetString(w1.c_str(), d.GetAllocator());
  });
  EXPECT_EQ(Keyring::Open(dir(), KeyFile(key_file())).status().code(), Code::kDataLoss);
}

TEST_F(KeyringTest, MalformedOrUnknownFilesAreRefused) {
  auto ring = CreateWithKeyFile();
  ASSERT_NE(ring, nullptr);
  ASSERT_TRUE(ring->AddTenant("acme").ok());
  const std::string original = ReadFile(json());

  ReplaceFile(json(), original.substr(0, original.size() / 2));  // torn write
  EXPECT_EQ(Keyring::Open(dir(), KeyFile(key_file())).status().code(), Code::kDataLoss);
  ReplaceFile(json(), "[]");
  EXPECT_EQ(Keyring::Open(dir(), KeyFile(key_file())).status().code(), Code::kDataLoss);

  ReplaceFile(json(), original);
  EditJson(json(), [](rapidjson::Document& d) { d["format"].SetInt(2); });
  EXPECT_EQ(Keyring::Open(dir(), KeyFile(key_file())).status().code(), Code::kFailedPrecondition);

  ReplaceFile(json(), original);
  EditJson(json(),
           [](rapidjson::Document& d) { d["tenants"]["acme"]["active_data_key"].SetUint(7); });
  EXPECT_EQ(Keyring::Open(dir(), KeyFile(key_file())).status().code(), Code::kDataLoss);

  ReplaceFile(json(), original);
  EditJson(json(), [](rapidjson::Document& d) {
    d["tenants"].FindMember("acme")->name.SetString("../etc", d.GetAllocator());
  });
  EXPECT_EQ(Keyring::Open(dir(), KeyFile(key_file())).status().code(), Code::kDataLoss);

  // A changed check value reads as a wrong KEK.
  ReplaceFile(json(), original);
  EditJson(json(), [](rapidjson::Document& d) {
    std::string check = d["kek_check"].GetString();
    check[5] = check[5] == 'A' ? 'B' : 'A';
    d["kek_check"].SetString(check.c_str(), d.GetAllocator());
  });
  EXPECT_EQ(Keyring::Open(dir(), KeyFile(key_file())).status().code(), Code::kPermissionDenied);

  // A stale temporary file from a crash does not matter.
  ReplaceFile(json(), original);
  { std::ofstream(dir() + "/keyring.json.tmp") << "{half"; }
  auto reopened = Keyring::Open(dir(), KeyFile(key_file()));
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_TRUE((*reopened)->AddTenant("beta").ok());
  EXPECT_FALSE(std::filesystem::exists(dir() + "/keyring.json.tmp"));

  EXPECT_EQ(Keyring::Open(tmp_.Path("nowhere"), KeyFile(key_file())).status().code(),
            Code::kNotFound);
}

// AddTenant interrupted by a crash at each of its file calls: reopened, the keyring holds the
// tenants it had, or those plus the new one (with usable keys); never a damaged keyring.json.
TEST_F(KeyringTest, CrashDuringAddTenantKeepsOldOrNewKeyring) {
  ASSERT_NE(CreateWithKeyFile(), nullptr);
  {
    auto ring = OpenWithKeyFile();
    ASSERT_TRUE(ring->AddTenant("acme").ok());
  }
  const std::string original = ReadFile(json());
  bool saw_old = false, saw_new = false;
  for (uint64_t k = 0; k <= 8; ++k) {
    SCOPED_TRACE("crash after call " + std::to_string(k));
    ReplaceFile(json(), original);
    FaultInjectionEnv env;
    auto ring = Keyring::Open(dir(), KeyFile(key_file()), env);
    ASSERT_TRUE(ring.ok()) << ring.status().ToString();
    FaultInjectionEnv::FaultSpec crash;
    crash.skip = k;
    crash.count = FaultInjectionEnv::kForever;
    env.FailCalls(crash);
    Status added = (*ring)->AddTenant("beta");
    if (!added.ok()) {
      EXPECT_EQ(added.code(), Code::kUnavailable) << added.ToString();
    }
    ASSERT_TRUE(env.DropUnsyncedData().ok());
    auto reopened = Keyring::Open(dir(), KeyFile(key_file()));
    ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
    std::vector<std::string> tenants = (*reopened)->Tenants();
    if (added.ok()) {
      EXPECT_THAT(tenants, ElementsAre("acme", "beta"));
    } else {
      EXPECT_TRUE(tenants == std::vector<std::string>{"acme"} ||
                  tenants == (std::vector<std::string>{"acme", "beta"}));
    }
    if (tenants.size() == 2) {
      EXPECT_TRUE((*reopened)->Tenant("beta").ok());
    }
    EXPECT_EQ(ModeOf(json()), 0600);
    EXPECT_FALSE(std::filesystem::exists(json() + ".tmp"));
    saw_old = saw_old || tenants.size() == 1;
    saw_new = saw_new || tenants.size() == 2;
  }
  EXPECT_TRUE(saw_old);
  EXPECT_TRUE(saw_new);
}

// The rename of AddTenant is lost (no directory sync before the crash): the keyring that was
// there before is back, whole.
TEST_F(KeyringTest, DroppedRenameOfAddTenantLeavesThePreviousKeyring) {
  ASSERT_NE(CreateWithKeyFile(), nullptr);
  const std::string before = ReadFile(json());
  FaultInjectionEnv env;
  auto ring = Keyring::Open(dir(), KeyFile(key_file()), env);
  ASSERT_TRUE(ring.ok());
  FaultInjectionEnv::FaultSpec sync_dir_fails;
  sync_dir_fails.skip = 6;  // remove stale, open, append, sync, close, rename; the dir sync fails
  sync_dir_fails.count = FaultInjectionEnv::kForever;
  env.FailCalls(sync_dir_fails);
  EXPECT_EQ((*ring)->AddTenant("acme").code(), Code::kUnavailable);
  EXPECT_NE(ReadFile(json()), before);  // renamed, not yet durable
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  EXPECT_EQ(ReadFile(json()), before);
  auto reopened = Keyring::Open(dir(), KeyFile(key_file()));
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_TRUE((*reopened)->Tenants().empty());
}

TEST_F(KeyringTest, SealWithKekIsBoundToPurposeAndKek) {
  auto ring = CreateWithKeyFile();
  ASSERT_NE(ring, nullptr);
  const std::string secret = "-----BEGIN PRIVATE KEY-----issuer-----";
  auto sealed = ring->SealWithKek(AsBytes(secret), "token-issuer");
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(AsChars(*sealed).find("issuer"), std::string_view::npos);
  auto opened = ring->OpenWithKek(*sealed, "token-issuer");
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(AsChars(*opened), secret);
  EXPECT_EQ(ring->OpenWithKek(*sealed, "audit").status().code(), Code::kDataLoss);
  EXPECT_EQ(ring->SealWithKek(AsBytes(secret), "").status().code(), Code::kInvalidArgument);

  // Another installation's KEK cannot open it.
  auto other = Keyring::Create(tmp_.Path("other"), KeyFile(tmp_.Path("other.key")));
  ASSERT_TRUE(other.ok());
  EXPECT_EQ((*other)->OpenWithKek(*sealed, "token-issuer").status().code(), Code::kDataLoss);
}

void ExpectNotInDirectory(const std::string& dir, ByteView key, const std::string& what) {
  std::string lower_hex = HexEncode(key);
  std::string upper_hex = lower_hex;
  for (char& c : upper_hex) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  // base64 of the key at each of the three alignments, minus the partial edge characters.
  std::vector<std::string> needles = {Str(key), lower_hex, upper_hex};
  for (size_t skip = 0; skip < 3; ++skip) {
    std::string b64 = Base64Encode(key.subspan(skip));
    std::string url = Base64UrlEncode(key.subspan(skip));
    needles.push_back(b64.substr(0, b64.size() - 4));
    needles.push_back(url.substr(0, url.size() - 4));
  }
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    ++files;
    const std::string contents = ReadFile(entry.path().string());
    for (const std::string& needle : needles) {
      EXPECT_EQ(contents.find(needle), std::string::npos)
          << what << " found in " << entry.path() << " as " << needle;
    }
  }
  EXPECT_GE(files, 2);
}

TEST_F(KeyringTest, NoKeyMaterialInClearInTheKeyringDirectory) {
  auto ring = CreateWithKeyFile();
  ASSERT_NE(ring, nullptr);
  ASSERT_TRUE(ring->AddTenant("acme").ok());
  ASSERT_TRUE(ring->AddTenant("beta").ok());
  ASSERT_TRUE(ring->RotateDataKey("acme").ok());
  const std::string kek = ReadFile(key_file());
  ASSERT_EQ(kek.size(), 32u);
  ExpectNotInDirectory(dir(), AsBytes(kek), "KEK");
  for (const std::string& tenant : ring->Tenants()) {
    auto keys = ring->Tenant(tenant);
    ASSERT_TRUE(keys.ok());
    for (uint32_t id = 1; id <= (*keys)->active_data_key_id(); ++id) {
      ASSERT_NE((*keys)->data_key(id), nullptr);
      ExpectNotInDirectory(dir(), (*keys)->data_key(id)->bytes(), tenant + " data key");
    }
    ExpectNotInDirectory(dir(), (*keys)->index_key().bytes(), tenant + " index key");
    ExpectNotInDirectory(dir(), (*keys)->audit_seed().bytes(), tenant + " audit seed");
  }
}

TEST_F(KeyringTest, NoKeyMaterialInClearWithAPassphrase) {
  const std::string passphrase = "une phrase de passe assez longue";
  auto ring = Keyring::Create(dir(), Passphrase(passphrase));
  ASSERT_TRUE(ring.ok());
  ASSERT_TRUE((*ring)->AddTenant("acme").ok());
  ExpectNotInDirectory(dir(), AsBytes(passphrase), "passphrase");
  auto keys = (*ring)->Tenant("acme");
  ASSERT_TRUE(keys.ok());
  ExpectNotInDirectory(dir(), (*keys)->active_data_key().bytes(), "data key");
  ExpectNotInDirectory(dir(), (*keys)->index_key().bytes(), "index key");
  ExpectNotInDirectory(dir(), (*keys)->audit_seed().bytes(), "audit seed");
}

}  // namespace
}  // namespace hygie::crypto
