// S3Store against a real s3rver (started once for the suite): stat, list, ranged reads,
// versions, multipart writes, abort, delete and prefix mounts.
#include "ufs/s3_store.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "ufs/factory.h"
#include "ufs/s3_config.h"
#include "ufs/testing_http_server.h"
#include "ufs/testing_s3rver.h"

namespace sluice::ufs {
namespace {

class S3StoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto s = testing::S3rver::Start();
    if (!s.ok()) {
      start_error_ = new std::string(s.status().ToString());
      return;
    }
    server_ = std::move(s).value().release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete start_error_;
    start_error_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr) << "could not start s3rver: " << *start_error_;
    // Every test works under its own prefix of the shared bucket.
    prefix_ = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    store_ = Open(prefix_);
  }

  std::unique_ptr<UnderStore> Open(const std::string& prefix, S3Options o) {
    auto s = OpenS3Store(server_->Uri(prefix), o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  std::unique_ptr<UnderStore> Open(const std::string& prefix) {
    return Open(prefix, server_->Options());
  }

  static void Write(UnderStore* store, const std::string& key, std::string_view data) {
    auto w = store->OpenWrite(key);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_TRUE((*w)->Append(data).ok());
    auto info = (*w)->Close();
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_EQ(info->size, data.size());
  }
  void Write(const std::string& key, std::string_view data) { Write(store_.get(), key, data); }

  static std::vector<std::string> Keys(const ListPage& page) {
    std::vector<std::string> keys;
    for (const auto& o : page.objects) keys.push_back(o.key);
    return keys;
  }

  static inline testing::S3rver* server_ = nullptr;
  static inline std::string* start_error_ = nullptr;
  std::string prefix_;
  std::unique_ptr<UnderStore> store_;
};

TEST_F(S3StoreTest, StatsObjectsDirectoriesAndMissingKeys) {
  Write("dir/a.bin", "hello, world");
  auto info = store_->Stat("dir/a.bin");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->key, "dir/a.bin");
  EXPECT_EQ(info->size, 12u);
  EXPECT_FALSE(info->is_dir);
  EXPECT_FALSE(info->etag.empty());
  EXPECT_EQ(info->etag.find('"'), std::string::npos);
  EXPECT_GT(info->mtime_ns, 1'600'000'000'000'000'000);
  EXPECT_EQ(info->Version(), info->etag);

  auto dir = store_->Stat("dir");
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  EXPECT_TRUE(dir->is_dir);
  EXPECT_EQ(dir->key, "dir");
  EXPECT_TRUE(store_->Stat("")->is_dir);

  EXPECT_EQ(store_->Stat("missing").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Stat("di").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Read("missing", 0, 10).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Stat("../x").status().code(), StatusCode::kPermissionDenied);
}

TEST_F(S3StoreTest, ListsWithDelimiter) {
  for (std::string k : {"p/b", "p/a", "p/sub/x", "p/sub/y", "p/c", "q/z"}) Write(k, k);
  ListOptions o;
  o.prefix = "p/";
  o.delimiter = "/";
  auto page = store_->List(o);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(Keys(*page), (std::vector<std::string>{"p/a", "p/b", "p/c"}));
  EXPECT_EQ(page->common_prefixes, std::vector<std::string>{"p/sub/"});
  EXPECT_FALSE(page->truncated);
  EXPECT_TRUE(page->next_token.empty());
  EXPECT_EQ(page->objects[0].size, 3u);
  EXPECT_FALSE(page->objects[0].etag.empty());

  ListOptions root;
  root.delimiter = "/";
  page = store_->List(root);
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->objects.empty());
  EXPECT_EQ(page->common_prefixes, (std::vector<std::string>{"p/", "q/"}));
}

TEST_F(S3StoreTest, ListPaginatesWithMaxKeysTokensAndStartAfter) {
  std::vector<std::string> expected;
  for (int i = 0; i < 30; ++i) {
    expected.push_back(fmt::format("k/{:02}", i));
    Write(expected.back(), "x");
  }
  ListOptions o;
  o.prefix = "k/";
  o.max_keys = 7;
  std::vector<std::string> all;
  int pages = 0;
  for (; pages < 10; ++pages) {
    auto page = store_->List(o);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    EXPECT_LE(page->objects.size(), 7u);
    for (auto& k : Keys(*page)) all.push_back(k);
    if (!page->truncated) break;
    ASSERT_FALSE(page->next_token.empty());
    o.continuation_token = page->next_token;
  }
  EXPECT_EQ(all, expected);
  EXPECT_EQ(pages, 4);  // 7 + 7 + 7 + 7 + 2

  ListOptions after;
  after.prefix = "k/";
  after.start_after = "k/20";
  auto rest = store_->List(after);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(Keys(*rest), std::vector<std::string>(expected.begin() + 21, expected.end()));

  ListOptions bad;
  bad.max_keys = 0;
  EXPECT_EQ(store_->List(bad).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(S3StoreTest, ReadsRanges) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data += static_cast<char>('a' + i % 26);
  Write("r", data);
  EXPECT_EQ(*store_->Read("r", 100, 50), data.substr(100, 50));
  EXPECT_EQ(*store_->Read("r", 0, 1000), data);
  EXPECT_EQ(*store_->Read("r", 0, 5000), data);
  EXPECT_EQ(*store_->Read("r", 990, 100), data.substr(990));
  EXPECT_EQ(*store_->Read("r", 1000, 10), "");
  EXPECT_EQ(*store_->Read("r", 5000, 10), "");
  EXPECT_EQ(*store_->Read("r", 10, 0), "");
  auto st = store_->GetStats();
  EXPECT_GE(st.reads, 7u);
  EXPECT_EQ(st.bytes_read, 50u + 1000 + 1000 + 10);
  EXPECT_EQ(st.errors, 0u);
}

TEST_F(S3StoreTest, EmptyObjectsAndKeysNeedingEncoding) {
  Write("empty", "");
  auto info = store_->Stat("empty");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->size, 0u);
  auto empty = store_->Read("empty", 0, 10, info->Version());
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(*empty, "");
  const std::string odd = "sp ace/plus+amp&eq=%25/ü";
  Write(odd, "odd");
  auto odd_data = store_->Read(odd, 0, 10);
  ASSERT_TRUE(odd_data.ok()) << odd_data.status().ToString();
  EXPECT_EQ(*odd_data, "odd");
  ListOptions o;
  o.prefix = "sp ace/";
  auto page = store_->List(o);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(Keys(*page), std::vector<std::string>{odd});
  EXPECT_EQ(store_->Read("", 0, 1).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(S3StoreTest, ReadWithStaleVersionFailsPrecondition) {
  Write("v", "first");
  auto v1 = store_->Stat("v");
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ(*store_->Read("v", 0, 5, v1->Version()), "first");
  Write("v", "second!");
  auto stale = store_->Read("v", 0, 5, v1->Version());
  EXPECT_EQ(stale.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(stale.status().message().find("'v'"), std::string::npos) << stale.status().message();
  EXPECT_EQ(store_->Read("v", 0, 0, v1->Version()).status().code(),
            StatusCode::kFailedPrecondition);
  auto v2 = store_->Stat("v");
  ASSERT_TRUE(v2.ok());
  EXPECT_NE(v2->Version(), v1->Version());
  EXPECT_EQ(*store_->Read("v", 0, 7, v2->Version()), "second!");
}

TEST_F(S3StoreTest, MultipartWriteRoundTrips) {
  S3Options o = server_->Options();
  o.part_size = 5 * kMiB;
  o.multipart_threshold = 5 * kMiB;
  auto store = Open(prefix_, o);
  std::string data(12 * kMiB + 12345, '\0');
  uint64_t x = 88172645463325252ull;
  for (char& c : data) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = static_cast<char>(x);
  }
  auto w = store->OpenWrite("big/object");
  ASSERT_TRUE(w.ok());
  for (size_t off = 0; off < data.size(); off += kMiB) {
    ASSERT_TRUE((*w)->Append(std::string_view(data).substr(off, kMiB)).ok());
  }
  // Two parts are uploaded by now, yet nothing is visible under the key.
  EXPECT_EQ(store->Stat("big/object").status().code(), StatusCode::kNotFound);
  auto info = (*w)->Close();
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->size, data.size());
  auto st = store->Stat("big/object");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->size, data.size());
  EXPECT_EQ(st->etag, info->etag);
  // Written with no type, it is stored as PutObject stores one (curl's POST default,
  // application/x-www-form-urlencoded, must not become the object's type).
  if (st->headers != nullptr) {
    for (const auto& [name, value] : *st->headers) {
      if (name == "content-type") {
        EXPECT_NE(value, "application/x-www-form-urlencoded");
      }
    }
  }
  auto back = store->Read("big/object", 0, data.size() + 10, info->etag);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == data) << "multipart object differs from what was written";
  EXPECT_EQ(*store->Read("big/object", 5 * kMiB - 3, 6), data.substr(5 * kMiB - 3, 6));
  EXPECT_EQ(store->GetStats().bytes_written, data.size());
}

TEST_F(S3StoreTest, AbortLeavesNothing) {
  S3Options o = server_->Options();
  o.part_size = 5 * kMiB;
  o.multipart_threshold = 5 * kMiB;
  auto store = Open(prefix_, o);
  {
    auto w = store->OpenWrite("multi");
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Append(std::string(6 * kMiB, 'm')).ok());  // multipart has started
    (*w)->Abort();
    EXPECT_EQ((*w)->Append("more").code(), StatusCode::kFailedPrecondition);
  }
  {
    auto w = store->OpenWrite("small");
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Append("zzz").ok());
    (*w)->Abort();
  }
  {
    auto w = store->OpenWrite("dropped");  // destroyed without Close: discarded
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Append("zzz").ok());
  }
  for (const char* k : {"multi", "small", "dropped"}) {
    EXPECT_EQ(store->Stat(k).status().code(), StatusCode::kNotFound) << k;
  }
  auto page = store->List({});
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->objects.empty());
}

TEST_F(S3StoreTest, DeleteThenStatIsNotFound) {
  Write("d/x", "1");
  ASSERT_TRUE(store_->Delete("d/x").ok());
  EXPECT_EQ(store_->Stat("d/x").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Stat("d").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->Delete("d/x").ok());  // as in S3: deleting nothing succeeds
  EXPECT_GE(store_->GetStats().deletes, 2u);
}

TEST_F(S3StoreTest, PrefixMountsSeeOnlyTheirKeys) {
  Write("pre/a", "A");
  Write("pre/sub/b", "B");
  Write("prefix-sibling", "S");
  Write("other/c", "C");
  auto mount = Open(prefix_ + "/pre");
  ASSERT_NE(mount, nullptr);
  EXPECT_EQ(mount->Uri(), fmt::format("s3://{}/{}/pre", server_->bucket(), prefix_));
  auto page = mount->List({});
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(Keys(*page), (std::vector<std::string>{"a", "sub/b"}));
  ListOptions o;
  o.delimiter = "/";
  page = mount->List(o);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(Keys(*page), std::vector<std::string>{"a"});
  EXPECT_EQ(page->common_prefixes, std::vector<std::string>{"sub/"});
  ListOptions after;
  after.start_after = "a";
  page = mount->List(after);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(Keys(*page), std::vector<std::string>{"sub/b"});

  EXPECT_EQ(*mount->Read("a", 0, 10), "A");
  EXPECT_TRUE(mount->Stat("sub")->is_dir);
  EXPECT_EQ(mount->Stat("prefix-sibling").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(mount->Stat("../other/c").status().code(), StatusCode::kPermissionDenied);
  Write(mount.get(), "new", "N");
  EXPECT_EQ(*store_->Read("pre/new", 0, 10), "N");
}

TEST_F(S3StoreTest, ConcurrentReadsShareOneStore) {
  Write("shared", std::string(4096, 's'));
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        auto r = store_->Read("shared", static_cast<uint64_t>(i) * 100, 100);
        if (r.ok() && *r == std::string(100, 's')) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 80);
}

TEST_F(S3StoreTest, OpensThroughTheFactory) {
  UnderStoreOptions o;
  o.s3 = server_->Options();
  auto s = OpenUnderStore(server_->Uri(prefix_), o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  Write(s->get(), "via-factory", "F");
  EXPECT_EQ(*store_->Read("via-factory", 0, 1), "F");
}

// Credentials from a container endpoint (ECS, EKS Pod Identity) sign every request; the
// store uses what the endpoint hands out, and fails clearly when it cannot get any.
TEST_F(S3StoreTest, SignsWithCredentialsFetchedFromAContainerEndpoint) {
  std::atomic<int> fetches{0};
  std::string key = "S3RVER";
  std::mutex mu;
  testing::TestHttpServer endpoint([&](const testing::TestHttpRequest& r) {
    if (r.target != "/creds" || r.Header("authorization") != "tok") {
      return testing::TestHttpResponse::Make(403);
    }
    ++fetches;
    std::lock_guard lock(mu);
    return testing::TestHttpResponse::Make(
        200, R"({"AccessKeyId":")" + key + R"(","SecretAccessKey":"S3RVER",)"
             R"("Expiration":"2100-01-01T00:00:00Z"})");
  });
  ASSERT_TRUE(endpoint.ok());
  std::map<std::string, std::string> env{{"HOME", "/nonexistent-home"},
                                         {"AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                          endpoint.url() + "/creds"},
                                         {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "tok"}};
  auto getter = [&](const char* name) -> std::optional<std::string> {
    auto it = env.find(name);
    return it == env.end() ? std::nullopt : std::optional(it->second);
  };
  S3Options o = server_->Options();
  o.access_key.clear();
  o.secret_key.clear();
  auto open = [&] {
    auto config = ResolveS3Config(server_->Uri(prefix_), o, getter);
    EXPECT_TRUE(config.ok()) << config.status().ToString();
    EXPECT_NE(config->credentials, nullptr);
    return std::make_unique<S3Store>(*config, o);
  };
  auto store = open();
  EXPECT_EQ(fetches.load(), 0);  // nothing fetched before the first request
  Write(store.get(), "k", "signed");
  auto got = store->Read("k", 0, 6);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "signed");
  EXPECT_EQ(fetches.load(), 1);  // kept until they near their expiration

  {
    std::lock_guard lock(mu);
    key = "WRONGKEY";  // s3rver checks signatures: the fetched key is the one used
  }
  auto wrong = open()->Read("k", 0, 6);
  EXPECT_EQ(wrong.status().code(), StatusCode::kPermissionDenied) << wrong.status().ToString();

  env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "bad";  // the endpoint refuses: no credentials
  auto none = open()->Read("k", 0, 6);
  EXPECT_EQ(none.status().code(), StatusCode::kUnavailable) << none.status().ToString();
  EXPECT_NE(none.status().message().find("container credentials"), std::string::npos)
      << none.status().ToString();
}

}  // namespace
}  // namespace sluice::ufs
