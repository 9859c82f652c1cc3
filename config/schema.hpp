// The table-driven reader (and writer) behind load.cpp. Internal to the
// config library.
//
// A Section<S> lists the keys a YAML map may hold; each Field says whether it
// is required, which member of S it fills and with which Codec. read_map()
// walks the map once (merge keys expanded): unknown and duplicate keys, values of the wrong type,
// and missing required keys each become a diagnostic, and reading goes on.
// write_map() renders the struct back in the same key order.
//
// A new section is a struct, a function returning its Section, and one
// `field(...)` line in the top-level table.
#pragma once

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "config/config.hpp"

namespace smsgate::config::schema {

// One value being read.
struct Value {
  YAML::Node node;
  YAML::Mark mark;      // where problems with the value are reported (the key's position when it is empty)
  YAML::Mark key_mark;  // the key's position (a list item's own position)
  std::string path;     // "accounts[0].max_tps"
};

// What a load collects: diagnostics, and where each value was (for checks
// that span sections, such as a route naming a carrier).
class Ctx {
 public:
  Ctx(std::string file, std::filesystem::path base_dir);

  void error(const YAML::Mark& at, std::string message);
  void warning(const YAML::Mark& at, std::string message);
  // "PATH: message" at the value; the value then counts as not read.
  void fail(const Value& v, std::string_view message);

  void remember(const Value& v) { seen_[v.path] = {v.mark, v.node}; }
  // Read, and read without error.
  bool ok(const std::string& path) const { return seen_.contains(path) && !failed_.contains(path); }
  // Written in the file (valid or not).
  bool seen(const std::string& path) const { return seen_.contains(path); }
  // Written and not valid: its member holds the default, which a check
  // across keys should not compare.
  bool failed(const std::string& path) const { return failed_.contains(path); }
  // The text of the scalar read at `path`, whether or not it was valid.
  std::optional<std::string> text_at(const std::string& path) const;
  // The position of `path`, or of its nearest enclosing value that was read.
  YAML::Mark mark_of(std::string path) const;
  std::filesystem::path resolve(const std::string& path) const;

  bool has_errors() const;
  std::vector<Diagnostic> take_diagnostics();  // sorted by position

 private:
  void report(Severity s, const YAML::Mark& at, std::string message);

  std::string file_;
  std::filesystem::path base_dir_;
  std::vector<Diagnostic> diagnostics_;
  struct Seen {
    YAML::Mark mark;
    YAML::Node node;
  };
  std::map<std::string, Seen> seen_;
  std::set<std::string> failed_;
};

// How one type is read from a node and written to an emitter.
template <class T>
struct Codec {
  std::function<std::optional<T>(Ctx&, const Value&)> read;
  std::function<void(YAML::Emitter&, const T&)> write;
};

template <class S>
struct Field {
  std::string key;
  bool required = false;
  std::function<void(Ctx&, const Value&, S&)> read;
  std::function<void(YAML::Emitter&, const S&)> write;  // emits "key: value", or nothing
};

template <class S>
struct Section {
  std::vector<Field<S>> fields;
  // Checks between fields, after all were read; `map` is the map itself.
  std::function<void(Ctx&, const Value& map, S&)> check = {};
};

enum class Need : uint8_t { optional, required };

// ------------------------------------------------------------------ helpers

// "a map", "a list", "nothing", "'lots'" (secret: "a value").
std::string describe(const YAML::Node& node, bool secret = false);
std::string join(const std::string& path, std::string_view key);
// "in accounts[0]", "at the top level".
std::string where(const std::string& path);
// The scalar's text, or a "expected EXPECTED, got ..." error and nullopt.
std::optional<std::string> scalar(Ctx& ctx, const Value& v, std::string_view expected, bool secret = false);
// A key from `keys` one or two edits away from `key`, or "".
std::string nearest(std::string_view key, const std::vector<std::string_view>& keys);

// A file's first `limit` bytes (`truncated` when there is more), or why it
// cannot be read (strerror text).
struct FileRead {
  std::string data;
  bool truncated = false;
  std::string error;
};
FileRead read_file(const std::string& path, std::size_t limit);

// ------------------------------------------------------------------ codecs

// A value written as one scalar: `parse` turns the text into a T or says
// why not; `check`, when given, returns why a parsed T (and its text) is not
// acceptable here, or ""; `show` writes it back.
template <class T>
Codec<T> from_text(std::string expected, std::function<Parsed<T>(std::string_view)> parse,
                   std::function<std::string(const T&)> show,
                   std::function<std::string(const T&, const std::string&)> check = {}) {
  return {[expected, parse, check](Ctx& ctx, const Value& v) -> std::optional<T> {
            auto s = scalar(ctx, v, expected);
            if (!s) return std::nullopt;
            Parsed<T> p = parse(*s);
            std::string why = !p ? p.error : check ? check(*p, *s) : std::string();
            if (!why.empty()) {
              ctx.fail(v, why);
              return std::nullopt;
            }
            return p.value;
          },
          [show](YAML::Emitter& e, const T& x) { e << show(x); }};
}

// Any string; `validate` returns why it is not acceptable, or "".
Codec<std::string> text(std::string_view expected, std::function<std::string(const std::string&)> validate = {});
Codec<uint32_t> integer(uint32_t min, uint32_t max);
Codec<bool> boolean();
// From `min` to `max` (longer than 365d only where `max` allows it).
Codec<Duration> duration(Duration min = Duration{0}, Duration max = kMaxDuration);
Codec<uint32_t> status();
Codec<HostPort> host_port();
Codec<RedisAddress> redis_address();
Codec<Cidr> cidr();
// A path to a file that must be readable; stored resolved against the base dir.
Codec<std::string> readable_file();

template <class E>
Codec<E> one_of() {
  std::string expected;
  for (const auto& [name, value] : Names<E>::list) expected += (expected.empty() ? "" : " | ") + std::string(name);
  return {
      [expected](Ctx& ctx, const Value& v) -> std::optional<E> {
        auto s = scalar(ctx, v, "one of " + expected);
        if (!s) return std::nullopt;
        for (const auto& [name, value] : Names<E>::list) {
          if (name == *s) return value;
        }
        ctx.fail(v, "expected one of " + expected + ", got " + describe(v.node));
        return std::nullopt;
      },
      [](YAML::Emitter& e, const E& x) { e << std::string(to_string(x)); }};
}

// A list of T; `if_empty`, when given, is the error for an empty list. An
// item that cannot be read is reported and kept as a default T, so that item
// i is always at path "LIST[i]".
template <class T>
Codec<std::vector<T>> list_of(Codec<T> item, std::string if_empty = {}) {
  return {
      [item, if_empty](Ctx& ctx, const Value& v) -> std::optional<std::vector<T>> {
        if (!v.node.IsSequence()) {
          ctx.fail(v, "expected a list, got " + describe(v.node));
          return std::nullopt;
        }
        if (v.node.size() == 0 && !if_empty.empty()) ctx.fail(v, if_empty);
        std::vector<T> out;
        for (std::size_t i = 0; i < v.node.size(); ++i) {
          YAML::Node n = v.node[i];
          YAML::Mark at = n.IsNull() ? v.mark : n.Mark();
          Value child{n, at, at, v.path + "[" + std::to_string(i) + "]"};
          ctx.remember(child);
          out.push_back(item.read(ctx, child).value_or(T{}));
        }
        return out;
      },
      [item](YAML::Emitter& e, const std::vector<T>& xs) {
        bool flow = std::is_scalar_v<T> || std::is_same_v<T, std::string> || std::is_same_v<T, Cidr>;
        if (flow) e << YAML::Flow;
        e << YAML::BeginSeq;
        for (const T& x : xs) item.write(e, x);
        e << YAML::EndSeq;
      }};
}

template <class S>
void read_map(Ctx& ctx, const Value& map, const Section<S>& section, S& out);
template <class S>
void write_map(YAML::Emitter& e, const Section<S>& section, const S& s);

// A nested map read with `section` into a default-constructed S. The section
// must outlive the codec.
template <class S>
Codec<S> map_of(const Section<S>& section) {
  return {
      [&section](Ctx& ctx, const Value& v) -> std::optional<S> {
        if (!v.node.IsMap()) {
          ctx.fail(v, "expected a map, got " + describe(v.node));
          return std::nullopt;
        }
        S s{};
        read_map(ctx, v, section, s);
        return s;
      },
      [&section](YAML::Emitter& e, const S& s) { write_map(e, section, s); }};
}

// ------------------------------------------------------------------ fields

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};

// `key` fills `member` (a T, or a std::optional<T> left empty when the key
// is absent) through `codec`.
template <class S, class M, class T>
Field<S> field(std::string key, M S::*member, Codec<T> codec, Need need = Need::optional) {
  return {key, need == Need::required,
          [member, read = codec.read](Ctx& ctx, const Value& v, S& s) {
            if (auto x = read(ctx, v)) s.*member = std::move(*x);
          },
          [key, need, member, write = codec.write](YAML::Emitter& e, const S& s) {
            const M& m = s.*member;
            if constexpr (std::is_same_v<M, std::string>) {
              if (need == Need::optional && m.empty()) return;  // an empty optional string is "not set"
            }
            if constexpr (IsOptional<M>::value && !std::is_same_v<M, T>) {
              if (!m) return;
              e << YAML::Key << key << YAML::Value;
              write(e, *m);
            } else {
              e << YAML::Key << key << YAML::Value;
              write(e, m);
            }
          }};
}

// A top-level section a later version reads: accepted with a warning.
template <class S>
Field<S> not_yet(std::string key) {
  return {key, false,
          [key](Ctx& ctx, const Value& v, S&) {
            ctx.warning(v.key_mark, "section '" + key + "' is not supported yet; it is ignored");
          },
          [](YAML::Emitter&, const S&) {}};
}

// password_env / password_file / password, all filling one Secret: at most
// one may be given. Whether one must be is the section's check (require_secret).
// Other secrets use another word than "password" (`base`: secret_env,
// token_file); only passwords have the plain form (tests only).
void read_secret(Ctx& ctx, const Value& v, Secret::Source source, Secret& out, std::string_view base = "password",
                 bool plain_allowed = true);
void write_secret(YAML::Emitter& e, const Secret& s, Secret::Source source, std::string_view base = "password");
void require_secret(Ctx& ctx, const Value& map, const Secret& s, std::string_view base = "password",
                    std::string_view what = "");
// "password_env", "secret_file", "password".
std::string secret_key(Secret::Source source, std::string_view base = "password");

template <class S>
std::vector<Field<S>> secret_fields(Secret S::*member, std::string base = "password", bool plain_allowed = true) {
  std::vector<Field<S>> out;
  for (auto source : {Secret::Source::env, Secret::Source::file, Secret::Source::plain}) {
    if (source == Secret::Source::plain && !plain_allowed) continue;
    out.push_back({secret_key(source, base), false,
                   [member, source, base, plain_allowed](Ctx& ctx, const Value& v, S& s) {
                     read_secret(ctx, v, source, s.*member, base, plain_allowed);
                   },
                   [member, source, base](YAML::Emitter& e, const S& s) { write_secret(e, s.*member, source, base); }});
  }
  return out;
}

// A map under `key` read into `member` as it stands, so that keys it does
// not give keep S's defaults for that member (tickets.due.high starts from
// Tickets::high, not from a TicketDue{}). Optional; always written. The
// section must outlive the field.
template <class S, class Sub>
Field<S> member_map(std::string key, Sub S::*member, const Section<Sub>& section) {
  return {key, false,
          [member, &section](Ctx& ctx, const Value& v, S& s) {
            if (!v.node.IsMap()) return ctx.fail(v, "expected a map, got " + describe(v.node));
            read_map(ctx, v, section, s.*member);
          },
          [key, member, &section](YAML::Emitter& e, const S& s) {
            e << YAML::Key << key << YAML::Value;
            write_map(e, section, s.*member);
          }};
}

// `f`, written only when `skip(s)` is false.
template <class S>
Field<S> write_unless(Field<S> f, std::function<bool(const S&)> skip) {
  f.write = [write = std::move(f.write), skip = std::move(skip)](YAML::Emitter& e, const S& s) {
    if (!skip(s)) write(e, s);
  };
  return f;
}

// The fields of a member struct written flat in this map (smpp: window, ...
// fill Smpp::session).
// A map under `key` whose fields fill S itself (policy: opt_out: scope ...
// fills Policy::opt_out_scope); the other way round from flatten. Optional;
// always written. The section must outlive the field.
template <class S>
Field<S> nested(std::string key, const Section<S>& section) {
  return {key, false,
          [&section](Ctx& ctx, const Value& v, S& s) {
            if (!v.node.IsMap()) return ctx.fail(v, "expected a map, got " + describe(v.node));
            read_map(ctx, v, section, s);
          },
          [key, &section](YAML::Emitter& e, const S& s) {
            e << YAML::Key << key << YAML::Value;
            write_map(e, section, s);
          }};
}

template <class S, class Sub>
std::vector<Field<S>> flatten(Sub S::*member, const std::vector<Field<Sub>>& fields) {
  std::vector<Field<S>> out;
  for (const auto& f : fields) {
    out.push_back({f.key, f.required,
                   [member, read = f.read](Ctx& ctx, const Value& v, S& s) { read(ctx, v, s.*member); },
                   [member, write = f.write](YAML::Emitter& e, const S& s) { write(e, s.*member); }});
  }
  return out;
}

template <class S>
std::vector<Field<S>> operator+(std::vector<Field<S>> a, std::vector<Field<S>> b) {
  a.insert(a.end(), std::make_move_iterator(b.begin()), std::make_move_iterator(b.end()));
  return a;
}

// ------------------------------------------------------------------ maps

// One key of a map and its value.
struct Entry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
};

// The map's entries, with YAML merge keys expanded ("<<: *defaults": the
// map's own keys win, then earlier merged maps). Reports keys that are not
// scalars, duplicate keys and merges of something other than maps.
std::vector<Entry> entries_of(Ctx& ctx, const Value& map);

template <class S>
void read_map(Ctx& ctx, const Value& map, const Section<S>& section, S& out) {
  std::set<std::string> present;
  for (const Entry& e : entries_of(ctx, map)) {
    present.insert(e.key);
    auto f = std::find_if(section.fields.begin(), section.fields.end(),
                          [&](const Field<S>& x) { return x.key == e.key; });
    if (f == section.fields.end()) {
      std::vector<std::string_view> keys;
      for (const auto& x : section.fields) keys.push_back(x.key);
      std::string guess = nearest(e.key, keys);
      ctx.error(e.key_node.Mark(), "unknown key '" + e.key + "' " + where(map.path) +
                                       (guess.empty() ? "" : " (did you mean '" + guess + "'?)"));
      continue;
    }
    YAML::Mark at = e.value.IsNull() || e.value.Mark().line < 0 ? e.key_node.Mark() : e.value.Mark();
    Value child{e.value, at, e.key_node.Mark(), join(map.path, e.key)};
    ctx.remember(child);
    f->read(ctx, child, out);
  }
  for (const auto& f : section.fields) {
    if (f.required && !present.contains(f.key)) {
      ctx.error(map.mark, "missing required key '" + f.key + "' " + where(map.path));
    }
  }
  if (section.check) section.check(ctx, map, out);
}
template <class S>
void write_map(YAML::Emitter& e, const Section<S>& section, const S& s) {
  e << YAML::BeginMap;
  for (const auto& f : section.fields) f.write(e, s);
  e << YAML::EndMap;
}

}  // namespace smsgate::config::schema
