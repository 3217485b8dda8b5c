#include "worker/config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "worker/cluster.h"

namespace sluice::worker {
namespace {

TEST(WorkerConfigTest, SampleConfigLoadsAndValidates) {
  auto c = LoadWorkerConfig(std::string(SLUICE_SOURCE_DIR) + "/deploy/sluice.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->pages.memory, kGiB);
  EXPECT_EQ(c->cache.page_size, kMiB);
  EXPECT_EQ(c->cache.metadata_ttl, std::chrono::seconds(30));
  ASSERT_EQ(c->mounts.size(), 1u);
  EXPECT_EQ(c->mounts[0].uri, "file:///srv/data");
  EXPECT_TRUE(c->Validate().ok());
}

TEST(WorkerConfigTest, OverridesDefaults) {
  WorkerConfig c;
  ASSERT_TRUE(ApplyWorkerYaml(R"(
memory: 256MiB
eviction: none
cache_dirs:
  - {path: /tmp/x, quota: 10GiB}
cache: {page_size: 4MiB, metadata_ttl: 500ms}
s3: {max_retries: 2}
)",
                              &c)
                  .ok());
  EXPECT_EQ(c.pages.memory, 256 * kMiB);
  EXPECT_EQ(c.pages.eviction, "none");
  ASSERT_EQ(c.pages.cache_dirs.size(), 1u);
  EXPECT_EQ(c.pages.cache_dirs[0].quota, 10 * kGiB);
  EXPECT_EQ(c.cache.page_size, 4 * kMiB);
  EXPECT_EQ(c.cache.metadata_ttl, std::chrono::milliseconds(500));
  EXPECT_EQ(c.ufs.s3.max_retries, 2);
}

TEST(WorkerConfigTest, RejectsTyposAndBadValues) {
  WorkerConfig c;
  EXPECT_EQ(ApplyWorkerYaml("memroy: 1GiB", &c).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ApplyWorkerYaml("memory: lots", &c).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ApplyWorkerYaml("cache: {page_size: 1KiB}", &c).code(), StatusCode::kOk);
  EXPECT_EQ(c.Validate().code(), StatusCode::kInvalidArgument);  // page size too small
  WorkerConfig d;
  EXPECT_EQ(ApplyWorkerYaml("eviction: random", &d).code(), StatusCode::kOk);
  EXPECT_EQ(d.Validate().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ApplyWorkerYaml("{{{", &d).code(), StatusCode::kInvalidArgument);
  // Numbers out of their field's range are errors, not wrapped (-1 pages: 4 billion).
  WorkerConfig e;
  Status wrapped = ApplyWorkerYaml("cache: {max_fetch_pages: -1}", &e);
  EXPECT_EQ(wrapped.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(wrapped.message().find("max_fetch_pages"), std::string::npos) << wrapped.ToString();
  EXPECT_EQ(ApplyWorkerYaml("server: {io_threads: 4294967297}", &e).code(),
            StatusCode::kInvalidArgument);
  WorkerConfig loud;
  ASSERT_TRUE(ApplyWorkerYaml("log_level: loud", &loud).ok());
  EXPECT_EQ(loud.Validate().code(), StatusCode::kInvalidArgument);  // was ignored silently
  EXPECT_EQ(LoadWorkerConfig("/nonexistent.yaml").status().code(), StatusCode::kNotFound);
}

TEST(WorkerConfigTest, ReadsClusterSettings) {
  WorkerConfig c;
  ASSERT_TRUE(ApplyWorkerYaml(R"(
peers: ["127.0.0.1:7480", "127.0.0.1:7481"]
cluster_name: prod
advertise: 10.0.0.1:7480
lease_ttl: 2s
forward_timeout: 5s
placement:
  policy: ketama
  virtual_points: 200
  block_size: 16MiB
  replicas: 2
  replica_rules: [{prefix: /models/, replicas: 3}]
)",
                              &c)
                  .ok());
  EXPECT_EQ(c.cluster.peers.size(), 2u);
  EXPECT_EQ(c.cluster.name, "prod");
  EXPECT_EQ(c.cluster.advertise, "10.0.0.1:7480");
  EXPECT_EQ(c.cluster.lease_ttl, std::chrono::seconds(2));
  EXPECT_EQ(c.cluster.forward_timeout, std::chrono::seconds(5));
  EXPECT_EQ(c.cluster.ring.policy, "ketama");
  EXPECT_EQ(c.cluster.ring.block_size, 16 * kMiB);
  ASSERT_EQ(c.cluster.ring.replica_rules.size(), 1u);
  EXPECT_EQ(c.cluster.ring.replica_rules[0].replicas, 3);
  EXPECT_TRUE(c.cluster.Validate().ok());

  WorkerConfig both;
  ASSERT_TRUE(ApplyWorkerYaml("peers: a:1\netcd: http://127.0.0.1:2379", &both).ok());
  EXPECT_EQ(both.cluster.Validate().code(), StatusCode::kInvalidArgument);
  WorkerConfig quick;
  ASSERT_TRUE(ApplyWorkerYaml("forward_timeout: 100ms", &quick).ok());
  EXPECT_EQ(quick.cluster.Validate().code(), StatusCode::kInvalidArgument);

  // A wildcard listen address is no member id for a cluster beyond this host.
  ClusterConfig multi;
  multi.peers = {"10.0.0.1:7480", "10.0.0.2:7480"};
  auto refused = Cluster::Create(multi, "0.0.0.0:7480");
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("--advertise"), std::string::npos);
  multi.advertise = "10.0.0.1:7480";
  EXPECT_TRUE(Cluster::Create(multi, "0.0.0.0:7480").ok());
  ClusterConfig local;
  local.peers = {"127.0.0.1:7480,127.0.0.1:7481"};  // as --peers gives them
  auto here = Cluster::Create(local, "0.0.0.0:7480");
  ASSERT_TRUE(here.ok()) << here.status().ToString();
  EXPECT_EQ((*here)->self().id, "127.0.0.1:7480");

  WorkerConfig bad;
  ASSERT_TRUE(ApplyWorkerYaml("placement: {policy: rendezvous}", &bad).ok());
  EXPECT_EQ(bad.Validate().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ApplyWorkerYaml("placement: {polcy: maglev}", &bad).code(),
            StatusCode::kInvalidArgument);
}

TEST(WorkerConfigTest, ParsesCacheDirSpecs) {
  auto d = ParseCacheDir("/mnt/nvme:100GiB");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->path, "/mnt/nvme");
  EXPECT_EQ(d->quota, 100 * kGiB);
  EXPECT_FALSE(ParseCacheDir("/mnt/nvme").ok());
  EXPECT_FALSE(ParseCacheDir("/mnt/nvme:lots").ok());
}

}  // namespace
}  // namespace sluice::worker
