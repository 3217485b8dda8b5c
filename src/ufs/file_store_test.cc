// file:// specifics: a path can never escape the root, '..' and symlinks included.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "ufs/factory.h"
#include "ufs/mount_table.h"
#include "ufs/testing_env.h"

namespace sluice::ufs {
namespace {

namespace fs = std::filesystem;

class FileStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = outer_.path() + "/root";
    fs::create_directories(root_ + "/data");
    std::ofstream(root_ + "/data/ok.txt") << "inside";
    std::ofstream(outer_.path() + "/secret.txt") << "outside";
    auto s = OpenFileStore("file://" + root_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  testing::TempDir outer_;
  std::string root_;
  std::unique_ptr<UnderStore> store_;
};

TEST_F(FileStoreTest, RefusesDotDotEscape) {
  EXPECT_EQ(store_->Stat("../secret.txt").status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(store_->Read("data/../../secret.txt", 0, 10).status().code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(store_->OpenWrite("../evil").status().code(), StatusCode::kPermissionDenied);
  EXPECT_FALSE(fs::exists(outer_.path() + "/evil"));
}

TEST_F(FileStoreTest, RefusesSymlinkEscape) {
  fs::create_symlink(outer_.path() + "/secret.txt", root_ + "/data/link");
  fs::create_symlink(outer_.path(), root_ + "/dirlink");
  EXPECT_EQ(store_->Read("data/link", 0, 10).status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(store_->Read("dirlink/secret.txt", 0, 10).status().code(),
            StatusCode::kPermissionDenied);
  EXPECT_FALSE(store_->OpenWrite("dirlink/planted").ok());
  EXPECT_FALSE(fs::exists(outer_.path() + "/planted"));
  // Listing does not follow the escaping links either.
  ListOptions o;
  auto page = store_->List(o);
  ASSERT_TRUE(page.ok());
  for (const auto& obj : page->objects) EXPECT_EQ(obj.key, "data/ok.txt");
}

TEST_F(FileStoreTest, FollowsSymlinksThatStayInside) {
  fs::create_symlink("ok.txt", root_ + "/data/alias");
  EXPECT_EQ(*store_->Read("data/alias", 0, 100), "inside");
}

// A recursive listing does not loop through a directory linked to itself or a parent.
TEST_F(FileStoreTest, RecursiveListingDoesNotFollowLinkLoops) {
  fs::create_symlink(".", root_ + "/data/self");
  fs::create_symlink("..", root_ + "/data/up");
  fs::create_directories(root_ + "/other");
  std::ofstream(root_ + "/other/x.txt") << "x";
  fs::create_symlink("../other", root_ + "/data/sibling");  // no loop: listed through it
  ListOptions o;
  o.delimiter = "";
  auto page = store_->List(o);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  std::vector<std::string> keys;
  for (const auto& obj : page->objects) keys.push_back(obj.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"data/ok.txt", "data/sibling/x.txt", "other/x.txt"}));
}

// Keys come in S3's order even where a directory's name sorts differently from its keys
// ("a/x" sorts between "a-b" and "a0"), one page after another, and a token skips what
// it covers.
TEST_F(FileStoreTest, ListingPagesFollowKeyOrderAcrossDirectories) {
  for (const char* k : {"t/a-b", "t/a/x", "t/a/y/z", "t/a0", "t/b"}) {
    auto w = store_->OpenWrite(k);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Append(k).ok());
    ASSERT_TRUE((*w)->Close().ok());
  }
  std::vector<std::string> keys;
  ListOptions o;
  o.prefix = "t/";
  o.max_keys = 2;
  for (int pages = 0;; ++pages) {
    ASSERT_LT(pages, 10);
    auto page = store_->List(o);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    for (const auto& obj : page->objects) keys.push_back(obj.key);
    if (!page->truncated) break;
    o.continuation_token = page->next_token;
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"t/a-b", "t/a/x", "t/a/y/z", "t/a0", "t/b"}));

  ListOptions grouped;
  grouped.prefix = "t/";
  grouped.delimiter = "/";
  grouped.start_after = "t/a-b";
  auto page = store_->List(grouped);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->common_prefixes, std::vector<std::string>{"t/a/"});
  std::vector<std::string> objects;
  for (const auto& obj : page->objects) objects.push_back(obj.key);
  EXPECT_EQ(objects, (std::vector<std::string>{"t/a0", "t/b"}));
  grouped.start_after = "t/a/";  // a common prefix as the token: skipped whole
  page = store_->List(grouped);
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->common_prefixes.empty());
  EXPECT_EQ(page->objects.size(), 2u);
}

// A FIFO is no object: reading it fails at once instead of waiting for a writer.
TEST_F(FileStoreTest, ReadingAFifoFailsInsteadOfBlocking) {
  ASSERT_EQ(::mkfifo((root_ + "/data/pipe").c_str(), 0644), 0);
  EXPECT_EQ(store_->Read("data/pipe", 0, 10).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ReadWithInfo("data/pipe", 0, 10).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(FileStoreTest, AbsoluteKeysStayInside) {
  // A leading '/' is part of the namespace path, not the host's root.
  EXPECT_EQ(*store_->Read("/data/ok.txt", 0, 100), "inside");
  EXPECT_EQ(store_->Stat("/etc/passwd").status().code(), StatusCode::kNotFound);
}

TEST_F(FileStoreTest, DeletePrunesEmptyDirectories) {
  auto w = store_->OpenWrite("a/b/c.bin");
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Append("x").ok());
  ASSERT_TRUE((*w)->Close().ok());
  ASSERT_TRUE(store_->Delete("a/b/c.bin").ok());
  EXPECT_FALSE(fs::exists(root_ + "/a"));
  EXPECT_TRUE(fs::exists(root_));
}

TEST(MountTableTest, ResolvesNamespacePaths) {
  MountTable t;
  testing::TempDir d;
  ASSERT_TRUE(t.AddUri("data", "file://" + d.path(), {}).ok());
  auto r = t.Resolve("/data/a/b.txt");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->mount, "data");
  EXPECT_EQ(r->key, "a/b.txt");
  EXPECT_EQ(r->ObjectUri(), "file://" + d.path() + "/a/b.txt");
  EXPECT_EQ(t.Resolve("/").value().mount, "");
  EXPECT_EQ(t.Resolve("/other/x").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(t.Resolve("/data/../etc").status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(t.AddUri("data", "file://" + d.path(), {}).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(t.AddUri("bad/name", "file://" + d.path(), {}).code(), StatusCode::kInvalidArgument);
}

TEST(MountTableTest, ParsesMountSpecs) {
  auto m = ParseMountSpec("data=s3://bucket/prefix?endpoint=http://127.0.0.1:9000");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->first, "data");
  EXPECT_EQ(m->second, "s3://bucket/prefix?endpoint=http://127.0.0.1:9000");
  EXPECT_FALSE(ParseMountSpec("nouri").ok());
  EXPECT_FALSE(ParseMountSpec("=x").ok());
}

TEST(NormalizeKeyTest, CollapsesAndRefuses) {
  EXPECT_EQ(*NormalizeKey("/a//b/./c"), "a/b/c");
  EXPECT_EQ(*NormalizeKey("a/b/"), "a/b/");
  EXPECT_EQ(*NormalizeKey(""), "");
  EXPECT_EQ(NormalizeKey("a/../b").status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(NormalizeKey(std::string("a\0b", 3)).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sluice::ufs

namespace sluice::ufs {
namespace {

TEST_F(FileStoreTest, WrittenObjectsCarryMd5EtagUntilChangedElsewhere) {
  auto w = store_->OpenWrite("etag/x");
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Append("abc").ok());
  auto info = (*w)->Close();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->etag, "900150983cd24fb0d6963f7d28e17f72");  // MD5("abc")
  EXPECT_EQ(store_->Stat("etag/x")->etag, info->etag);
  ListOptions o;
  o.prefix = "etag/";
  EXPECT_EQ(store_->List(o)->objects.at(0).etag, info->etag);
  // Changed behind Sluice's back: the recorded MD5 no longer describes it.
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::ofstream(root_ + "/etag/x", std::ios::app) << "d";
  auto after = store_->Stat("etag/x");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->etag, "");
  EXPECT_NE(after->Version(), info->Version());
  // Files that were never written through Sluice have no ETag either.
  EXPECT_EQ(store_->Stat("data/ok.txt")->etag, "");
}

}  // namespace
}  // namespace sluice::ufs
