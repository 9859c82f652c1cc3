// The admin: section (docs/admin.md, docs/configuration.md "admin"): the
// server runs when the section is present; listen, token_env and max_body
// have defaults; wrong values are errors at their line and column;
// redacted_yaml writes the section back (the token's variable name only).
#include <gtest/gtest.h>

#include <string>

#include "config/config.hpp"
#include "tests/config/support.hpp"

namespace smsgate::config {
namespace {

using testing::all;
using testing::ExampleSecrets;
using testing::with;

LoadResult load(const std::string& tail) {
  ExampleSecrets::set();
  return load_config_string(with(tail), "a.yaml");
}

void expect_one(const std::string& tail, const std::string& expected) {
  LoadResult r = load(tail);
  ASSERT_EQ(r.diagnostics.size(), 1u) << all(r);
  EXPECT_EQ(format(r.diagnostics[0]), expected);
}

TEST(AdminSection, AbsentMeansNoAdminServer) {
  LoadResult r = load("");
  ASSERT_TRUE(r.ok()) << all(r);
  EXPECT_FALSE(r.config->admin.has_value());
}

TEST(AdminSection, AnEmptyMapTakesTheDefaults) {
  LoadResult r = load("admin: {}\n");
  ASSERT_TRUE(r.ok()) << all(r);
  EXPECT_TRUE(r.diagnostics.empty()) << all(r);
  ASSERT_TRUE(r.config->admin.has_value());
  EXPECT_EQ(r.config->admin->listen.to_string(), "127.0.0.1:8075");
  EXPECT_EQ(r.config->admin->token_env, "SMSGATE_ADMIN_TOKEN");
  EXPECT_EQ(r.config->admin->max_body, 1u << 20);
}

TEST(AdminSection, ReadsEveryKey) {
  LoadResult r = load("admin:\n  listen: \"[::1]:9000\"\n  token_env: OPS_TOKEN\n  max_body: 4096\n");
  ASSERT_TRUE(r.ok()) << all(r);
  EXPECT_TRUE(r.diagnostics.empty()) << all(r);
  EXPECT_EQ(r.config->admin->listen.to_string(), "[::1]:9000");
  EXPECT_EQ(r.config->admin->token_env, "OPS_TOKEN");
  EXPECT_EQ(r.config->admin->max_body, 4096u);
}

TEST(AdminSection, WrongValuesAreErrorsAtTheirPlace) {
  expect_one("admin:\n  listen: 127.0.0.1:99999\n", "a.yaml:15:11: admin.listen: port 99999 is out of range (1 to 65535) in '127.0.0.1:99999'");
  expect_one("admin:\n  token_env: \"1 TOKEN\"\n",
             "a.yaml:15:14: admin.token_env: '1 TOKEN' is not an environment variable name (letters, digits, '_')");
  expect_one("admin:\n  max_body: 10\n", "a.yaml:15:13: admin.max_body: 10 is out of range (1024 to 67108864)");
  expect_one("admin:\n  tokn_env: X\n", "a.yaml:15:3: unknown key 'tokn_env' in admin (did you mean 'token_env'?)");
  expect_one("admin: 8075\n", "a.yaml:14:8: admin: expected a map, got '8075'");
}

TEST(AdminSection, AnAddressBeyondLoopbackIsAWarning) {
  LoadResult r = load("admin:\n  listen: 0.0.0.0:8075\n");
  ASSERT_TRUE(r.ok()) << all(r);
  ASSERT_EQ(r.diagnostics.size(), 1u) << all(r);
  EXPECT_EQ(r.diagnostics[0].severity, Severity::warning);
  EXPECT_NE(r.diagnostics[0].message.find("reachable from other hosts"), std::string::npos) << all(r);
}

TEST(AdminSection, RedactedYamlWritesItBackAndLoadsTheSame) {
  LoadResult r = load("admin:\n  listen: 127.0.0.1:9001\n  token_env: OPS_TOKEN\n");
  ASSERT_TRUE(r.ok()) << all(r);
  const std::string yaml = redacted_yaml(*r.config);
  EXPECT_NE(yaml.find("token_env: OPS_TOKEN"), std::string::npos) << yaml;
  LoadResult again = load_config_string(yaml, "again.yaml");
  ASSERT_TRUE(again.ok()) << all(again);
  EXPECT_EQ(again.config->admin, r.config->admin);
}

}  // namespace
}  // namespace smsgate::config
