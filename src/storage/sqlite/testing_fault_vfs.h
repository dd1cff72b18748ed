#pragma once
// FaultVfs: a test-only SQLite VFS that wraps the default one and, on demand, fails writes or
// syncs of WAL files with an I/O error, so tests can check what the engine does when a commit
// cannot be made durable. While an instance lives it is the default VFS of every connection
// opened in the process; the destructor restores the previous default.
//
// Thread-safety: the fault switches are atomics; construct and destroy on one thread while no
// connection is open. At most one instance at a time.

#include <sqlite3.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace hygie::storage::testing {

class FaultVfs {
 public:
  FaultVfs() {
    real_ = sqlite3_vfs_find(nullptr);
    vfs_ = *real_;
    vfs_.iVersion = 2;
    vfs_.szOsFile = static_cast<int>(sizeof(File)) + real_->szOsFile;
    vfs_.zName = "hygie-fault";
    vfs_.pNext = nullptr;
    vfs_.pAppData = this;
    vfs_.xOpen = &Open;
    vfs_.xDelete = [](sqlite3_vfs* v, const char* n, int d) {
      return Real(v)->xDelete(Real(v), n, d);
    };
    vfs_.xAccess = [](sqlite3_vfs* v, const char* n, int f, int* o) {
      return Real(v)->xAccess(Real(v), n, f, o);
    };
    vfs_.xFullPathname = [](sqlite3_vfs* v, const char* n, int s, char* o) {
      return Real(v)->xFullPathname(Real(v), n, s, o);
    };
    vfs_.xDlOpen = [](sqlite3_vfs* v, const char* n) { return Real(v)->xDlOpen(Real(v), n); };
    vfs_.xDlError = [](sqlite3_vfs* v, int n, char* m) { Real(v)->xDlError(Real(v), n, m); };
    vfs_.xDlSym = [](sqlite3_vfs* v, void* h, const char* s) {
      return Real(v)->xDlSym(Real(v), h, s);
    };
    vfs_.xDlClose = [](sqlite3_vfs* v, void* h) { Real(v)->xDlClose(Real(v), h); };
    vfs_.xRandomness = [](sqlite3_vfs* v, int n, char* o) {
      return Real(v)->xRandomness(Real(v), n, o);
    };
    vfs_.xSleep = [](sqlite3_vfs* v, int us) { return Real(v)->xSleep(Real(v), us); };
    vfs_.xCurrentTime = [](sqlite3_vfs* v, double* t) { return Real(v)->xCurrentTime(Real(v), t); };
    vfs_.xGetLastError = [](sqlite3_vfs* v, int n, char* m) {
      return Real(v)->xGetLastError(Real(v), n, m);
    };
    vfs_.xCurrentTimeInt64 = [](sqlite3_vfs* v, sqlite3_int64* t) {
      return Real(v)->xCurrentTimeInt64(Real(v), t);
    };
    vfs_.xSetSystemCall = nullptr;
    vfs_.xGetSystemCall = nullptr;
    vfs_.xNextSystemCall = nullptr;
    sqlite3_vfs_register(&vfs_, /*makeDflt=*/1);
  }
  ~FaultVfs() {
    sqlite3_vfs_unregister(&vfs_);
    sqlite3_vfs_register(real_, /*makeDflt=*/1);
  }
  FaultVfs(const FaultVfs&) = delete;
  FaultVfs& operator=(const FaultVfs&) = delete;

  void FailWalWrites(bool on) { fail_wal_writes_ = on; }
  void FailWalSyncs(bool on) { fail_wal_syncs_ = on; }
  uint64_t injected_faults() const { return injected_faults_.load(); }

 private:
  struct File {
    sqlite3_file base;  // must come first
    sqlite3_file* real;
    FaultVfs* vfs;
    bool is_wal;
  };
  static_assert(sizeof(File) % 8 == 0);

  static sqlite3_vfs* Real(sqlite3_vfs* v) { return static_cast<FaultVfs*>(v->pAppData)->real_; }
  static File* F(sqlite3_file* f) { return reinterpret_cast<File*>(f); }
  static sqlite3_file* R(sqlite3_file* f) { return F(f)->real; }

  static int Open(sqlite3_vfs* v, const char* name, sqlite3_file* file, int flags, int* out) {
    auto* self = static_cast<FaultVfs*>(v->pAppData);
    File* f = F(file);
    f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + sizeof(File));
    f->vfs = self;
    f->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
    int rc = self->real_->xOpen(self->real_, name, f->real, flags, out);
    f->base.pMethods = f->real->pMethods != nullptr ? &kMethods : nullptr;
    return rc;
  }

  static int Close(sqlite3_file* f) { return R(f)->pMethods->xClose(R(f)); }
  static int Read(sqlite3_file* f, void* b, int n, sqlite3_int64 o) {
    return R(f)->pMethods->xRead(R(f), b, n, o);
  }
  static int Write(sqlite3_file* f, const void* b, int n, sqlite3_int64 o) {
    if (F(f)->is_wal && F(f)->vfs->fail_wal_writes_) {
      F(f)->vfs->injected_faults_++;
      return SQLITE_IOERR_WRITE;
    }
    return R(f)->pMethods->xWrite(R(f), b, n, o);
  }
  static int Truncate(sqlite3_file* f, sqlite3_int64 s) {
    return R(f)->pMethods->xTruncate(R(f), s);
  }
  static int Sync(sqlite3_file* f, int flags) {
    if (F(f)->is_wal && F(f)->vfs->fail_wal_syncs_) {
      F(f)->vfs->injected_faults_++;
      return SQLITE_IOERR_FSYNC;
    }
    return R(f)->pMethods->xSync(R(f), flags);
  }
  static int FileSize(sqlite3_file* f, sqlite3_int64* s) {
    return R(f)->pMethods->xFileSize(R(f), s);
  }
  static int Lock(sqlite3_file* f, int l) { return R(f)->pMethods->xLock(R(f), l); }
  static int Unlock(sqlite3_file* f, int l) { return R(f)->pMethods->xUnlock(R(f), l); }
  static int CheckReservedLock(sqlite3_file* f, int* o) {
    return R(f)->pMethods->xCheckReservedLock(R(f), o);
  }
  static int FileControl(sqlite3_file* f, int op, void* a) {
    return R(f)->pMethods->xFileControl(R(f), op, a);
  }
  static int SectorSize(sqlite3_file* f) { return R(f)->pMethods->xSectorSize(R(f)); }
  static int DeviceCharacteristics(sqlite3_file* f) {
    return R(f)->pMethods->xDeviceCharacteristics(R(f));
  }
  static int ShmMap(sqlite3_file* f, int i, int s, int e, void volatile** p) {
    return R(f)->pMethods->xShmMap(R(f), i, s, e, p);
  }
  static int ShmLock(sqlite3_file* f, int o, int n, int fl) {
    return R(f)->pMethods->xShmLock(R(f), o, n, fl);
  }
  static void ShmBarrier(sqlite3_file* f) { R(f)->pMethods->xShmBarrier(R(f)); }
  static int ShmUnmap(sqlite3_file* f, int d) { return R(f)->pMethods->xShmUnmap(R(f), d); }
  static int Fetch(sqlite3_file* f, sqlite3_int64 o, int n, void** p) {
    return R(f)->pMethods->xFetch(R(f), o, n, p);
  }
  static int Unfetch(sqlite3_file* f, sqlite3_int64 o, void* p) {
    return R(f)->pMethods->xUnfetch(R(f), o, p);
  }

  static constexpr sqlite3_io_methods kMethods = {3,
                                                  &Close,
                                                  &Read,
                                                  &Write,
                                                  &Truncate,
                                                  &Sync,
                                                  &FileSize,
                                                  &Lock,
                                                  &Unlock,
                                                  &CheckReservedLock,
                                                  &FileControl,
                                                  &SectorSize,
                                                  &DeviceCharacteristics,
                                                  &ShmMap,
                                                  &ShmLock,
                                                  &ShmBarrier,
                                                  &ShmUnmap,
                                                  &Fetch,
                                                  &Unfetch};

  sqlite3_vfs* real_ = nullptr;
  sqlite3_vfs vfs_{};
  std::atomic<bool> fail_wal_writes_{false};
  std::atomic<bool> fail_wal_syncs_{false};
  std::atomic<uint64_t> injected_faults_{0};
};

}  // namespace hygie::storage::testing
