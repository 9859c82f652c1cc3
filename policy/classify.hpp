// Replies (MO messages) to marketing: does the recipient opt out, opt back
// in, ask for help or complain, and if a complaint, about what and how
// urgently. Pure: the caller passes the decoded, reassembled UTF-8 text and
// what it knows about the number; nothing here does I/O or reads a clock.
// docs/replies.md has the default words and the reasons behind each rule;
// the facts come from the policy reference ("Reply keywords", "Complaint
// categories").
//
// Normalisation (normalise_reply): Unicode NFKC with case folding (ICU's
// NFKC_Casefold: full-width "ＴＤ" -> "td", "ＳＴＯＰ" -> "stop", ignorable
// format characters dropped), then a small Traditional -> Simplified table
// for the characters of the Chinese vocabulary (退訂 -> 退订; not a general
// converter). Matching looks at letters, digits and combining marks only:
// punctuation, spaces, symbols and emoji are stripped.
//
// Words and sentences. The reply is cut into words: runs of letters and
// digits; every CJK character (Han, kana, Hangul) is a word of its own, as
// Chinese has no spaces. Sentences end at . , ! ? ; : 。 、 and line breaks.
// A keyword is compared on the same normalised form, so "opt out", "opt-out"
// and "OPTOUT" are one keyword.
//
// Tiers, tried for every outcome (a KeywordSet below):
//   1 exact     the whole reply is an exact or leading word: "T", "ＴＤ。",
//               "STOP!!!". Single letters are only ever exact: "T恤"
//               (T-shirt) and "回T" are other.
//   2 leading   a leading word with nothing but filler words around it
//               (please, thanks, now, me, texting, 谢谢, 请, 了 ...):
//               "STOP please", "please stop texting me", "TD谢谢"; either in
//               the whole reply or in one of its sentences ("STOP. Who is
//               this?", "你们是谁？退订"). Any other word in the same sentence
//               makes it ordinary text: "Stop by our store" and "TD银行" are
//               other. An opt-in needs the whole reply: "Yes, who is this?"
//               is other.
//   3 phrase    a phrase anywhere, on word boundaries ("spam" does not match
//               "spamalot", "12321" not "1232188"; any CJK character is a
//               boundary, so "退订" matches inside "我要退订"). A phrase
//               right after a negation (不要, 别, 不, don't, not, never ...;
//               no punctuation between: "不，退订" opts out) does not count
//               for opt-out, opt-in and help: "不要退订" is other, not an
//               opt-in (an opt-in undoes a recipient's opt-out and needs an
//               explicit keyword). Negation never cancels a complaint word:
//               "别骚扰我" is a complaint.
//   4 near_miss one Damerau edit (optimal string alignment: one letter
//               inserted, deleted or replaced, or two adjacent letters
//               swapped) from a keyword made only of letters (no digits, no
//               CJK: a changed Chinese character is another word, 取消订单
//               is not 取消订阅):
//               - the whole reply, or a word standing for a leading keyword
//                 as in tier 2, when the longer of the two words has 5
//                 letters or more ("STOPP" and "stops" -> STOP, "unsubscibe";
//                 "shop", "stpo", "quiz" are not near "stop"/"quit"). The
//                 longer word counts, not the keyword, so that "STOPP" is
//                 caught while two 4-letter words never match each other;
//               - a word anywhere vs a one-word phrase of 8 letters or more
//                 ("please unsubscrbe me", "harrassment"): shorter phrases in
//                 a sentence hit other words ("layer" is not "lawyer").
//               Near misses never make an opt-in: a guessed "start" is not
//               consent.
//   5 pattern   RE2 patterns on the folded text, compiled when the rules are
//               built, never at match time.
//
// Outcome: the first of complaint > opt_out > opt_in > help that matched in
// any tier; `tier` is the best tier that outcome matched in. A complaint
// also opts the number out (opts_out()).
//
// Complaint categories. Category words and patterns are complaint words that
// also name a category (退订失败还在发 is a complaint of category
// unsubscribe_failed without saying 投诉). Facts from the caller:
//   already_opted_out  the number was opted out when a message reached it:
//                      category unsubscribe_failed; it also turns an opt-out
//                      reply into a complaint (someone who opted out, got a
//                      message anyway and says TD again is reporting the
//                      failure). An opt-in, help or other reply stays as it is.
//   sent_24h > frequent_threshold_24h (0: off): category harassment for a
//                      complaint. It does not turn an opt-out into a
//                      complaint: many messages are a cap matter, and the
//                      opt-out is honoured either way.
// When several categories apply the most severe wins (severities as
// configured), ties in the order regulator_report, unsubscribe_failed,
// privacy, harassment, wrong_recipient; a complaint with none is "other".
//
// Thread safety: a Classifier is immutable once built; classify() is const
// and takes no locks (RE2 matching and ICU's normaliser are thread-safe), so
// one Classifier serves every thread. Copies share the compiled rules.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace smsgate::policy {

// In reverse order of precedence: a larger value wins.
enum class ReplyOutcome : uint8_t { other, help, opt_in, opt_out, complaint };
enum class MatchTier : uint8_t { none, exact, leading, phrase, near_miss, pattern, fact };
enum class ComplaintCategory : uint8_t {
  none,                // not a complaint
  unsubscribe_failed,  // 退订失败
  harassment,          // 频繁骚扰 (too frequent)
  wrong_recipient,     // 误发短信
  privacy,             // 隐私担忧
  regulator_report,    // 监管举报 (regulator, lawyer, police)
  other,               // a complaint with no category signal
};
enum class Severity : uint8_t { none, normal, high, urgent };

std::string_view to_string(ReplyOutcome outcome);     // "opt_out"
std::string_view to_string(MatchTier tier);           // "near_miss"
std::string_view to_string(ComplaintCategory category);  // "unsubscribe_failed"
std::string_view to_string(Severity severity);        // "urgent"
// The category's name in the complaint-handling practice: "退订失败", "其他".
std::string_view chinese_name(ComplaintCategory category);
// English or Chinese name ("harassment", "too_frequent", "频繁骚扰"); not "none".
std::optional<ComplaintCategory> parse_complaint_category(std::string_view name);
// "urgent", "high", "normal".
std::optional<Severity> parse_severity(std::string_view name);

struct NormalisedReply {
  std::string folded;   // NFKC + case fold + Traditional -> Simplified, whitespace runs as one space, trimmed
  std::string compact;  // folded with only letters (CJK included), digits and marks: no punctuation, spaces, emoji
};
NormalisedReply normalise_reply(std::string_view utf8);

// The words of one outcome, by tier (see the top of this file). Words are
// normalised like replies, so case, width and punctuation do not matter.
struct KeywordSet {
  std::vector<std::string> exact;     // the whole reply only: "T", "R"
  std::vector<std::string> leading;   // whole reply, or among filler words: "STOP", "TD"
  std::vector<std::string> phrases;   // anywhere, on word boundaries: "unsubscribe", "退订"
  std::vector<std::string> patterns;  // RE2, on NormalisedReply::folded
};

struct ClassifierConfig {
  KeywordSet opt_out, opt_in, help, complaint;
  // Category name (parse_complaint_category) -> phrases / RE2 patterns that
  // make a reply a complaint of that category.
  std::map<std::string, std::vector<std::string>> category_words;
  std::map<std::string, std::vector<std::string>> category_patterns;
  // Category name -> severity name. Starts from the policy reference's table
  // whatever use_defaults says: regulator_report urgent; unsubscribe_failed,
  // privacy high; harassment, wrong_recipient, other normal.
  std::map<std::string, std::string> severity;
  // Words that may stand around a leading keyword (one word each; Chinese
  // fillers are matched character by character), and negations.
  std::vector<std::string> filler_words;
  std::vector<std::string> negations;
  // sent_24h above this makes a complaint "harassment"; 0 turns it off.
  uint32_t frequent_threshold_24h = 5;
  // The configured words are added to the built-in ones
  // (default_classifier_config()); false: only the configured words.
  bool use_defaults = true;
};

// The built-in English and Chinese words (use_defaults is false in it).
ClassifierConfig default_classifier_config();

// What the caller knows about the number that replied.
struct ReplyFacts {
  bool already_opted_out = false;  // opted out when a message reached it
  uint32_t sent_24h = 0;           // messages sent to it in the last 24 h
};

struct ReplyMatch {
  ReplyOutcome outcome = ReplyOutcome::other;
  MatchTier tier = MatchTier::none;
  ComplaintCategory category = ComplaintCategory::none;  // category words, patterns and facts
  std::string word;   // as configured: the keyword, the pattern, or the fact ("already_opted_out", "sent_24h>5")
  std::string found;  // the normalised part of the reply that matched ("unsubscibe" for a near miss)
};

struct Classification {
  ReplyOutcome outcome = ReplyOutcome::other;
  MatchTier tier = MatchTier::none;  // the best tier of the winning outcome
  ComplaintCategory category = ComplaintCategory::none;  // complaints only
  Severity severity = Severity::none;                     // complaints only
  // Every match of every outcome, by precedence then tier, each word once at
  // its best tier: what a ticket shows as "matched words".
  std::vector<ReplyMatch> matches;
  NormalisedReply text;

  // A complaint also opts the number out (policy reference).
  bool opts_out() const { return outcome == ReplyOutcome::complaint || outcome == ReplyOutcome::opt_out; }
};

// RE2 patterns: each compiled with at most this much memory (RE2's default
// is 8 MiB per pattern, and its DFA grows to that at match time), so the
// configured patterns together stay small; a pattern that needs more is
// refused when the rules are built ("pattern too large").
inline constexpr int64_t kPatternMaxMem = 1 << 20;
// RE2's message when `pattern` does not compile as the classifier compiles
// it (kPatternMaxMem); nullopt when it does.
std::optional<std::string> pattern_error(const std::string& pattern);

// Builds a Classifier from a configuration (below, after the class).
struct ClassifierBuild;
ClassifierBuild build_classifier(const ClassifierConfig& config);

// Built once (build_classifier), then shared by every thread.
class Classifier {
 public:
  Classification classify(std::string_view utf8_text, const ReplyFacts& facts = {}) const;

  struct Rules;  // compiled words and patterns, defined in classify.cpp

 private:
  friend ClassifierBuild build_classifier(const ClassifierConfig& config);
  explicit Classifier(std::shared_ptr<const Rules> rules) : rules_(std::move(rules)) {}
  std::shared_ptr<const Rules> rules_;
};

// What build_classifier() gives: a classifier, or every problem found in the
// configuration (unknown category or severity names, words with no letters
// or digits, patterns RE2 rejects, with the pattern and RE2's message).
struct ClassifierBuild {
  std::optional<Classifier> classifier;
  std::vector<std::string> errors;
};

}  // namespace smsgate::policy
