#include "client/chunk_cache.h"

#include <gtest/gtest.h>

namespace sluice::client {
namespace {

std::shared_ptr<const std::string> Chunk(char c, size_t n = ChunkCache::kChunk) {
  return std::make_shared<const std::string>(n, c);
}

TEST(ChunkCacheTest, HitsOnlyTheSameVersionAndIndex) {
  ChunkCache cache(8 * ChunkCache::kChunk);
  cache.Put("/m/a", "v1", 0, Chunk('a'));
  ASSERT_NE(cache.Get("/m/a", "v1", 0), nullptr);
  EXPECT_EQ(*cache.Get("/m/a", "v1", 0), std::string(ChunkCache::kChunk, 'a'));
  EXPECT_EQ(cache.Get("/m/a", "v2", 0), nullptr);  // another version never hits
  EXPECT_EQ(cache.Get("/m/a", "v1", 1), nullptr);
  EXPECT_EQ(cache.Get("/m/b", "v1", 0), nullptr);
  EXPECT_EQ(cache.hits(), 2u);
  EXPECT_EQ(cache.misses(), 3u);
}

TEST(ChunkCacheTest, EvictsTheLeastRecentlyUsedOverCapacity) {
  ChunkCache cache(3 * ChunkCache::kChunk);
  for (uint64_t i = 0; i < 3; ++i) cache.Put("/m/a", "v", i, Chunk('x'));
  ASSERT_NE(cache.Get("/m/a", "v", 0), nullptr);  // 0 is now the most recent
  cache.Put("/m/a", "v", 3, Chunk('y'));
  EXPECT_EQ(cache.Get("/m/a", "v", 1), nullptr);  // the least recent went
  EXPECT_NE(cache.Get("/m/a", "v", 0), nullptr);
  EXPECT_NE(cache.Get("/m/a", "v", 3), nullptr);
  EXPECT_EQ(cache.bytes(), 3 * ChunkCache::kChunk);
}

TEST(ChunkCacheTest, ReplacingAChunkKeepsTheAccountRight) {
  ChunkCache cache(4 * ChunkCache::kChunk);
  cache.Put("/m/a", "v", 0, Chunk('x', 100));
  cache.Put("/m/a", "v", 0, Chunk('y', 10));
  EXPECT_EQ(cache.bytes(), 10u);
  cache.Put("/m/big", "v", 0, Chunk('z', 5 * ChunkCache::kChunk));  // larger than the cache
  EXPECT_EQ(cache.Get("/m/big", "v", 0), nullptr);
  EXPECT_EQ(cache.bytes(), 10u);
}

}  // namespace
}  // namespace sluice::client
