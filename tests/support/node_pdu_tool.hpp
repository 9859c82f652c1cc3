// Runs tests/interop/pdu_tool.js (the npm `smpp` package) as an independent
// SMPP encoder/decoder for cross-checks.
#pragma once

#include <boost/json.hpp>

#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <unistd.h>

namespace smsgate::test {

inline boost::json::value run_node_pdu_tool(const boost::json::value& request) {
  char path[] = "/tmp/smsgate-pdu-tool-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  std::string body = boost::json::serialize(request);
  if (write(fd, body.data(), body.size()) != static_cast<ssize_t>(body.size())) {
    close(fd);
    throw std::runtime_error("write failed");
  }
  close(fd);
  std::string cmd = "node ";
  cmd += SMSGATE_SOURCE_DIR;
  cmd += "/tests/interop/pdu_tool.js < ";
  cmd += path;
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while (p && (n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int rc = p ? pclose(p) : -1;
  unlink(path);
  if (rc != 0) throw std::runtime_error("node pdu_tool.js failed: " + out);
  return boost::json::parse(out);
}

inline std::string to_hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (unsigned char c : bytes) {
    s += digits[c >> 4];
    s += digits[c & 15];
  }
  return s;
}

inline std::string from_hex(std::string_view hex) {
  std::string s;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) s += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  return s;
}

}  // namespace smsgate::test
