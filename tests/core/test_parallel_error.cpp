// parallel_for covers its range exactly once with thread-count-independent chunks; checks format
// their message with expression, function, file and line.
#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"

namespace minidl {
namespace {

TEST(Parallel, CoversEveryIndexOnce) {
  std::vector<std::atomic<int>> hits(100003);
  parallel_for(100003, 1000, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) ++hits[i];
  });
  for (auto& h : hits) ASSERT_EQ(h.load(), 1);
}

TEST(Parallel, ChunksDoNotDependOnThreadCount) {
  EXPECT_EQ(parallel_chunks(10, 3), 4);
  EXPECT_EQ(parallel_chunk_begin(10, 3, 3), 9);
  EXPECT_EQ(parallel_chunk_begin(10, 3, 4), 10);
  int before = num_threads();
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    std::vector<int64_t> begins(parallel_chunks(1000, 64), -1);
    parallel_for(1000, 64, [&](int64_t b, int64_t e) { begins[b / 64] = b; });
    for (size_t i = 0; i < begins.size(); ++i) EXPECT_EQ(begins[i], static_cast<int64_t>(i) * 64);
  }
  set_num_threads(before);
}

TEST(Parallel, ExceptionsReachTheCaller) {
  EXPECT_THROW(parallel_for(1000, 10,
                            [](int64_t b, int64_t) {
                              if (b == 500) MINIDL_FAIL("chunk failed");
                            }),
               Error);
  int n = 0;  // the pool still works afterwards
  parallel_for(10, 100, [&](int64_t b, int64_t e) { n += static_cast<int>(e - b); });
  EXPECT_EQ(n, 10);
}

TEST(Error, MessageNamesExpressionFunctionFileAndLine) {
  try {
    int batch = -3;
    MINIDL_CHECK(batch > 0, "batch size must be positive, got ", batch);
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("batch size must be positive, got -3"), std::string::npos) << m;
    EXPECT_NE(m.find("[batch > 0]"), std::string::npos) << m;
    EXPECT_NE(m.find("test_parallel_error.cpp:"), std::string::npos) << m;
    EXPECT_NE(m.find("TestBody"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace minidl
