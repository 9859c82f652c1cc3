// Helpers shared by the config tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace smsgate::config::testing {

inline std::string source_path(const std::string& relative) { return SMSGATE_SOURCE_DIR "/" + relative; }

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The secrets examples/smsgate.yaml and tests/config/broken/*.yaml read:
// distinctive values so a test can look for them in output.
struct ExampleSecrets {
  static constexpr const char* kNames[][2] = {
      {"ACME_SMPP_PASSWORD", "Ac-9x!q"},
      {"BETA_SMPP_PASSWORD", "Be-7y?r"},
      {"CARRIER_A_PASSWORD", "Ca-5z#s"},
      {"CARRIER_B_PASSWORD", "Cb-3w%t"},
      {"REDIS_PASSWORD", "Rd-long-redis-secret-1"},
      {"TICKET_WEBHOOK_SECRET", "whsec_Tk-long-webhook-signing-key-1"},
  };
  static void set() {
    for (const auto& [name, value] : kNames) ::setenv(name, value, 1);
  }
};

// A line "# expect: L:C phrase" or "# expect warning: L:C phrase" in a
// broken example: one diagnostic, at L:C, whose message contains `phrase`.
struct Expected {
  Severity severity;
  int line;
  int column;
  std::string phrase;
};

inline std::vector<Expected> expectations_in(const std::string& text) {
  std::vector<Expected> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    for (auto [prefix, severity] : {std::pair{"# expect: ", Severity::error},
                                    std::pair{"# expect warning: ", Severity::warning}}) {
      std::string p = prefix;
      if (line.rfind(p, 0) != 0) continue;
      Expected e{severity, 0, 0, ""};
      std::istringstream rest(line.substr(p.size()));
      char colon = 0;
      rest >> e.line >> colon >> e.column;
      rest.get();  // the space before the phrase
      std::getline(rest, e.phrase);
      out.push_back(e);
    }
  }
  return out;
}

// Loads tests/config/broken/NAME and checks that its diagnostics are exactly
// the file's "# expect" lines, in order, each printed as
// "FILE:LINE:COLUMN: [warning: ]message".
inline LoadResult expect_diagnostics(const std::string& name) {
  ExampleSecrets::set();
  const std::string path = source_path("tests/config/broken/" + name);
  const std::vector<Expected> expected = expectations_in(read_text(path));
  EXPECT_FALSE(expected.empty()) << name << " has no '# expect' lines";
  LoadResult r = load_config_file(path);
  std::string got;
  for (const auto& d : r.diagnostics) got += format(d) + "\n";
  EXPECT_EQ(r.diagnostics.size(), expected.size()) << got;
  for (std::size_t i = 0; i < std::min(expected.size(), r.diagnostics.size()); ++i) {
    const Diagnostic& d = r.diagnostics[i];
    const Expected& e = expected[i];
    std::string where = path + ":" + std::to_string(e.line) + ":" + std::to_string(e.column) + ": " +
                        (e.severity == Severity::warning ? "warning: " : "");
    EXPECT_EQ(format(d).substr(0, where.size()), where) << "diagnostic " << i << ":\n" << got;
    EXPECT_NE(d.message.find(e.phrase), std::string::npos)
        << "diagnostic " << i << " lacks \"" << e.phrase << "\":\n" << got;
  }
  bool any_error = std::any_of(expected.begin(), expected.end(),
                               [](const Expected& e) { return e.severity == Severity::error; });
  EXPECT_EQ(r.ok(), !any_error) << got;
  return r;
}

// The smallest valid file (13 lines), then `tail` (a section, say) at the
// top level from line 14.
inline std::string with(const std::string& tail) {
  return "node: gw1\n"                              // 1
         "smpp: {listen: \"0.0.0.0:2775\"}\n"       // 2
         "redis: {address: \"127.0.0.1:6379\"}\n"   // 3
         "accounts:\n"                              // 4
         "  - system_id: acme\n"                    // 5
         "    password_env: ACME_SMPP_PASSWORD\n"   // 6
         "    traffic: marketing\n"                 // 7
         "    max_tps: 10\n"                        // 8
         "    allowed_cidrs: [10.0.0.0/8]\n"        // 9
         "carriers:\n"                              // 10
         "  - {name: c, address: \"h:1\", system_id: x, password_env: CARRIER_A_PASSWORD, max_tps: 1}\n"  // 11
         "routes:\n"                                // 12
         "  - {prefix: \"\", carriers: [c]}\n" +    // 13
         tail;                                      // from line 14
}

// Every diagnostic of a load, one a line, for failure messages.
inline std::string all(const LoadResult& r) {
  std::string out;
  for (const auto& d : r.diagnostics) out += format(d) + "\n";
  return out;
}

}  // namespace smsgate::config::testing
