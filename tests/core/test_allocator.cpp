// The caching allocator's reuse, size bins, statistics and out-of-memory message, on a fake
// backend.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>

#include "core/allocator.h"
#include "tests/testing.h"

namespace minidl {
namespace {

struct FakeBackend {
  size_t capacity;
  size_t used = 0;
  int allocs = 0, frees = 0;
  std::map<void*, size_t> blocks;
  CachingAllocator::Backend make() {
    return {[this](size_t n) -> void* {
              if (used + n > capacity) return nullptr;
              used += n;
              ++allocs;
              void* p = std::malloc(n);
              blocks[p] = n;
              return p;
            },
            [this](void* p) {
              used -= blocks.at(p);
              blocks.erase(p);
              ++frees;
              std::free(p);
            },
            [] { return std::string("fake:0 (test backend)"); }};
  }
};

TEST(CachingAllocator, BinsRoundUpByAtMostAQuarter) {
  EXPECT_EQ(caching_bin_size(1), 512u);
  EXPECT_EQ(caching_bin_size(512), 512u);
  EXPECT_EQ(caching_bin_size(513), 640u);
  EXPECT_EQ(caching_bin_size(1024), 1024u);
  EXPECT_EQ(caching_bin_size(1025), 1280u);
  for (size_t n : {1000u, 5000u, 123457u, 10000000u}) {
    size_t b = caching_bin_size(n);
    EXPECT_GE(b, n);
    EXPECT_LT(b, n + n / 4 + 1);
  }
}

TEST(CachingAllocator, ReusesFreedBlocksOnTheSameStream) {
  FakeBackend fake{1 << 20};
  CachingAllocator a(fake.make());
  void* s1 = reinterpret_cast<void*>(1);
  void* s2 = reinterpret_cast<void*>(2);
  void* p = a.allocate(1000, s1);
  a.free(p);
  void* r = a.allocate(1000, s1);
  EXPECT_EQ(r, p);                 // same bin, same stream: reused
  void* q = a.allocate(1000, s2);  // other stream: a new block
  EXPECT_NE(q, p);
  EXPECT_EQ(fake.allocs, 2);
  MemoryStats s = a.stats();
  EXPECT_EQ(s.allocated, 2 * caching_bin_size(1000));
  EXPECT_EQ(s.requested, 2000u);
  EXPECT_EQ(s.num_allocs, 3);
  EXPECT_EQ(s.num_backend_allocs, 2);
  // The allocator's destructor leaves blocks still in use to their owners (static tensors), so the
  // test hands both back and releases them: nothing of the backend's is left (LeakSanitizer).
  a.free(r);
  a.free(q);
  a.release_cached();
  EXPECT_EQ(fake.frees, 2);
  EXPECT_TRUE(fake.blocks.empty());
}

TEST(CachingAllocator, StatisticsAndRelease) {
  FakeBackend fake{1 << 20};
  CachingAllocator a(fake.make());
  void* p = a.allocate(4096);
  void* q = a.allocate(8192);
  a.free(p);
  MemoryStats s = a.stats();
  EXPECT_EQ(s.allocated, 8192u);
  EXPECT_EQ(s.peak_allocated, 4096u + 8192u);
  EXPECT_EQ(s.reserved, 4096u + 8192u);
  a.release_cached();
  EXPECT_EQ(a.stats().reserved, 8192u);
  EXPECT_EQ(fake.frees, 1);
  a.reset_peak();
  EXPECT_EQ(a.stats().peak_allocated, 8192u);
  a.free(q);
}

TEST(CachingAllocator, OutOfMemoryReleasesCacheThenNamesTheRequest) {
  FakeBackend fake{10000};
  CachingAllocator a(fake.make());
  void* p = a.allocate(6000);  // bin 6144
  a.free(p);                   // cached: the backend is 6144 bytes full
  void* q = a.allocate(8000);  // needs the cache released first
  EXPECT_NE(q, nullptr);
  EXPECT_EQ(fake.frees, 1);
  EXPECT_MINIDL_ERROR(a.allocate(5000), "out of memory", "fake:0", "requested 5000 bytes",
                      "allocated");
  a.free(q);
}

TEST(CachingAllocator, FreeOfUnknownPointerIsAnError) {
  FakeBackend fake{1 << 16};
  CachingAllocator a(fake.make());
  int x;
  EXPECT_MINIDL_ERROR(a.free(&x), "did not hand out");
}

TEST(CpuAllocator, AlignedCountedAndCached) {
  size_t before = cpu_memory_stats().allocated;
  void* p = cpu_allocate(100000);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  EXPECT_EQ(cpu_memory_stats().allocated, before + caching_bin_size(100000));
  cpu_free(p, 100000);
  EXPECT_EQ(cpu_memory_stats().allocated, before);
  EXPECT_EQ(cpu_allocate(99000), p);  // same bin: the cached block comes back, no new pages
  cpu_free(p, 99000);
  cpu_release_cached();
}

}  // namespace
}  // namespace minidl
