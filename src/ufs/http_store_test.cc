// HttpStore against the in-test HTTP server serving static files with Range support.
#include "ufs/http_store.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "ufs/factory.h"
#include "ufs/testing_http_server.h"

namespace sluice::ufs {
namespace {

using testing::StaticFiles;
using testing::TestHttpRequest;
using testing::TestHttpResponse;
using testing::TestHttpServer;

class HttpStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<UnderStore> Open(const TestHttpServer& server, const std::string& base,
                                   HttpOptions o = {}) {
    auto s = OpenHttpStore(server.url() + base, o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }
};

TEST_F(HttpStoreTest, StatsAndReadsRanges) {
  StaticFiles files;
  std::string data;
  for (int i = 0; i < 500; ++i) data += static_cast<char>('A' + i % 26);
  files.Put("/base/dir/file.bin", data);
  files.Put("/base/with%20space", "spaced");
  TestHttpServer server(files.AsHandler());
  ASSERT_TRUE(server.ok());
  auto store = Open(server, "/base/");
  EXPECT_EQ(store->Uri(), server.url() + "/base");

  auto info = store->Stat("dir/file.bin");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->size, 500u);
  EXPECT_EQ(info->etag, "etag-1");
  EXPECT_GT(info->mtime_ns, 0);
  EXPECT_FALSE(info->is_dir);

  EXPECT_EQ(*store->Read("dir/file.bin", 100, 20), data.substr(100, 20));
  EXPECT_EQ(*store->Read("dir/file.bin", 0, 1000), data);
  EXPECT_EQ(*store->Read("dir/file.bin", 490, 100), data.substr(490));
  EXPECT_EQ(*store->Read("dir/file.bin", 500, 10), "");
  EXPECT_EQ(*store->Read("dir/file.bin", 9000, 10), "");
  EXPECT_EQ(*store->Read("with space", 0, 100), "spaced");

  EXPECT_EQ(store->Stat("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Read("nope", 0, 1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Stat("../etc/passwd").status().code(), StatusCode::kPermissionDenied);
  auto st = store->GetStats();
  EXPECT_EQ(st.bytes_read, 20u + 500 + 10 + 6);
  EXPECT_EQ(st.errors, 1u);  // the '..' key; a missing key is not an error
}

TEST_F(HttpStoreTest, ReadWithStaleVersionFailsPrecondition) {
  StaticFiles files;
  files.Put("/f", "version one");
  TestHttpServer server(files.AsHandler());
  auto store = Open(server, "");
  auto v1 = store->Stat("f");
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ(*store->Read("f", 0, 7, v1->Version()), "version");
  files.Put("/f", "version two");
  EXPECT_EQ(store->Read("f", 0, 7, v1->Version()).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->Read("f", 0, 0, v1->Version()).status().code(), StatusCode::kFailedPrecondition);
  auto v2 = store->Stat("f");
  EXPECT_EQ(*store->Read("f", 8, 3, v2->Version()), "two");
}

TEST_F(HttpStoreTest, VersionsFromSizeAndMtimeWithoutETags) {
  StaticFiles files(/*with_etags=*/false);
  files.Put("/f", "short");
  TestHttpServer server(files.AsHandler());
  auto store = Open(server, "");
  auto v1 = store->Stat("f");
  ASSERT_TRUE(v1.ok());
  EXPECT_TRUE(v1->etag.empty());
  EXPECT_EQ(v1->Version(), fmt::format("s5-m{}", v1->mtime_ns));
  EXPECT_EQ(*store->Read("f", 1, 3, v1->Version()), "hor");
  files.Put("/f", "longer!");
  EXPECT_EQ(store->Read("f", 1, 3, v1->Version()).status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(HttpStoreTest, WorksWithOriginsThatIgnoreRange) {
  StaticFiles files;
  files.Put("/f", "0123456789");
  TestHttpServer server([&](const TestHttpRequest& r) {
    TestHttpRequest no_range = r;
    no_range.headers.erase("range");
    return files.Handle(no_range);
  });
  auto store = Open(server, "");
  EXPECT_EQ(*store->Read("f", 3, 4), "3456");
  EXPECT_EQ(*store->Read("f", 10, 4), "");
}

// An origin whose ranged answers name no total ("bytes 3-6/*"): the size comes from a
// HEAD, never from the part's length, and reads at the HEAD's version still work.
TEST_F(HttpStoreTest, PartsOfUnknownTotalDoNotSetTheSize) {
  StaticFiles files(/*with_etags=*/false);
  files.Put("/f", "0123456789");
  TestHttpServer server([&](const TestHttpRequest& r) {
    TestHttpResponse resp = files.Handle(r);
    for (auto& [name, value] : resp.headers) {
      if (name == "Content-Range") value = value.substr(0, value.rfind('/')) + "/*";
    }
    return resp;
  });
  auto store = Open(server, "");
  auto got = store->ReadWithInfo("f", 3, 4);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->data, "3456");
  EXPECT_EQ(got->info.size, 10u);
  auto st = store->Stat("f");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(got->info.Version(), st->Version());
  EXPECT_EQ(*store->Read("f", 3, 4, st->Version()), "3456");
}

TEST_F(HttpStoreTest, WritesListAndDeleteAreUnimplemented) {
  StaticFiles files;
  TestHttpServer server(files.AsHandler());
  auto store = Open(server, "/b");
  EXPECT_EQ(store->OpenWrite("k").status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(store->Delete("k").code(), StatusCode::kUnimplemented);
  EXPECT_EQ(store->List({}).status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(server.requests(), 0);
}

TEST_F(HttpStoreTest, RetriesServerErrors) {
  StaticFiles files;
  files.Put("/f", "data");
  std::atomic<int> failures{2};
  TestHttpServer server([&](const TestHttpRequest& r) {
    if (failures.fetch_sub(1) > 0) return TestHttpResponse::Make(500);
    return files.Handle(r);
  });
  auto store = Open(server, "");
  EXPECT_EQ(*store->Read("f", 0, 4), "data");
  EXPECT_EQ(store->GetStats().retries, 2u);
  failures = 100;
  HttpOptions o;
  o.max_retries = 1;
  auto strict = Open(server, "", o);
  EXPECT_EQ(strict->Stat("f").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(strict->GetStats().retries, 1u);
}

TEST_F(HttpStoreTest, RejectsBadUris) {
  EXPECT_EQ(OpenHttpStore("ftp://x/y", {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenHttpStore("http://", {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenHttpStore("http://h/x?q=1", {}).status().code(), StatusCode::kInvalidArgument);
  auto s = OpenUnderStore("https://example.invalid/base/");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->Uri(), "https://example.invalid/base");
}

}  // namespace
}  // namespace sluice::ufs
