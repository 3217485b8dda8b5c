// One contract suite for every UnderStore: the fake, file:// and s3:// (against a real
// s3rver started by the fixture). Each environment makes a fresh, empty store.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>

#include "ufs/factory.h"
#include "ufs/fake_store.h"
#include "ufs/testing_env.h"

namespace sluice::ufs {
namespace {

template <typename Env>
class UnderStoreContractTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { env_ = new Env(); }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }
  void SetUp() override {
    auto s = env_->NewStore();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }

  void Write(const std::string& key, const std::string& data) {
    auto w = store_->OpenWrite(key);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_TRUE((*w)->Append(data).ok());
    auto info = (*w)->Close();
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_EQ(info->size, data.size());
  }

  static inline Env* env_ = nullptr;
  std::unique_ptr<UnderStore> store_;
};

using Envs = ::testing::Types<testing::FakeEnv, testing::FileEnv, testing::S3Env>;
class EnvNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    return T::Name();
  }
};
TYPED_TEST_SUITE(UnderStoreContractTest, Envs, EnvNames);

TYPED_TEST(UnderStoreContractTest, WriteThenStatAndRead) {
  this->Write("dir/a.bin", "hello, world");
  auto info = this->store_->Stat("dir/a.bin");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->size, 12u);
  EXPECT_FALSE(info->is_dir);
  EXPECT_FALSE(info->Version().empty());
  EXPECT_EQ(*this->store_->Read("dir/a.bin", 0, 100), "hello, world");
  EXPECT_EQ(*this->store_->Read("dir/a.bin", 7, 3), "wor");
  EXPECT_EQ(*this->store_->Read("dir/a.bin", 12, 10), "");
  EXPECT_EQ(*this->store_->Read("dir/a.bin", 100, 10), "");
}

TYPED_TEST(UnderStoreContractTest, MissingObjectIsNotFound) {
  EXPECT_EQ(this->store_->Stat("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(this->store_->Read("nope", 0, 1).status().code(), StatusCode::kNotFound);
}

TYPED_TEST(UnderStoreContractTest, ReadWithStaleVersionFailsPrecondition) {
  this->Write("v", "first");
  auto v1 = this->store_->Stat("v");
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ(*this->store_->Read("v", 0, 5, v1->Version()), "first");
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // distinct mtime for file://
  this->Write("v", "second!");
  EXPECT_EQ(this->store_->Read("v", 0, 5, v1->Version()).status().code(),
            StatusCode::kFailedPrecondition);
}

TYPED_TEST(UnderStoreContractTest, ListsSortedWithDelimiterAndPages) {
  for (std::string k : {"p/b", "p/a", "p/sub/x", "p/sub/y", "p/c", "q/z"}) this->Write(k, k);
  ListOptions o;
  o.prefix = "p/";
  o.delimiter = "/";
  auto page = this->store_->List(o);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  std::vector<std::string> keys;
  for (const auto& obj : page->objects) keys.push_back(obj.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"p/a", "p/b", "p/c"}));
  EXPECT_EQ(page->common_prefixes, std::vector<std::string>{"p/sub/"});
  EXPECT_FALSE(page->truncated);

  // Recursive listing in pages of two.
  ListOptions r;
  r.prefix = "p/";
  r.max_keys = 2;
  std::vector<std::string> all;
  for (int guard = 0; guard < 10; ++guard) {
    auto pg = this->store_->List(r);
    ASSERT_TRUE(pg.ok()) << pg.status().ToString();
    for (const auto& obj : pg->objects) all.push_back(obj.key);
    if (!pg->truncated) break;
    ASSERT_FALSE(pg->next_token.empty());
    r.continuation_token = pg->next_token;
  }
  EXPECT_EQ(all, (std::vector<std::string>{"p/a", "p/b", "p/c", "p/sub/x", "p/sub/y"}));

  ListOptions after;
  after.prefix = "p/";
  after.start_after = "p/b";
  auto rest = this->store_->List(after);
  ASSERT_TRUE(rest.ok());
  ASSERT_FALSE(rest->objects.empty());
  EXPECT_EQ(rest->objects.front().key, "p/c");
}

TYPED_TEST(UnderStoreContractTest, WriterIsInvisibleUntilCloseAndAbortLeavesNothing) {
  auto w = this->store_->OpenWrite("pending");
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Append("part one, ").ok());
  EXPECT_EQ(this->store_->Stat("pending").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE((*w)->Append("part two").ok());
  ASSERT_TRUE((*w)->Close().ok());
  EXPECT_EQ(*this->store_->Read("pending", 0, 100), "part one, part two");

  auto w2 = this->store_->OpenWrite("aborted");
  ASSERT_TRUE(w2.ok());
  ASSERT_TRUE((*w2)->Append("zzz").ok());
  (*w2)->Abort();
  EXPECT_EQ(this->store_->Stat("aborted").status().code(), StatusCode::kNotFound);
}

TYPED_TEST(UnderStoreContractTest, DeleteRemoves) {
  this->Write("d/x", "1");
  ASSERT_TRUE(this->store_->Delete("d/x").ok());
  EXPECT_EQ(this->store_->Stat("d/x").status().code(), StatusCode::kNotFound);
}

TYPED_TEST(UnderStoreContractTest, DotDotKeysAreRefused) {
  EXPECT_EQ(this->store_->Stat("../etc/passwd").status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(this->store_->Read("a/../../x", 0, 1).status().code(), StatusCode::kPermissionDenied);
}

TYPED_TEST(UnderStoreContractTest, CountsOperationsInStats) {
  this->Write("s", "abc");
  ASSERT_TRUE(this->store_->Read("s", 0, 3).ok());
  auto st = this->store_->GetStats();
  EXPECT_GE(st.reads, 1u);
  EXPECT_GE(st.bytes_read, 3u);
}

}  // namespace
}  // namespace sluice::ufs
