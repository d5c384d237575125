// The caching allocator's reuse, size bins, statistics and out-of-memory message, on a fake
// backend; its reuse across streams (record_stream, pinned blocks, destroyed streams) on fake
// streams with a clock.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <vector>

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

// A kept stream's cache (a captured CUDA graph's memory) survives release_cached and the
// out-of-memory retry, and is reused on its stream without the backend; unkept, it goes back.
TEST(CachingAllocator, KeptStreamsCacheIsNotReleased) {
  FakeBackend fake{10000};
  CachingAllocator a(fake.make());
  void* graph = reinterpret_cast<void*>(1);
  void* other = reinterpret_cast<void*>(2);
  a.keep_stream(graph);
  void* g = a.allocate(4000, graph);
  void* o = a.allocate(4000, other);
  a.free(g);
  a.free(o);
  a.release_cached();
  EXPECT_EQ(fake.frees, 1) << "only the other stream's block";
  EXPECT_EQ(a.stats().reserved, caching_bin_size(4000));
  // Out of memory: 4096 of 10000 bytes are kept, so 8000 cannot be had, and the kept block stays.
  EXPECT_MINIDL_ERROR(a.allocate(8000, other), "out of memory", "requested 8000 bytes");
  EXPECT_EQ(a.allocate(4000, graph), g) << "still the graph stream's, no backend call";
  EXPECT_EQ(fake.allocs, 2);
  a.free(g);
  a.unkeep_stream(graph);
  a.release_cached();
  EXPECT_EQ(fake.frees, 2);
  EXPECT_TRUE(fake.blocks.empty());
}

TEST(CachingAllocator, FreeOfUnknownPointerIsAnError) {
  FakeBackend fake{1 << 16};
  CachingAllocator a(fake.make());
  int x;
  EXPECT_MINIDL_ERROR(a.free(&x), "did not hand out");
}

// Fake streams for the event logic. Each stream counts the work queued on it (`launch`) and the
// work finished (`run` finishes all of it). An event recorded on a stream completes once the
// stream's finished count reaches the queued count at the time of recording.
struct FakeStreams {
  struct Event {
    void* stream;
    int at;
    bool released = false;
  };
  std::map<void*, int> queued, finished;
  std::vector<Event> events;  // handle: index + 1
  int waits = 0;
  void launch(void* s) { ++queued[s]; }
  void run(void* s) { finished[s] = queued[s]; }
  int unreleased() const {
    int n = 0;
    for (const Event& e : events) n += e.released ? 0 : 1;
    return n;
  }
  Event& at(void* handle) { return events.at(reinterpret_cast<uintptr_t>(handle) - 1); }
  void add_to(CachingAllocator::Backend& b) {
    b.record_event = [this](void* s) -> void* {
      events.push_back({s, queued[s]});
      return reinterpret_cast<void*>(events.size());
    };
    b.event_done = [this](void* e) {
      EXPECT_FALSE(at(e).released);
      return finished[at(e).stream] >= at(e).at;
    };
    b.wait_event = [this](void* e) {  // the host waits: the stream's work up to the event finishes
      Event& ev = at(e);
      finished[ev.stream] = std::max(finished[ev.stream], ev.at);
      ++waits;
    };
    b.release_event = [this](void* e) {
      EXPECT_FALSE(at(e).released);
      at(e).released = true;
    };
  }
};

struct CachingAllocatorStreams : ::testing::Test {
  FakeBackend fake{1 << 20};
  FakeStreams streams;
  std::unique_ptr<CachingAllocator> a;
  void* s1 = reinterpret_cast<void*>(0x100);
  void* s2 = reinterpret_cast<void*>(0x200);
  const size_t bin = caching_bin_size(1000);
  void SetUp() override {
    CachingAllocator::Backend b = fake.make();
    streams.add_to(b);
    a = std::make_unique<CachingAllocator>(std::move(b));
  }
  void TearDown() override {  // nothing of the backend's left, no event forgotten
    a->release_cached();
    EXPECT_TRUE(fake.blocks.empty());
    EXPECT_EQ(streams.unreleased(), 0);
    EXPECT_EQ(a->stats().reserved, 0u);
  }
};

TEST_F(CachingAllocatorStreams, SameStreamReuseIsImmediateWithoutEvents) {
  void* p = a->allocate(1000, s1);
  a->record_stream(p, s1);  // its own stream: stream order already covers it
  streams.launch(s1);       // still running when freed
  a->free(p);
  void* r = a->allocate(1000, s1);
  EXPECT_EQ(r, p);
  EXPECT_TRUE(streams.events.empty());
  a->free(r);
}

TEST_F(CachingAllocatorStreams, BlockUsedOnAnotherStreamWaitsForIt) {
  void* p = a->allocate(1000, s1);
  a->record_stream(p, s2);
  a->record_stream(p, s2);  // once is enough
  streams.launch(s2);
  a->free(p);
  EXPECT_EQ(streams.events.size(), 1u);
  MemoryStats s = a->stats();
  EXPECT_EQ(s.allocated, 0u);
  EXPECT_EQ(s.reserved, bin);
  EXPECT_EQ(s.pending, bin);
  EXPECT_EQ(s.num_pending, 1);
  void* q = a->allocate(1000, s1);  // s2 may still read p: a fresh block
  EXPECT_NE(q, p);
  streams.run(s2);
  void* r = a->allocate(1000, s1);  // s2 is done: p is back in s1's cache
  EXPECT_EQ(r, p);
  s = a->stats();
  EXPECT_EQ(s.pending, 0u);
  EXPECT_EQ(s.num_pending, 0);
  EXPECT_EQ(s.allocated, 2 * bin);
  EXPECT_EQ(s.reserved, 2 * bin);
  EXPECT_EQ(fake.allocs, 2);
  a->free(q);
  a->free(r);
}

TEST_F(CachingAllocatorStreams, PinnedBlockIsNotReusedWhileItsCopyRuns) {
  void* p = a->allocate(1000);  // host memory: no stream of its own
  a->record_stream(p, s1);      // an async copy on s1 reads it
  streams.launch(s1);
  a->free(p);
  void* q = a->allocate(1000);  // the host would overwrite what the copy still reads
  EXPECT_NE(q, p);
  streams.run(s1);
  void* r = a->allocate(1000);
  EXPECT_EQ(r, p);
  a->free(q);
  a->free(r);
}

TEST_F(CachingAllocatorStreams, WaitsForEveryStreamThatUsedTheBlock) {
  void* p = a->allocate(1000);
  a->record_stream(p, s1);
  a->record_stream(p, s2);
  streams.launch(s1);
  streams.launch(s2);
  a->free(p);
  streams.run(s1);
  void* q = a->allocate(1000);
  EXPECT_NE(q, p);  // s2 still runs
  streams.run(s2);
  void* r = a->allocate(1000);
  EXPECT_EQ(r, p);
  a->free(q);
  a->free(r);
}

TEST_F(CachingAllocatorStreams, DestroyedStreamsCachedBlocksAreNotStranded) {
  void* p = a->allocate(1000, s2);
  streams.launch(s2);  // s2's last work uses p
  a->free(p);          // cached under s2
  a->stream_destroyed(s2);
  MemoryStats st = a->stats();
  EXPECT_EQ(st.reserved, bin);
  EXPECT_EQ(st.num_pending, 1);
  // A new stream that got the dead stream's address must not take p while the old work runs.
  void* q = a->allocate(1000, s2);
  EXPECT_NE(q, p);
  streams.run(s2);
  void* r = a->allocate(1000, s1);  // any stream may take it now
  EXPECT_EQ(r, p);
  st = a->stats();
  EXPECT_EQ(st.allocated, 2 * bin);
  EXPECT_EQ(st.reserved, 2 * bin);
  EXPECT_EQ(st.num_pending, 0);
  a->free(q);
  a->free(r);
}

TEST_F(CachingAllocatorStreams, DestroyedStreamsLiveBlocksAreNotStranded) {
  void* own = a->allocate(1000, s2);   // allocated on the stream that dies
  void* used = a->allocate(1000, s1);  // used on it
  a->record_stream(used, s2);
  streams.launch(s2);
  a->stream_destroyed(s2);  // both get an event on s2 now: the handle dies
  a->free(own);
  a->free(used);
  EXPECT_EQ(a->stats().num_pending, 2);
  streams.run(s2);
  void* x = a->allocate(1000, s1);
  void* y = a->allocate(1000, s1);
  EXPECT_EQ(std::set<void*>({x, y}), std::set<void*>({own, used}));
  EXPECT_EQ(fake.allocs, 2);
  a->free(x);
  a->free(y);
}

TEST_F(CachingAllocatorStreams, ReleaseCachedWaitsForPendingBlocks) {
  void* p = a->allocate(1000, s1);
  a->record_stream(p, s2);
  streams.launch(s2);
  a->free(p);
  a->release_cached();
  EXPECT_EQ(streams.waits, 1);
  EXPECT_EQ(streams.finished[s2], 1);  // the host waited for s2 before giving the block back
  EXPECT_EQ(fake.frees, 1);
  MemoryStats s = a->stats();
  EXPECT_EQ(s.reserved, 0u);
  EXPECT_EQ(s.num_pending, 0);
  EXPECT_EQ(s.num_releases, 1);
}

TEST_F(CachingAllocatorStreams, OutOfMemoryWaitsForPendingBlocksThenRetries) {
  void* p = a->allocate(600000);  // over half the fake's 1 MiB
  a->record_stream(p, s1);
  streams.launch(s1);
  a->free(p);
  void* q = a->allocate(600000, s1);  // only fits once p is given back, after s1's copy
  EXPECT_EQ(streams.waits, 1);
  EXPECT_EQ(fake.frees, 1);
  EXPECT_EQ(a->stats().reserved, caching_bin_size(600000));
  a->free(q);
}

TEST(CachingAllocator, RecordStreamNeedsABackendWithEvents) {
  FakeBackend fake{1 << 16};
  CachingAllocator a(fake.make());
  void* p = a.allocate(100, reinterpret_cast<void*>(1));
  a.record_stream(p, reinterpret_cast<void*>(1));  // its own stream: nothing to record
  EXPECT_MINIDL_ERROR(a.record_stream(p, reinterpret_cast<void*>(2)), "has no events");
  a.stream_destroyed(reinterpret_cast<void*>(3));  // touches nothing: fine without events
  a.free(p);
  a.release_cached();
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
