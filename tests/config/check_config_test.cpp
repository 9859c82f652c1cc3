// `smsgate check-config`: every problem in a file, each as FILE:LINE:COLUMN.
// The broken files under tests/config/broken/ carry their expected
// diagnostics as "# expect" comment lines (see support.hpp).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/config.hpp"
#include "tests/config/support.hpp"

namespace smsgate::config {
namespace {

using testing::expect_diagnostics;
using testing::source_path;

TEST(CheckConfig, ReportsUnknownKeysAtTheKeyWithASuggestion) { expect_diagnostics("unknown_key.yaml"); }

TEST(CheckConfig, ReportsWrongTypeAtTheValue) { expect_diagnostics("wrong_type.yaml"); }

TEST(CheckConfig, ReportsDuplicateSystemIdWithWhereTheFirstIs) { expect_diagnostics("duplicate_system_id.yaml"); }

TEST(CheckConfig, ReportsRouteToUnknownCarrierWithLineAndColumn) {
  expect_diagnostics("route_to_unknown_carrier.yaml");
}

TEST(CheckConfig, ReportsDuplicateCarrierNamesPrefixesAndCarriersInARoute) {
  expect_diagnostics("duplicate_names.yaml");
}

TEST(CheckConfig, ReportsBadAddressesNoPortPortOutOfRangeAndBadIpv6) { expect_diagnostics("bad_address.yaml"); }

TEST(CheckConfig, ReportsBadCidrsAndWarnsAboutHostBits) { expect_diagnostics("bad_cidr.yaml"); }

TEST(CheckConfig, ReportsBadDurations) { expect_diagnostics("bad_duration.yaml"); }

TEST(CheckConfig, RefusesADocumentThatAliasesExpandBeyondALimit) { expect_diagnostics("alias_bomb.yaml"); }

// A long anchored key aliased in aliased maps: few nodes, but 16 MiB of text
// once expanded (found by fuzz_config: 1.3 GB and a minute for 7 KB).
TEST(CheckConfig, RefusesADocumentThatAliasesExpandBeyondATextLimit) { expect_diagnostics("alias_text_bomb.yaml"); }

// Found by fuzz_config: yaml-cpp's parser returns the same empty document
// forever; LoadAll ran out of memory. Refused with one error instead.
TEST(CheckConfig, RefusesAFileYamlCppCannotGetPast) { expect_diagnostics("comma_loop.yaml"); }

TEST(CheckConfig, BoundsReplyPatternsLengthCountAndMemory) { expect_diagnostics("reply_pattern_limits.yaml"); }

TEST(CheckConfig, ReportsMissingRequiredKeyAtTheEnclosingMap) { expect_diagnostics("missing_required_key.yaml"); }

TEST(CheckConfig, ReportsPasswordEnvThatIsNotSet) {
  ::unsetenv("SMSGATE_TEST_UNSET_PASSWORD");
  expect_diagnostics("password_env_unset.yaml");
}

TEST(CheckConfig, AcceptsPlainPasswordWithAWarningOnly) {
  LoadResult r = expect_diagnostics("plain_password.yaml");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config->accounts[0].password.source, Secret::Source::plain);
  EXPECT_EQ(r.config->accounts[0].password.value, "hunter2");
}

TEST(CheckConfig, ReportsInvalidYamlAsOneErrorWithItsPosition) { expect_diagnostics("invalid_syntax.yaml"); }

TEST(CheckConfig, ReportsSecretProblemsWithoutTheirValues) {
  ::setenv("SMSGATE_TEST_LONG_PASSWORD", "123456789012", 1);
  LoadResult r = expect_diagnostics("secret_problems.yaml");
  for (const Diagnostic& d : r.diagnostics) {
    EXPECT_EQ(d.message.find("123456789012"), std::string::npos) << d.message;
    EXPECT_EQ(d.message.find("TopSecret1"), std::string::npos) << d.message;
    EXPECT_EQ(d.message.find(testing::ExampleSecrets::kNames[0][1]), std::string::npos) << d.message;
  }
}

TEST(CheckConfig, ReportsEveryErrorInAFileNotJustTheFirst) {
  LoadResult r = expect_diagnostics("several_errors.yaml");
  EXPECT_EQ(r.error_count(), 13u);
}

TEST(CheckConfig, WarnsWhenTheAdminApiListensBeyondLoopback) {
  LoadResult r = expect_diagnostics("unsupported_section.yaml");
  EXPECT_TRUE(r.ok());
}

TEST(CheckConfig, WarnsWithoutADefaultRouteAndAboutUnusedCarriers) {
  LoadResult r = expect_diagnostics("no_default_route.yaml");
  EXPECT_TRUE(r.ok());
}

TEST(CheckConfig, ListsDiagnosticsInFileOrder) {
  testing::ExampleSecrets::set();
  LoadResult r = load_config_file(source_path("tests/config/broken/several_errors.yaml"));
  ASSERT_FALSE(r.diagnostics.empty());
  for (std::size_t i = 1; i < r.diagnostics.size(); ++i) {
    const auto& a = r.diagnostics[i - 1];
    const auto& b = r.diagnostics[i];
    EXPECT_LE(std::pair(a.line, a.column), std::pair(b.line, b.column));
  }
}

TEST(CheckConfig, ExitsZeroAndSaysOkForTheExample) {
  testing::ExampleSecrets::set();
  std::ostringstream out;
  std::string path = source_path("examples/smsgate.yaml");
  EXPECT_EQ(check_config(path, out), 0);
  EXPECT_EQ(out.str(), path + ": OK (2 accounts, 2 carriers, 3 routes, 0 warnings)\n");
}

TEST(CheckConfig, ExitsOneAndPrintsOneLinePerDiagnostic) {
  testing::ExampleSecrets::set();
  std::ostringstream out;
  std::string path = source_path("tests/config/broken/unknown_key.yaml");
  EXPECT_EQ(check_config(path, out), 1);
  std::istringstream lines(out.str());
  int n = 0;
  for (std::string line; std::getline(lines, line); ++n) EXPECT_EQ(line.rfind(path + ":", 0), 0u) << line;
  EXPECT_EQ(n, 3);
}

TEST(CheckConfig, ReportsAFileThatCannotBeReadWithoutAPosition) {
  LoadResult r = load_config_file("/nonexistent/smsgate.yaml");
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.diagnostics[0].line, 0);
  EXPECT_EQ(format(r.diagnostics[0]), "/nonexistent/smsgate.yaml: cannot read the file: No such file or directory");
}

TEST(CheckConfig, ReportsAnEmptyFileAtItsStart) {
  LoadResult r = load_config_string("# nothing but a comment\n", "empty.yaml");
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(format(r.diagnostics[0]).substr(0, 16), "empty.yaml:1:1: ");
}

TEST(CheckConfig, RejectsASecondYamlDocument) {
  LoadResult r = load_config_string("node: a\n---\nnode: b\n", "two.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.diagnostics.back().line, 3);  // where the second document's content starts
  EXPECT_NE(r.diagnostics.back().message.find("only one YAML document"), std::string::npos);
}

TEST(CheckConfig, RejectsATopLevelThatIsNotAMap) {
  LoadResult r = load_config_string("- node: gw1\n", "list.yaml");
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(format(r.diagnostics[0]), "list.yaml:1:1: expected a map at the top level, got a list");
}

TEST(CheckConfig, ReportsDuplicateKeysInOneMap) {
  testing::ExampleSecrets::set();
  std::string text = testing::read_text(source_path("examples/smsgate.yaml")) + "node: gw2\n";
  LoadResult r = load_config_string(text, "dup.yaml");
  ASSERT_EQ(r.error_count(), 1u);
  EXPECT_EQ(r.diagnostics.back().column, 1);
  EXPECT_EQ(r.diagnostics.back().message, "duplicate key 'node' at the top level");
}

// Shared settings through YAML anchors and merge keys: the map's own keys win.
constexpr const char* kMerged = R"(node: gw1
smpp: {listen: "0.0.0.0:2775"}
redis: {address: "127.0.0.1:6379"}
accounts:
  - &defaults
    system_id: acme
    password_env: ACME_SMPP_PASSWORD
    traffic: marketing
    max_tps: 500
    allowed_cidrs: [10.0.0.0/8]
  - <<: *defaults
    system_id: other
    max_tps: 7
carriers:
  - {name: c, address: "h:1", system_id: x, password_env: CARRIER_A_PASSWORD, max_tps: 1}
routes:
  - {prefix: "", carriers: [c]}
)";

TEST(CheckConfig, ExpandsMergeKeysWithTheMapsOwnKeysWinning) {
  testing::ExampleSecrets::set();
  LoadResult r = load_config_string(kMerged, "merged.yaml");
  ASSERT_TRUE(r.ok()) << format(r.diagnostics.at(0));
  ASSERT_EQ(r.config->accounts.size(), 2u);
  const Account& other = r.config->accounts[1];
  EXPECT_EQ(other.system_id, "other");
  EXPECT_EQ(other.max_tps, 7u);
  EXPECT_EQ(other.traffic, Traffic::marketing);
  EXPECT_EQ(other.password.reference, "ACME_SMPP_PASSWORD");
  EXPECT_EQ(other.allowed_cidrs, r.config->accounts[0].allowed_cidrs);
}

TEST(CheckConfig, ReportsAMergeOfSomethingOtherThanAMap) {
  testing::ExampleSecrets::set();
  std::string text = kMerged;
  text.replace(text.find("<<: *defaults"), 13, "<<: [1, 2]");
  LoadResult r = load_config_string(text, "merged.yaml");
  ASSERT_FALSE(r.ok());
  auto merge = std::find_if(r.diagnostics.begin(), r.diagnostics.end(),
                            [](const Diagnostic& d) { return d.message.find("merge") != std::string::npos; });
  ASSERT_NE(merge, r.diagnostics.end());
  EXPECT_EQ(format(*merge), "merged.yaml:11:9: '<<' (merge) needs a map or a list of maps, got a list in accounts[1]");
}

TEST(CheckConfig, FormatsErrorsAndWarningsLikeACompiler) {
  EXPECT_EQ(format({"f.yaml", 3, 5, Severity::error, "unknown key 'x' in smpp"}), "f.yaml:3:5: unknown key 'x' in smpp");
  EXPECT_EQ(format({"f.yaml", 7, 1, Severity::warning, "section 'admin' is not supported yet"}),
            "f.yaml:7:1: warning: section 'admin' is not supported yet");
}

}  // namespace
}  // namespace smsgate::config
