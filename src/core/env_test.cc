#include "core/env.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "core/fault_env.h"
#include "core/temp_dir.h"

namespace hygie {
namespace {

using test_support::TempDir;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

mode_t ModeOf(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

std::string Read(Env& env, const std::string& path) {
  auto r = env.ReadFile(path);
  return r.ok() ? *r : "<" + std::string(CodeName(r.status().code())) + ">";
}

std::vector<std::string> List(Env& env, const std::string& dir) {
  auto r = env.ListDir(dir);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : std::vector<std::string>{"<error>"};
}

// ---- POSIX ----

TEST(PosixEnvTest, ExclusiveCreateRefusesAnExistingName) {
  TempDir dir;
  Env& env = Env::Default();
  const std::string path = dir.Path("once");
  ASSERT_TRUE(env.CreateFileOnce(path, "first").ok());
  EXPECT_EQ(ModeOf(path), 0400);
  Status again = env.CreateFileOnce(path, "second");
  EXPECT_EQ(again.code(), Code::kAlreadyExists) << again.ToString();
  EXPECT_EQ(Read(env, path), "first");
  auto open = env.OpenForWrite(path, OpenMode::kExclusive);
  EXPECT_EQ(open.status().code(), Code::kAlreadyExists);
  EXPECT_EQ(Read(env, path), "first");
}

TEST(PosixEnvTest, WriteFileAtomicReplacesAndLeavesNoTemporary) {
  TempDir dir;
  Env& env = Env::Default();
  const std::string path = dir.Path("settings.json");
  ASSERT_TRUE(env.WriteFileAtomic(path, "old").ok());
  ASSERT_TRUE(env.WriteFileAtomic(path, "new", 0640).ok());
  EXPECT_EQ(Read(env, path), "new");
  EXPECT_EQ(ModeOf(path), 0640);
  EXPECT_THAT(List(env, dir.path()), ElementsAre("settings.json"));
}

TEST(PosixEnvTest, WriteFileAtomicIgnoresAStaleTemporary) {
  TempDir dir;
  Env& env = Env::Default();
  const std::string path = dir.Path("keys.json");
  // A temporary left by a crash, readable by everyone: the new file must still be 0600.
  {
    auto f = env.OpenForWrite(path + ".tmp", OpenMode::kTruncate, 0644);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Append("stale stale stale").ok());
  }
  ASSERT_EQ(::chmod((path + ".tmp").c_str(), 0644), 0);
  ASSERT_TRUE(env.WriteFileAtomic(path, "fresh").ok());
  EXPECT_EQ(Read(env, path), "fresh");
  EXPECT_EQ(ModeOf(path), 0600);
  // A symbolic link planted as the temporary is replaced, never written through.
  const std::string victim = dir.Path("victim");
  ASSERT_TRUE(env.WriteFileAtomic(victim, "untouched").ok());
  ASSERT_EQ(::symlink(victim.c_str(), (path + ".tmp").c_str()), 0);
  ASSERT_TRUE(env.WriteFileAtomic(path, "again").ok());
  EXPECT_EQ(Read(env, victim), "untouched");
  EXPECT_EQ(Read(env, path), "again");
  EXPECT_THAT(List(env, dir.path()), ElementsAre("keys.json", "victim"));
}

TEST(PosixEnvTest, ListDirIsSorted) {
  TempDir dir;
  Env& env = Env::Default();
  for (const char* name : {"c", "a", "b10", "b2"}) {
    ASSERT_TRUE(env.CreateFileOnce(dir.Path(name), name).ok());
  }
  EXPECT_THAT(List(env, dir.path()), ElementsAre("a", "b10", "b2", "c"));
  EXPECT_EQ(env.ListDir(dir.Path("missing")).status().code(), Code::kNotFound);
}

TEST(PosixEnvTest, CreateDirsMakesParentsPrivate) {
  TempDir dir;
  Env& env = Env::Default();
  const std::string deep = dir.Path("a/b/c");
  ASSERT_TRUE(env.CreateDirs(deep).ok());
  for (const std::string& d : {dir.Path("a"), dir.Path("a/b"), deep}) {
    struct stat st;
    ASSERT_EQ(::stat(d.c_str(), &st), 0) << d;
    EXPECT_TRUE(S_ISDIR(st.st_mode)) << d;
    EXPECT_EQ(st.st_mode & 0777, 0700u) << d;
  }
  EXPECT_TRUE(env.CreateDirs(deep).ok());  // already there
  ASSERT_TRUE(env.CreateFileOnce(dir.Path("file"), "x").ok());
  EXPECT_EQ(env.CreateDirs(dir.Path("file")).code(), Code::kAlreadyExists);
}

TEST(PosixEnvTest, ReadFileHonoursMaxBytes) {
  TempDir dir;
  Env& env = Env::Default();
  const std::string path = dir.Path("hundred");
  ASSERT_TRUE(env.WriteFileAtomic(path, std::string(100, 'x')).ok());
  auto whole = env.ReadFile(path, 100);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->size(), 100u);
  EXPECT_EQ(env.ReadFile(path, 99).status().code(), Code::kResourceExhausted);
  EXPECT_EQ(env.ReadFile(dir.Path("missing")).status().code(), Code::kNotFound);
  auto size = env.FileSize(path);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 100u);
  EXPECT_EQ(env.RemoveFile(dir.Path("missing")).code(), Code::kNotFound);
}

TEST(PosixEnvTest, DirName) {
  EXPECT_EQ(DirName("a/b/c"), "a/b");
  EXPECT_EQ(DirName("/top"), "/");
  EXPECT_EQ(DirName("plain"), ".");
  EXPECT_EQ(DirName("a/b/"), "a");
}

// ---- FaultInjectionEnv ----

TEST(FaultEnvTest, UnsyncedBytesAreDropped) {
  TempDir dir;
  FaultInjectionEnv env;
  const std::string path = dir.Path("log");
  auto f = env.OpenForWrite(path, OpenMode::kExclusive);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append("durable").ok());
  ASSERT_TRUE((*f)->Sync().ok());
  ASSERT_TRUE(env.SyncDir(dir.path()).ok());
  ASSERT_TRUE((*f)->Append(" lost").ok());
  ASSERT_TRUE((*f)->Close().ok());
  EXPECT_EQ(Read(env, path), "durable lost");
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  EXPECT_EQ(Read(env, path), "durable");
}

TEST(FaultEnvTest, AppendToAnExistingFileKeepsWhatWasThere) {
  TempDir dir;
  const std::string path = dir.Path("log");
  ASSERT_TRUE(Env::Default().WriteFileAtomic(path, "before|").ok());
  FaultInjectionEnv env;
  auto f = env.OpenForWrite(path, OpenMode::kAppend);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append("synced|").ok());
  ASSERT_TRUE((*f)->Sync().ok());
  ASSERT_TRUE((*f)->Append("unsynced").ok());
  ASSERT_TRUE((*f)->Close().ok());
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  EXPECT_EQ(Read(env, path), "before|synced|");
}

TEST(FaultEnvTest, UnsyncedCreationVanishes) {
  TempDir dir;
  FaultInjectionEnv env;
  auto write = [&](const std::string& path) {
    auto f = env.OpenForWrite(path, OpenMode::kExclusive);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Append("bytes").ok());
    ASSERT_TRUE((*f)->Sync().ok());  // the bytes, not the name
    ASSERT_TRUE((*f)->Close().ok());
  };
  write(dir.Path("kept"));
  ASSERT_TRUE(env.SyncDir(dir.path()).ok());
  write(dir.Path("vanishes"));
  EXPECT_THAT(List(env, dir.path()), ElementsAre("kept", "vanishes"));
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  EXPECT_THAT(List(env, dir.path()), ElementsAre("kept"));
  EXPECT_EQ(Read(env, dir.Path("kept")), "bytes");
}

TEST(FaultEnvTest, UnsyncedRenameAndRemovalAreUndone) {
  TempDir dir;
  Env& posix = Env::Default();
  ASSERT_TRUE(posix.WriteFileAtomic(dir.Path("target"), "old target").ok());
  ASSERT_TRUE(posix.WriteFileAtomic(dir.Path("source"), "source").ok());
  ASSERT_TRUE(posix.WriteFileAtomic(dir.Path("doomed"), "doomed").ok());
  FaultInjectionEnv env;
  ASSERT_TRUE(env.RenameFile(dir.Path("source"), dir.Path("target")).ok());
  ASSERT_TRUE(env.RemoveFile(dir.Path("doomed")).ok());
  EXPECT_THAT(List(env, dir.path()), ElementsAre("target"));
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  EXPECT_THAT(List(env, dir.path()), ElementsAre("doomed", "source", "target"));
  EXPECT_EQ(Read(env, dir.Path("target")), "old target");
  EXPECT_EQ(Read(env, dir.Path("source")), "source");
  EXPECT_EQ(Read(env, dir.Path("doomed")), "doomed");

  // Made durable by SyncDir, they stay.
  ASSERT_TRUE(env.RenameFile(dir.Path("source"), dir.Path("target")).ok());
  ASSERT_TRUE(env.RemoveFile(dir.Path("doomed")).ok());
  ASSERT_TRUE(env.SyncDir(dir.path()).ok());
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  EXPECT_THAT(List(env, dir.path()), ElementsAre("target"));
  EXPECT_EQ(Read(env, dir.Path("target")), "source");
}

TEST(FaultEnvTest, SyncDirOfAnotherDirectoryDoesNotHelp) {
  TempDir dir;
  FaultInjectionEnv env;
  ASSERT_TRUE(env.CreateDirs(dir.Path("a")).ok());
  ASSERT_TRUE(env.CreateDirs(dir.Path("b")).ok());
  ASSERT_TRUE(env.WriteFileAtomic(dir.Path("a/f"), "in a").ok());
  {
    auto f = env.OpenForWrite(dir.Path("b/f"), OpenMode::kExclusive);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Append("in b").ok());
    ASSERT_TRUE((*f)->Sync().ok());
  }
  ASSERT_TRUE(env.SyncDir(dir.Path("a")).ok());
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  EXPECT_EQ(Read(env, dir.Path("a/f")), "in a");
  EXPECT_THAT(List(env, dir.Path("b")), IsEmpty());
}

// WriteFileAtomic interrupted at each of its calls, by a lone failure or by a crash (every
// later call fails too), then the crash: `path` holds its old bytes (or is still absent),
// never a part, never the temporary; a write that returned ok survives whole.
void CheckInterruptedWrites(bool existed_before) {
  const std::string old_text = "old settings: " + std::string(300, 'o');
  const std::string new_text = "new settings: " + std::string(500, 'n');
  // How many calls one write makes.
  uint64_t calls = 0;
  {
    TempDir dir;
    FaultInjectionEnv env;
    ASSERT_TRUE(env.WriteFileAtomic(dir.Path("f"), new_text).ok());
    calls = env.counters().mutating();
  }
  ASSERT_GE(calls, 6u);  // remove stale, open, append, sync, close, rename, sync dir
  for (bool crash : {false, true}) {
    for (uint64_t k = 1; k <= calls + 1; ++k) {
      SCOPED_TRACE("call " + std::to_string(k) + (crash ? ", crash" : ", lone failure"));
      TempDir dir;
      const std::string path = dir.Path("f");
      if (existed_before) {
        ASSERT_TRUE(Env::Default().WriteFileAtomic(path, old_text).ok());
      }
      FaultInjectionEnv env;
      FaultInjectionEnv::FaultSpec spec;
      spec.skip = k - 1;
      spec.count = crash ? FaultInjectionEnv::kForever : 1;
      env.FailCalls(spec);
      Status s = env.WriteFileAtomic(path, new_text);
      env.ClearFaults();
      EXPECT_EQ(s.ok(), k > calls) << s.ToString();
      if (!s.ok()) {
        EXPECT_EQ(s.code(), Code::kUnavailable);
      }
      ASSERT_TRUE(env.DropUnsyncedData().ok());
      const std::string after = Read(env, path);
      if (s.ok()) {
        EXPECT_EQ(after, new_text);
      } else if (existed_before) {
        EXPECT_EQ(after, old_text);
      } else {
        EXPECT_EQ(after, "<not-found>");
      }
      EXPECT_EQ(List(env, dir.path()), (existed_before || s.ok()) ? std::vector<std::string>{"f"}
                                                                  : std::vector<std::string>{});
    }
  }
}

TEST(FaultEnvTest, WriteFileAtomicInterruptedAnywhereLeavesOldOrNew) {
  CheckInterruptedWrites(/*existed_before=*/true);
}

TEST(FaultEnvTest, WriteFileAtomicInterruptedAnywhereLeavesNothingOrNew) {
  CheckInterruptedWrites(/*existed_before=*/false);
}

TEST(FaultEnvTest, CrashAfterEachCallOfAWriteLeavesOldOrNew) {
  // No failure at all: the crash strikes after call k returned.
  const std::string old_text(4000, 'o');
  const std::string new_text(6000, 'n');
  uint64_t calls = 0;
  {
    TempDir dir;
    FaultInjectionEnv env;
    ASSERT_TRUE(env.WriteFileAtomic(dir.Path("f"), new_text).ok());
    calls = env.counters().mutating();
  }
  bool saw_old = false, saw_new = false;
  for (uint64_t k = 0; k <= calls; ++k) {
    SCOPED_TRACE("crash after call " + std::to_string(k));
    TempDir dir;
    const std::string path = dir.Path("f");
    ASSERT_TRUE(Env::Default().WriteFileAtomic(path, old_text).ok());
    FaultInjectionEnv env;
    FaultInjectionEnv::FaultSpec spec;
    spec.skip = k;
    spec.count = FaultInjectionEnv::kForever;  // the process is gone after call k
    env.FailCalls(spec);
    (void)env.WriteFileAtomic(path, new_text).ok();
    ASSERT_TRUE(env.DropUnsyncedData().ok());
    const std::string after = Read(env, path);
    EXPECT_TRUE(after == old_text || after == new_text) << after.size() << " bytes";
    saw_old = saw_old || after == old_text;
    saw_new = saw_new || after == new_text;
  }
  EXPECT_TRUE(saw_old);
  EXPECT_TRUE(saw_new);
}

TEST(FaultEnvTest, NoSpaceFailsCleanly) {
  TempDir dir;
  const std::string path = dir.Path("f");
  FaultInjectionEnv env;
  ASSERT_TRUE(env.WriteFileAtomic(path, "old").ok());
  env.SetNoSpaceAfterBytes(150);
  ASSERT_TRUE(env.WriteFileAtomic(path, std::string(100, 'a')).ok());  // fits
  Status s = env.WriteFileAtomic(path, std::string(100, 'b'));         // 50 bytes left
  EXPECT_EQ(s.code(), Code::kResourceExhausted) << s.ToString();
  EXPECT_EQ(Read(env, path), std::string(100, 'a'));
  EXPECT_THAT(List(env, dir.path()), ElementsAre("f"));  // the partial temporary is gone
  EXPECT_EQ(env.counters().failed, 1u);
  EXPECT_EQ(env.CreateFileOnce(dir.Path("g"), "x").code(), Code::kResourceExhausted);
  EXPECT_THAT(List(env, dir.path()), ElementsAre("f"));
  env.ClearNoSpace();
  ASSERT_TRUE(env.WriteFileAtomic(path, std::string(100, 'c')).ok());
  EXPECT_EQ(Read(env, path), std::string(100, 'c'));
}

TEST(FaultEnvTest, FaultsHonourThePathPrefixAndCode) {
  TempDir dir;
  FaultInjectionEnv env;
  ASSERT_TRUE(env.CreateDirs(dir.Path("a")).ok());
  ASSERT_TRUE(env.CreateDirs(dir.Path("b")).ok());
  env.FailNextCalls(1, Code::kPermissionDenied, dir.Path("b/"));
  EXPECT_TRUE(env.WriteFileAtomic(dir.Path("a/f"), "a").ok());
  EXPECT_EQ(env.WriteFileAtomic(dir.Path("b/f"), "b").code(), Code::kPermissionDenied);
  EXPECT_TRUE(env.WriteFileAtomic(dir.Path("b/f"), "b").ok());  // only one call failed
  EXPECT_EQ(env.counters().failed, 1u);
  // Reads fail only when asked.
  FaultInjectionEnv::FaultSpec spec;
  spec.count = FaultInjectionEnv::kForever;
  env.FailCalls(spec);
  EXPECT_EQ(Read(env, dir.Path("a/f")), "a");
  spec.reads_too = true;
  env.FailCalls(spec);
  EXPECT_EQ(env.ReadFile(dir.Path("a/f")).status().code(), Code::kUnavailable);
  env.ClearFaults();
  EXPECT_EQ(Read(env, dir.Path("a/f")), "a");
}

TEST(FaultEnvTest, CountsCalls) {
  TempDir dir;
  FaultInjectionEnv env;
  ASSERT_TRUE(env.WriteFileAtomic(dir.Path("f"), "x").ok());
  FaultInjectionEnv::Counters c = env.counters();
  EXPECT_EQ(c.open, 1u);
  EXPECT_EQ(c.append, 1u);
  EXPECT_EQ(c.sync, 1u);
  EXPECT_EQ(c.close, 1u);
  EXPECT_EQ(c.rename, 1u);
  EXPECT_EQ(c.remove, 1u);  // the stale temporary, absent
  EXPECT_EQ(c.sync_dir, 1u);
  EXPECT_EQ(c.failed, 0u);
  EXPECT_EQ(Read(env, dir.Path("f")), "x");
  EXPECT_EQ(env.counters().read, 1u);
  env.ResetCounters();
  EXPECT_EQ(env.counters().mutating(), 0u);
}

TEST(FaultEnvTest, ThreadsWriteTheirOwnFiles) {
  TempDir dir;
  FaultInjectionEnv env;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&env, &dir, t] {
      for (int i = 0; i < 20; ++i) {
        EXPECT_TRUE(env.WriteFileAtomic(dir.Path("t" + std::to_string(t)), std::to_string(i)).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  EXPECT_THAT(List(env, dir.path()), ElementsAre("t0", "t1", "t2", "t3"));
  for (int t = 0; t < 4; ++t) EXPECT_EQ(Read(env, dir.Path("t" + std::to_string(t))), "19");
}

}  // namespace
}  // namespace hygie
