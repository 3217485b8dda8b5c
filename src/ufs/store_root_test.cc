// StoreRoot: one typed suite over the file root (a temp directory) and the S3 root (a real
// s3rver started once per suite), plus URI classification and the factory's refusal.
#include "ufs/store_root.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>

#include "ufs/factory.h"
#include "ufs/mount_table.h"
#include "ufs/s3_config.h"
#include "ufs/testing_env.h"
#include "ufs/testing_s3rver.h"

namespace sluice::ufs {
namespace {

constexpr char kConfigured[] = "configured-bucket";

struct FileRootEnv {
  static std::string Name() { return "File"; }
  FileRootEnv() { mkdir((dir.path() + "/" + kConfigured).c_str(), 0755); }
  Status Init() { return Status::OK(); }
  std::string Uri() const { return "file://" + dir.path() + "/?buckets"; }
  UnderStoreOptions Options() const { return {}; }
  testing::TempDir dir;
};

struct S3RootEnv {
  static std::string Name() { return "S3"; }
  Status Init() {
    SLUICE_ASSIGN_OR_RETURN(server, testing::S3rver::Start(kConfigured));
    return Status::OK();
  }
  std::string Uri() const { return "s3://?endpoint=" + server->endpoint(); }
  UnderStoreOptions Options() const {
    UnderStoreOptions o;
    o.s3 = server->Options();
    return o;
  }
  std::unique_ptr<testing::S3rver> server;
};

template <typename Env>
class StoreRootTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env_ = new Env();
    init_ = env_->Init();
  }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(init_.ok()) << init_.ToString();
    auto r = OpenStoreRoot(env_->Uri(), env_->Options());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    root_ = std::move(r).value();
  }

  std::vector<std::string> Names() {
    auto list = root_->ListBuckets();
    EXPECT_TRUE(list.ok()) << list.status().ToString();
    std::vector<std::string> names;
    if (list.ok()) {
      for (const BucketInfo& b : *list) names.push_back(b.name);
    }
    return names;
  }
  bool Listed(const std::string& name) {
    std::vector<std::string> names = Names();
    return std::find(names.begin(), names.end(), name) != names.end();
  }

  static inline Env* env_ = nullptr;
  static inline Status init_;
  std::unique_ptr<StoreRoot> root_;
};

using Envs = ::testing::Types<FileRootEnv, S3RootEnv>;
class EnvNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    return T::Name();
  }
};
TYPED_TEST_SUITE(StoreRootTest, Envs, EnvNames);

TYPED_TEST(StoreRootTest, ListsConfiguredBucket) {
  auto list = this->root_->ListBuckets();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  auto it = std::find_if(list->begin(), list->end(),
                         [](const BucketInfo& b) { return b.name == kConfigured; });
  ASSERT_NE(it, list->end());
  EXPECT_GT(it->creation_ns, 0);
}

TYPED_TEST(StoreRootTest, CreateFillEmptyAndDeleteBucket) {
  const std::string name = "fresh.bucket-1";
  ASSERT_FALSE(this->Listed(name));
  ASSERT_TRUE(this->root_->CreateBucket(name).ok());
  EXPECT_TRUE(this->Listed(name));
  EXPECT_EQ(this->root_->CreateBucket(name).code(), StatusCode::kAlreadyExists);

  auto store = this->root_->OpenBucket(name);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto w = (*store)->OpenWrite("dir/obj");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE((*w)->Append("payload").ok());
  ASSERT_TRUE((*w)->Close().ok());

  Status busy = this->root_->DeleteBucket(name);
  EXPECT_EQ(busy.code(), StatusCode::kFailedPrecondition) << busy.ToString();
  EXPECT_TRUE(busy.message().starts_with("BucketNotEmpty:")) << busy.ToString();
  EXPECT_TRUE(this->Listed(name));

  ASSERT_TRUE((*store)->Delete("dir/obj").ok());
  Status gone = this->root_->DeleteBucket(name);
  ASSERT_TRUE(gone.ok()) << gone.ToString();
  EXPECT_FALSE(this->Listed(name));
  EXPECT_EQ(this->root_->DeleteBucket(name).code(), StatusCode::kNotFound);
  EXPECT_EQ(this->root_->OpenBucket(name).status().code(), StatusCode::kNotFound);
}

TYPED_TEST(StoreRootTest, OpenBucketReadsWhatTheBucketHolds) {
  auto store = this->root_->OpenBucket(kConfigured);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto w = (*store)->OpenWrite("k");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE((*w)->Append("value").ok());
  ASSERT_TRUE((*w)->Close().ok());
  auto again = this->root_->OpenBucket(kConfigured);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*(*again)->Read("k", 0, 100), "value");
  EXPECT_TRUE((*again)->Delete("k").ok());
}

TYPED_TEST(StoreRootTest, MissingBucketIsNotFound) {
  EXPECT_EQ(this->root_->OpenBucket("no-such-bucket").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(this->root_->DeleteBucket("no-such-bucket").code(), StatusCode::kNotFound);
}

TYPED_TEST(StoreRootTest, RefusesInvalidBucketNames) {
  const std::vector<std::string> bad_names = {"ab",     "UPPER", "under_score",       "-lead",
                                              "trail-", "a..b",  "192.168.1.1",       ".hidden",
                                              "a/b",    "../x",  std::string(64, 'a')};
  for (const std::string& bad : bad_names) {
    SCOPED_TRACE(bad);
    Status c = this->root_->CreateBucket(bad);
    EXPECT_EQ(c.code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(c.message().starts_with("InvalidBucketName:")) << c.ToString();
    EXPECT_EQ(this->root_->DeleteBucket(bad).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(this->root_->OpenBucket(bad).status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(this->root_->CreateBucket(std::string(63, 'a')).ok());
  EXPECT_TRUE(this->root_->DeleteBucket(std::string(63, 'a')).ok());
}

TEST(MountTableRootsTest, ABucketIsFoundInTheRootThatHoldsIt) {
  testing::TempDir a, b;
  mkdir((b.path() + "/only-in-b").c_str(), 0755);
  MountTable mounts;
  for (const auto* dir : {&a, &b}) {
    auto root = OpenStoreRoot("file://" + dir->path() + "/?buckets", {});
    ASSERT_TRUE(root.ok()) << root.status().ToString();
    ASSERT_TRUE(mounts.AddRoot(dir == &a ? "a" : "b", "file://" + dir->path() + "/?buckets",
                               std::shared_ptr<StoreRoot>(std::move(root).value()))
                    .ok());
  }
  auto root = mounts.RootOf("only-in-b");
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  EXPECT_EQ(root->name, "b");
  ASSERT_TRUE(root->root->DeleteBucket("only-in-b").ok());
  struct stat st;
  EXPECT_NE(::stat((b.path() + "/only-in-b").c_str(), &st), 0);  // deleted where it was
  EXPECT_TRUE(mounts.RootOf("only-in-b").status().Is(StatusCode::kNotFound));
}

TEST(StoreRootUriTest, ClassifiesUris) {
  EXPECT_TRUE(IsStoreRootUri("s3://"));
  EXPECT_TRUE(IsStoreRootUri("s3://?endpoint=http://127.0.0.1:9000&region=r"));
  EXPECT_TRUE(IsStoreRootUri("file:///data/store?buckets"));
  EXPECT_FALSE(IsStoreRootUri("s3://bucket"));
  EXPECT_FALSE(IsStoreRootUri("s3://bucket/prefix?endpoint=http://x"));
  EXPECT_FALSE(IsStoreRootUri("file:///data/store"));
  EXPECT_FALSE(IsStoreRootUri("file:///data/store?other"));
  EXPECT_FALSE(IsStoreRootUri("http://host/?buckets"));
  EXPECT_FALSE(IsStoreRootUri("mem://x"));
}

TEST(StoreRootUriTest, FactoriesKeepRootsAndBucketsApart) {
  testing::TempDir dir;
  Result<std::unique_ptr<UnderStore>> store = OpenUnderStore("file://" + dir.path() + "?buckets");
  EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(store.status().message().find("names a whole store"), std::string::npos);
  EXPECT_EQ(OpenUnderStore("s3://?endpoint=http://127.0.0.1:1").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenStoreRoot("file://" + dir.path()).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenStoreRoot("s3://b?endpoint=http://127.0.0.1:1").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenStoreRoot("file:///no/such/dir?buckets").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(OpenStoreRoot("file://relative?buckets").status().code(), StatusCode::kInvalidArgument);
}

TEST(StoreRootUriTest, RootUrisAreNormalised) {
  testing::TempDir dir;
  auto file = OpenStoreRoot("file://" + dir.path() + "//?buckets");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ((*file)->Uri(), "file://" + dir.path() + "?buckets");
  auto s3 = OpenStoreRoot("s3://?endpoint=http://127.0.0.1:1/&region=r");
  ASSERT_TRUE(s3.ok()) << s3.status().ToString();
  EXPECT_EQ((*s3)->Uri(), "s3://");
}

TEST(StoreRootUriTest, S3RootConfigHasNoBucket) {
  auto env = [](const char*) -> std::optional<std::string> { return std::nullopt; };
  auto c = ResolveS3Config("s3://?endpoint=http://h:1&region=r", {}, env, BucketRule::kNone);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->bucket, "");
  EXPECT_EQ(c->endpoint, "http://h:1");
  EXPECT_EQ(c->addressing, "path");
  EXPECT_EQ(ResolveS3Config("s3://b", {}, env, BucketRule::kNone).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveS3Config("s3://", {}, env).status().code(), StatusCode::kInvalidArgument);
}

TEST(FileStoreRootTest, ListsOnlyBucketDirectories) {
  testing::TempDir dir;
  for (const char* d : {"/.hidden", "/real-bucket", "/Not_A_Bucket"}) {
    mkdir((dir.path() + d).c_str(), 0755);
  }
  std::ofstream(dir.path() + "/plain-file") << "x";
  auto root = OpenStoreRoot("file://" + dir.path() + "?buckets");
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  auto list = (*root)->ListBuckets();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "real-bucket");
  EXPECT_EQ((*root)->OpenBucket("plain-file").status().code(), StatusCode::kNotFound);
  EXPECT_EQ((*root)->CreateBucket("plain-file").code(), StatusCode::kAlreadyExists);
}

// A bucket holding only what crashed writers left (their temporary files, the directories
// they were in) is empty: DeleteBucket removes it. A live writer's file, or an object, keeps
// the bucket.
TEST(FileStoreRootTest, DeleteBucketSweepsWhatDeadWritersLeft) {
  testing::TempDir dir;
  const pid_t dead = fork();
  if (dead == 0) _exit(0);
  ASSERT_GT(dead, 0);
  ASSERT_EQ(waitpid(dead, nullptr, 0), dead);
  const std::string stale = fmt::format("{}{}-0", kFileTempPrefix, dead);
  const std::string live = fmt::format("{}{}-0", kFileTempPrefix, getpid());
  for (const char* b : {"/crashed", "/writing", "/holds"}) mkdir((dir.path() + b).c_str(), 0755);
  mkdir((dir.path() + "/crashed/a").c_str(), 0755);
  mkdir((dir.path() + "/crashed/a/b").c_str(), 0755);
  std::ofstream(dir.path() + "/crashed/a/b/" + stale) << "half";
  std::ofstream(dir.path() + "/crashed/" + stale) << "half";
  std::ofstream(dir.path() + "/writing/" + live) << "going on";
  std::ofstream(dir.path() + "/holds/" + stale) << "half";
  std::ofstream(dir.path() + "/holds/object") << "kept";
  auto root = OpenStoreRoot("file://" + dir.path() + "?buckets");
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  EXPECT_TRUE((*root)->DeleteBucket("crashed").ok());
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/crashed"));
  EXPECT_EQ((*root)->DeleteBucket("writing").code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/writing/" + live));
  EXPECT_EQ((*root)->DeleteBucket("holds").code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/holds/object"));
}

}  // namespace
}  // namespace sluice::ufs
