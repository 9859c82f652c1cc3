#include "config/schema.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace smsgate::config::schema {
namespace {

constexpr std::size_t kSecretFileLimit = 4096;

// "accounts[0]" for "accounts[0].password_env".
std::string parent_of(const std::string& path) {
  size_t dot = path.rfind('.');
  return dot == std::string::npos ? std::string() : path.substr(0, dot);
}

bool is_env_name(const std::string& s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  for (char c : s) {
    if (!(c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return false;
  }
  return true;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

// ------------------------------------------------------------------ Ctx

Ctx::Ctx(std::string file, std::filesystem::path base_dir) : file_(std::move(file)), base_dir_(std::move(base_dir)) {}

void Ctx::report(Severity s, const YAML::Mark& at, std::string message) {
  bool placed = at.line >= 0 && at.column >= 0;
  diagnostics_.push_back({file_, placed ? at.line + 1 : 0, placed ? at.column + 1 : 0, s, std::move(message)});
}

void Ctx::error(const YAML::Mark& at, std::string message) { report(Severity::error, at, std::move(message)); }

void Ctx::warning(const YAML::Mark& at, std::string message) { report(Severity::warning, at, std::move(message)); }

void Ctx::fail(const Value& v, std::string_view message) {
  failed_.insert(v.path);
  error(v.mark, (v.path.empty() ? "" : v.path + ": ") + std::string(message));
}

YAML::Mark Ctx::mark_of(std::string path) const {
  while (true) {
    if (auto it = seen_.find(path); it != seen_.end()) return it->second.mark;
    if (path.empty()) return YAML::Mark();
    if (path.back() == ']') {
      path.erase(path.rfind('['));
    } else {
      path = parent_of(path);
    }
  }
}

std::optional<std::string> Ctx::text_at(const std::string& path) const {
  auto it = seen_.find(path);
  if (it == seen_.end() || !it->second.node.IsScalar()) return std::nullopt;
  return it->second.node.Scalar();
}

std::filesystem::path Ctx::resolve(const std::string& path) const {
  std::filesystem::path p(path);
  if (p.is_absolute() || base_dir_.empty()) return p;
  return (base_dir_ / p).lexically_normal();
}

bool Ctx::has_errors() const {
  return std::any_of(diagnostics_.begin(), diagnostics_.end(),
                     [](const Diagnostic& d) { return d.severity == Severity::error; });
}

std::vector<Diagnostic> Ctx::take_diagnostics() {
  std::stable_sort(diagnostics_.begin(), diagnostics_.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::pair(a.line, a.column) < std::pair(b.line, b.column);
  });
  return std::move(diagnostics_);
}

// ------------------------------------------------------------------ helpers

std::string describe(const YAML::Node& node, bool secret) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar: {
      if (secret) return "a value";
      const std::string& s = node.Scalar();
      return "'" + (s.size() > 40 ? s.substr(0, 40) + "..." : s) + "'";
    }
    default:
      return "nothing";
  }
}

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string where(const std::string& path) { return path.empty() ? "at the top level" : "in " + path; }

std::optional<std::string> scalar(Ctx& ctx, const Value& v, std::string_view expected, bool secret) {
  if (v.node.IsScalar()) return v.node.Scalar();
  ctx.fail(v, "expected " + std::string(expected) + ", got " + describe(v.node, secret));
  return std::nullopt;
}

std::string nearest(std::string_view key, const std::vector<std::string_view>& keys) {
  std::string best;
  size_t best_distance = key.size() > 3 ? 3 : 2;
  for (std::string_view k : keys) {
    size_t d = edit_distance(key, k);
    if (d < best_distance) best = k, best_distance = d;
  }
  return best;
}

std::vector<Entry> entries_of(Ctx& ctx, const Value& map) {
  std::vector<Entry> out;
  std::vector<YAML::Node> merged;
  std::set<std::string> keys;
  for (auto it = map.node.begin(); it != map.node.end(); ++it) {
    const YAML::Node k = it->first;  // a copy: `it->` is a temporary
    const YAML::Node v = it->second;
    if (!k.IsScalar()) {
      ctx.error(k.Mark(), "a key must be a word, got " + describe(k) + " " + where(map.path));
    } else if (k.Scalar() == "<<" && k.Tag() == "?") {
      std::vector<YAML::Node> maps;
      if (v.IsMap()) maps.push_back(v);
      for (std::size_t i = 0; v.IsSequence() && i < v.size(); ++i) maps.push_back(v[i]);
      if (maps.empty() || !std::all_of(maps.begin(), maps.end(), [](const YAML::Node& n) { return n.IsMap(); })) {
        ctx.error(v.IsNull() ? k.Mark() : v.Mark(),
                  "'<<' (merge) needs a map or a list of maps, got " + describe(v) + " " + where(map.path));
      } else {
        merged.insert(merged.end(), maps.begin(), maps.end());
      }
    } else if (!keys.insert(k.Scalar()).second) {
      ctx.error(k.Mark(), "duplicate key '" + k.Scalar() + "' " + where(map.path));
    } else {
      out.push_back({k.Scalar(), k, v});
    }
  }
  for (const YAML::Node& m : merged) {
    for (auto it = m.begin(); it != m.end(); ++it) {
      if (it->first.IsScalar() && keys.insert(it->first.Scalar()).second) {
        out.push_back({it->first.Scalar(), it->first, it->second});
      }
    }
  }
  return out;
}

FileRead read_file(const std::string& path, std::size_t limit) {
  FileRead r;
  errno = 0;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    r.error = std::strerror(errno);
    return r;
  }
  char buf[4096];
  while (r.data.size() <= limit) {
    size_t n = std::fread(buf, 1, sizeof buf, f);
    if (n == 0) break;
    r.data.append(buf, n);
  }
  if (std::ferror(f)) r.error = std::strerror(errno ? errno : EIO);
  std::fclose(f);
  if (r.data.size() > limit) {
    r.data.resize(limit);
    r.truncated = true;
  }
  return r;
}

// ------------------------------------------------------------------ codecs

Codec<std::string> text(std::string_view expected, std::function<std::string(const std::string&)> validate) {
  return from_text<std::string>(
      std::string(expected), [](std::string_view s) { return Parsed<std::string>(std::string(s)); },
      [](const std::string& s) { return s; },
      [validate](const std::string& s, const std::string&) { return validate ? validate(s) : std::string(); });
}

Codec<uint32_t> integer(uint32_t min, uint32_t max) {
  std::string range = std::to_string(min) + " to " + std::to_string(max);
  return {[range, min, max](Ctx& ctx, const Value& v) -> std::optional<uint32_t> {
            auto s = scalar(ctx, v, "an integer from " + range);
            if (!s) return std::nullopt;
            bool digits = !s->empty() && s->size() <= 10 &&
                          std::all_of(s->begin(), s->end(), [](char c) { return c >= '0' && c <= '9'; });
            if (!digits) {
              ctx.fail(v, "expected an integer from " + range + ", got " + describe(v.node));
              return std::nullopt;
            }
            uint64_t n = std::stoull(*s);
            if (n < min || n > max) {
              ctx.fail(v, *s + " is out of range (" + range + ")");
              return std::nullopt;
            }
            return static_cast<uint32_t>(n);
          },
          [](YAML::Emitter& e, const uint32_t& n) { e << n; }};
}

Codec<bool> boolean() {
  return {[](Ctx& ctx, const Value& v) -> std::optional<bool> {
            bool b = false;
            if (v.node.IsScalar() && YAML::convert<bool>::decode(v.node, b)) return b;
            ctx.fail(v, "expected true or false, got " + describe(v.node));
            return std::nullopt;
          },
          [](YAML::Emitter& e, const bool& b) { e << b; }};
}

Codec<Duration> duration(Duration min, Duration max) {
  return from_text<Duration>(
      "a duration such as 500ms, 2s, 30m, 24h or 7d",
      [max](std::string_view text) { return parse_duration_at_most(text, max); }, format_duration,
      [min](const Duration& d, const std::string& text) {
        return d < min ? "must be at least " + format_duration(min) + ", got '" + text + "'" : std::string();
      });
}

Codec<uint32_t> status() {
  return from_text<uint32_t>("an SMPP command_status such as 0x08", parse_status, format_status,
                             [](const uint32_t& st, const std::string&) {
                               return st == 0 ? "0 is ESME_ROK; a rejection needs a non-zero command_status"
                                              : std::string();
                             });
}

Codec<HostPort> host_port() {
  return from_text<HostPort>("host:port", parse_host_port, &HostPort::to_string);
}

Codec<RedisAddress> redis_address() {
  return from_text<RedisAddress>("host:port or unix:/path", parse_redis_address, &RedisAddress::to_string);
}

Codec<Cidr> cidr() {
  Codec<Cidr> c = from_text<Cidr>("a CIDR such as 10.0.0.0/8", parse_cidr, &Cidr::to_string);
  c.read = [read = c.read](Ctx& ctx, const Value& v) -> std::optional<Cidr> {
    auto x = read(ctx, v);
    if (x && x->has_host_bits()) {
      ctx.warning(v.mark, v.path + ": '" + v.node.Scalar() + "' has host bits set; it means " +
                              x->normalized().to_string());
      x = x->normalized();
    }
    return x;
  };
  return c;
}

Codec<std::string> readable_file() {
  return {[](Ctx& ctx, const Value& v) -> std::optional<std::string> {
            auto s = scalar(ctx, v, "a file path");
            if (!s) return std::nullopt;
            if (s->empty()) {
              ctx.fail(v, "empty file path");
              return std::nullopt;
            }
            std::string path = ctx.resolve(*s).string();
            FileRead r = read_file(path, 1);
            if (!r.error.empty() || r.data.empty()) {
              ctx.fail(v, "cannot read '" + path + "': " + (r.error.empty() ? "the file is empty" : r.error));
              return std::nullopt;
            }
            return path;
          },
          [](YAML::Emitter& e, const std::string& s) { e << s; }};
}

// ------------------------------------------------------------------ secrets

std::string secret_key(Secret::Source source, std::string_view base) {
  switch (source) {
    case Secret::Source::env:
      return std::string(base) + "_env";
    case Secret::Source::file:
      return std::string(base) + "_file";
    case Secret::Source::plain:
      return std::string(base);
    default:
      return "";
  }
}

void read_secret(Ctx& ctx, const Value& v, Secret::Source source, Secret& out, std::string_view base,
                 bool plain_allowed) {
  std::string parent = parent_of(v.path);
  if (out.given()) {
    std::string keys = secret_key(Secret::Source::env, base) + (plain_allowed ? ", " : " and ") +
                       secret_key(Secret::Source::file, base) +
                       (plain_allowed ? " and " + secret_key(Secret::Source::plain, base) : std::string());
    ctx.error(v.key_mark, "give only one of " + keys + " " + where(parent));
    return;
  }
  out.source = source;  // even when unreadable: the secret is not "missing"
  bool plain = source == Secret::Source::plain;
  const std::string expected = plain                               ? "a " + std::string(base)
                               : source == Secret::Source::env ? "a variable name"
                                                               : "a file path";
  auto s = scalar(ctx, v, expected, plain);
  if (!s) return;
  switch (source) {
    case Secret::Source::env: {
      out.reference = *s;
      if (!is_env_name(*s)) return ctx.fail(v, "'" + *s + "' is not an environment variable name");
      const char* value = std::getenv(s->c_str());
      if (!value) return ctx.fail(v, "environment variable '" + *s + "' is not set");
      if (!*value) return ctx.fail(v, "environment variable '" + *s + "' is empty");
      out.value = value;
      return;
    }
    case Secret::Source::file: {
      out.reference = ctx.resolve(*s).string();
      FileRead r = read_file(out.reference, kSecretFileLimit);
      if (!r.error.empty()) return ctx.fail(v, "cannot read '" + out.reference + "': " + r.error);
      if (r.truncated) {
        return ctx.fail(v, "'" + out.reference + "' is larger than " + std::to_string(kSecretFileLimit) +
                               " bytes; it should hold only the " + std::string(base));
      }
      // One trailing line end is the file's, not the secret's.
      if (r.data.ends_with('\n')) r.data.pop_back();
      if (r.data.ends_with('\r')) r.data.pop_back();
      if (r.data.empty()) return ctx.fail(v, "'" + out.reference + "' is empty");
      out.value = std::move(r.data);
      return;
    }
    default:
      if (s->empty()) return ctx.fail(v, "the " + std::string(base) + " is empty");
      out.value = *s;
      ctx.warning(v.key_mark, v.path + ": a plain " + std::string(base) + " in the config file; use " +
                                  secret_key(Secret::Source::env, base) + " or " +
                                  secret_key(Secret::Source::file, base));
  }
}

void write_secret(YAML::Emitter& e, const Secret& s, Secret::Source source, std::string_view base) {
  if (s.source != source) return;
  e << YAML::Key << secret_key(source, base) << YAML::Value
    << (source == Secret::Source::plain ? std::string("<redacted>") : s.reference);
}

void require_secret(Ctx& ctx, const Value& map, const Secret& s, std::string_view base, std::string_view what) {
  if (s.given()) return;
  ctx.error(map.mark, "missing " + std::string(base) + " " + where(map.path) + ": give " +
                          secret_key(Secret::Source::env, base) + " or " + secret_key(Secret::Source::file, base) +
                          (what.empty() ? std::string() : " (" + std::string(what) + ")"));
}

}  // namespace smsgate::config::schema
