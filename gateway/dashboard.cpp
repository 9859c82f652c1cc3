#include "gateway/dashboard.hpp"

#include <cstddef>

namespace smsgate::gateway {

// Written at build time by cmake/embed_files.cmake from gateway/dashboard/.
namespace embedded {
struct File {
  std::string_view name;
  std::string_view body;
};
extern const File kFiles[];
extern const std::size_t kFileCount;
}  // namespace embedded

namespace {

std::string_view content_type(std::string_view name) {
  const auto ends_with = [&](std::string_view ext) { return name.ends_with(ext); };
  if (ends_with(".html")) return "text/html; charset=utf-8";
  if (ends_with(".js")) return "text/javascript; charset=utf-8";
  if (ends_with(".css")) return "text/css; charset=utf-8";
  if (ends_with(".svg")) return "image/svg+xml";
  if (ends_with(".png")) return "image/png";
  if (ends_with(".ico")) return "image/x-icon";
  return "application/octet-stream";
}

}  // namespace

std::optional<StaticAsset> dashboard_asset(std::string_view path) {
  // The query string does not choose the file ("/app.js?v=2").
  if (const auto q = path.find_first_of("?#"); q != std::string_view::npos) path = path.substr(0, q);
  if (path == "/" || path.empty()) path = "/index.html";
  if (!path.starts_with('/')) return std::nullopt;
  const std::string_view name = path.substr(1);
  // Only a file's own name: nothing under a folder, nothing with "..".
  if (name.empty() || name.find('/') != std::string_view::npos) return std::nullopt;
  for (std::size_t i = 0; i < embedded::kFileCount; ++i) {
    if (embedded::kFiles[i].name == name) return StaticAsset{content_type(name), embedded::kFiles[i].body};
  }
  return std::nullopt;
}

}  // namespace smsgate::gateway
