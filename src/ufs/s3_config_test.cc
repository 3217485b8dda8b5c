// Resolution of s3:// URIs, options, environment and shared credentials (no network).
#include "ufs/s3_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "ufs/testing_env.h"

namespace sluice::ufs {
namespace {

class S3ConfigTest : public ::testing::Test {
 protected:
  EnvGetter Env() {
    return [this](const char* name) -> std::optional<std::string> {
      auto it = env_.find(name);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
  }
  Result<S3Config> Resolve(const std::string& uri, const S3Options& o = {}) {
    return ResolveS3Config(uri, o, Env());
  }
  std::string WriteCredentials(const std::string& text) {
    std::string path = dir_.path() + "/credentials";
    std::ofstream(path) << text;
    return path;
  }

  std::map<std::string, std::string> env_{{"HOME", "/nonexistent-home"}};
  testing::TempDir dir_;
};

TEST_F(S3ConfigTest, ParsesBucketPrefixAndQuery) {
  auto c = Resolve("s3://bkt/a//b/?endpoint=http%3A%2F%2F127.0.0.1%3A9000/&region=eu-west-1");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->bucket, "bkt");
  EXPECT_EQ(c->prefix, "a/b/");
  EXPECT_EQ(c->uri, "s3://bkt/a/b");
  EXPECT_EQ(c->endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(c->region, "eu-west-1");
  EXPECT_EQ(c->addressing, "path");
  EXPECT_EQ(c->ObjectUrl("a/b/x y+z"), "http://127.0.0.1:9000/bkt/a/b/x%20y%2Bz");
  EXPECT_TRUE(c->access_key.empty());
}

TEST_F(S3ConfigTest, DefaultsToAwsVirtualHostedStyle) {
  auto c = Resolve("s3://bkt");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->region, "us-east-1");
  EXPECT_EQ(c->endpoint, "https://s3.us-east-1.amazonaws.com");
  EXPECT_EQ(c->addressing, "virtual");
  EXPECT_EQ(c->ObjectUrl("k"), "https://bkt.s3.us-east-1.amazonaws.com/k");
  EXPECT_EQ(c->uri, "s3://bkt");
  // A dotted bucket would not match the certificate as a host name.
  auto dotted = Resolve("s3://my.bucket/x");
  ASSERT_TRUE(dotted.ok());
  EXPECT_EQ(dotted->addressing, "path");
  EXPECT_EQ(dotted->ObjectUrl("k"), "https://s3.us-east-1.amazonaws.com/my.bucket/k");
}

TEST_F(S3ConfigTest, RejectsBadUris) {
  EXPECT_EQ(Resolve("s3://").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Resolve("s3://b?bogus=1").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Resolve("s3://b?endpoint=ftp://x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Resolve("s3://b?addressing=weird").status().code(), StatusCode::kInvalidArgument);
  S3Options huge_parts;
  huge_parts.part_size = 6 * kGiB;  // S3 refuses parts over 5 GiB
  huge_parts.multipart_threshold = 6 * kGiB;
  EXPECT_EQ(huge_parts.Validate().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Resolve("s3://b/../x").status().code(), StatusCode::kPermissionDenied);
}

TEST_F(S3ConfigTest, EndpointAndRegionPrecedence) {
  env_["AWS_ENDPOINT_URL"] = "http://generic:1";
  env_["AWS_DEFAULT_REGION"] = "default-region";
  auto c = Resolve("s3://b");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->endpoint, "http://generic:1");
  EXPECT_EQ(c->region, "default-region");

  env_["AWS_ENDPOINT_URL_S3"] = "http://s3-specific:2";
  env_["AWS_REGION"] = "region";
  c = Resolve("s3://b");
  EXPECT_EQ(c->endpoint, "http://s3-specific:2");
  EXPECT_EQ(c->region, "region");

  c = Resolve("s3://b?endpoint=http://query:3&region=qr");
  EXPECT_EQ(c->endpoint, "http://query:3");
  EXPECT_EQ(c->region, "qr");

  S3Options o;
  o.endpoint = "http://option:4/";
  o.region = "or";
  o.addressing = "virtual";
  c = Resolve("s3://b?endpoint=http://query:3&region=qr", o);
  EXPECT_EQ(c->endpoint, "http://option:4");
  EXPECT_EQ(c->region, "or");
  EXPECT_EQ(c->ObjectUrl("k"), "http://b.option:4/k");
}

TEST_F(S3ConfigTest, CredentialsFromOptionsThenEnvThenSharedFile) {
  std::string path = WriteCredentials(
      "# comment\n[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = FILESECRET\n"
      "\n[other]\naws_access_key_id=OTHERKEY\naws_secret_access_key=OTHERSECRET\n"
      "aws_session_token=OTHERTOKEN\n");
  env_["AWS_SHARED_CREDENTIALS_FILE"] = path;
  auto c = Resolve("s3://b");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key, "FILEKEY");
  EXPECT_EQ(c->secret_key, "FILESECRET");
  EXPECT_EQ(c->session_token, "");

  env_["AWS_PROFILE"] = "other";
  c = Resolve("s3://b");
  EXPECT_EQ(c->access_key, "OTHERKEY");
  EXPECT_EQ(c->session_token, "OTHERTOKEN");

  env_["AWS_ACCESS_KEY_ID"] = "ENVKEY";
  env_["AWS_SECRET_ACCESS_KEY"] = "ENVSECRET";
  env_["AWS_SESSION_TOKEN"] = "ENVTOKEN";
  c = Resolve("s3://b");
  EXPECT_EQ(c->access_key, "ENVKEY");
  EXPECT_EQ(c->secret_key, "ENVSECRET");
  EXPECT_EQ(c->session_token, "ENVTOKEN");

  S3Options o;
  o.access_key = "OPTKEY";
  o.secret_key = "OPTSECRET";
  c = Resolve("s3://b", o);
  EXPECT_EQ(c->access_key, "OPTKEY");
  EXPECT_EQ(c->secret_key, "OPTSECRET");
  EXPECT_EQ(c->session_token, "");  // the options' set wins as a whole
}

TEST_F(S3ConfigTest, SharedFileDefaultsToHomeAndMissingProfileIsAnError) {
  std::filesystem::create_directories(dir_.path() + "/.aws");
  std::ofstream(dir_.path() + "/.aws/credentials")
      << "[default]\naws_access_key_id=HOMEKEY\naws_secret_access_key=HOMESECRET\n";
  env_["HOME"] = dir_.path();
  auto c = Resolve("s3://b");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->access_key, "HOMEKEY");

  env_["AWS_PROFILE"] = "missing";
  EXPECT_EQ(Resolve("s3://b").status().code(), StatusCode::kNotFound);

  env_.erase("AWS_PROFILE");
  env_["HOME"] = "/nonexistent-home";
  c = Resolve("s3://b");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->access_key.empty());  // no credentials anywhere: unsigned
}

TEST_F(S3ConfigTest, EnvKeyWithoutSecretIsAnError) {
  env_["AWS_ACCESS_KEY_ID"] = "K";
  EXPECT_EQ(Resolve("s3://b").status().code(), StatusCode::kInvalidArgument);
}

// The sources whose credentials expire come after the static ones, and are only named
// here (no request is made while resolving).
TEST_F(S3ConfigTest, CredentialsThatExpireComeFromWebIdentityContainerOrInstanceMetadata) {
  auto c = Resolve("s3://b");  // AWS's endpoint, nothing configured: the metadata service
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_NE(c->credentials, nullptr);
  EXPECT_EQ(c->credentials->Name(), "instance metadata");
  EXPECT_TRUE(c->access_key.empty());

  // A custom endpoint (s3rver, MinIO) asks it only when told where it is.
  c = Resolve("s3://b?endpoint=http://127.0.0.1:9");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->credentials, nullptr);
  env_["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = "http://127.0.0.1:8/";
  c = Resolve("s3://b?endpoint=http://127.0.0.1:9");
  ASSERT_NE(c->credentials, nullptr);
  EXPECT_EQ(c->credentials->Name(), "instance metadata");
  env_["AWS_EC2_METADATA_DISABLED"] = "TRUE";
  EXPECT_EQ(Resolve("s3://b")->credentials, nullptr);

  env_["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = "/v2/credentials/x";
  c = Resolve("s3://b");
  ASSERT_NE(c->credentials, nullptr);
  EXPECT_EQ(c->credentials->Name(), "container credentials");

  // A shared credentials file comes before the container endpoint...
  env_["AWS_SHARED_CREDENTIALS_FILE"] =
      WriteCredentials("[default]\naws_access_key_id=F\naws_secret_access_key=S\n");
  c = Resolve("s3://b");
  EXPECT_EQ(c->credentials, nullptr);
  EXPECT_EQ(c->access_key, "F");

  // ... and web identity before the file.
  env_["AWS_WEB_IDENTITY_TOKEN_FILE"] = dir_.path() + "/token";
  EXPECT_EQ(Resolve("s3://b").status().code(), StatusCode::kInvalidArgument)
      << "a token file without AWS_ROLE_ARN";
  env_["AWS_ROLE_ARN"] = "arn:aws:iam::1:role/r";
  c = Resolve("s3://b");
  ASSERT_NE(c->credentials, nullptr);
  EXPECT_EQ(c->credentials->Name(), "web identity");
  EXPECT_TRUE(c->access_key.empty());

  // Keys in the environment win over all of them.
  env_["AWS_ACCESS_KEY_ID"] = "E";
  env_["AWS_SECRET_ACCESS_KEY"] = "ES";
  c = Resolve("s3://b");
  EXPECT_EQ(c->credentials, nullptr);
  EXPECT_EQ(c->access_key, "E");
}

}  // namespace
}  // namespace sluice::ufs
