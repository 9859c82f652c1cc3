// The live dashboard's static files (gateway/dashboard/), embedded in the
// binary at build time; served by the admin server without a token (they
// hold no data: the page reads /api/live with the token).
#pragma once

#include <optional>
#include <string_view>

namespace smsgate::gateway {

struct StaticAsset {
  std::string_view content_type;
  std::string_view body;
};

// "/" is index.html; otherwise the file's name under gateway/dashboard/
// ("/app.js"). Nothing for any other path.
std::optional<StaticAsset> dashboard_asset(std::string_view path);

}  // namespace smsgate::gateway
