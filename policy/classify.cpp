#include "policy/classify.hpp"

#include <re2/re2.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/uscript.h>

#include <algorithm>
#include <array>
#include <unordered_set>

namespace smsgate::policy {

struct Classifier::Rules {
  struct Word {
    std::string text;        // as configured, for the ticket
    std::u32string compact;  // normalised like a reply's compact form
    bool letters = false;    // only letters, none CJK: near misses apply
    bool one_word = false;   // a single word: near misses anywhere apply
  };
  struct Pattern {
    std::string source;
    std::shared_ptr<const re2::RE2> re;
    ComplaintCategory category = ComplaintCategory::none;
  };
  // The words of one outcome by tier.
  struct Outcome {
    ReplyOutcome outcome = ReplyOutcome::other;
    std::vector<Word> whole;    // exact + leading: the whole reply
    std::vector<Word> leading;  // among filler words
    std::vector<Word> phrases;  // anywhere
    std::vector<ComplaintCategory> phrase_category;  // parallel to phrases
    std::vector<Pattern> patterns;
  };

  // In precedence order: complaint, opt_out, opt_in, help.
  std::array<Outcome, 4> outcomes;
  std::unordered_set<std::u32string> fillers;  // words without CJK characters
  std::vector<std::u32string> cjk_fillers;     // CJK fillers, matched character by character
  std::vector<std::u32string> negations;
  std::array<Severity, 7> severity{};  // by ComplaintCategory
  uint32_t frequent_threshold_24h = 0;
};

namespace {

using Rules = Classifier::Rules;
using Word = Rules::Word;
using Pattern = Rules::Pattern;

// Near misses (see the header): the longer word of the whole reply / a
// leading word, and the phrase anywhere.
constexpr size_t kNearMissMinLetters = 5;
constexpr size_t kNearMissMinPhraseLetters = 8;

constexpr std::array kPrecedence{ReplyOutcome::complaint, ReplyOutcome::opt_out, ReplyOutcome::opt_in,
                                 ReplyOutcome::help};
// Ties between categories of equal severity.
constexpr std::array kCategoryOrder{ComplaintCategory::regulator_report, ComplaintCategory::unsubscribe_failed,
                                    ComplaintCategory::privacy, ComplaintCategory::harassment,
                                    ComplaintCategory::wrong_recipient, ComplaintCategory::other};

// ---------------------------------------------------------------- text

// Traditional -> Simplified, pairs of characters: the Chinese vocabulary of
// the defaults and the words around it in real replies (退訂, 投訴, 騷擾,
// 還在發 ...). Enough to read a Traditional reply against Simplified
// keywords; not a converter (ICU's Hant-Hans transliterator is large and a
// shared Transliterator is not safe to use from several threads).
constexpr std::u32string_view kTraditionalPairs =
    U"訂订閱阅訴诉舉举報报騷骚擾扰詐诈騙骗師师幫帮隱隐洩泄發发錯错頻频還还敗败號号碼码麼么麽么"
    U"絕绝請请謝谢們们給给資资訊讯簡简關关閉闭無无條条嗎吗過过來来這这個个說说對对別别煩烦話话"
    U"電电費费單单業业務务銷销廣广繼继續续復复開开啟启為为爲为會会處处應应該该讓让聯联繫系經经"
    U"詢询問问題题顧顾戶户權权錢钱銀银歡欢員员機机構构門门導导嚴严舊旧鬧闹討讨厭厌總总據据從从"
    U"裡里裏里內内頭头時时間间長长點点兒儿邊边東东車车見见現现義义實实際际線线網网絡络標标準准"
    U"買买賣卖價价優优樣样難难變变錄录刪删動动態态與与專专認认識识證证讀读寫写統统計计設设選选"
    U"擇择項项詳详細细確确傳传護护漢汉語语紙纸幾几萬万億亿獲获樂乐鐘钟遞递郵邮撥拨擊击擔担憂忧"
    U"慮虑懼惧驚惊嚇吓惱恼氣气殺杀貸贷險险罰罚違违規规則则訟讼協协後后沒没臺台灣湾陸陆國国區区";

char32_t simplified(char32_t c) {
  static const std::vector<std::pair<char32_t, char32_t>> table = [] {
    std::vector<std::pair<char32_t, char32_t>> t;
    for (size_t i = 0; i + 1 < kTraditionalPairs.size(); i += 2)
      t.emplace_back(kTraditionalPairs[i], kTraditionalPairs[i + 1]);
    std::sort(t.begin(), t.end());
    return t;
  }();
  if (c < 0x3400) return c;
  const auto it = std::lower_bound(table.begin(), table.end(), std::pair<char32_t, char32_t>{c, 0});
  return it != table.end() && it->first == c ? it->second : c;
}

bool is_cjk(char32_t c) {
  UErrorCode status = U_ZERO_ERROR;
  switch (uscript_getScript(static_cast<UChar32>(c), &status)) {
    case USCRIPT_HAN:
    case USCRIPT_HIRAGANA:
    case USCRIPT_KATAKANA:
    case USCRIPT_HANGUL:
    case USCRIPT_BOPOMOFO: return true;
    default: return false;
  }
}

// Letters, digits and combining marks take part in matching; punctuation,
// separators, symbols (emoji, skin tones, regional indicators), controls
// and enclosing marks (the keycap in "1️⃣") do not.
bool kept(char32_t c) {
  const auto mask = U_GET_GC_MASK(static_cast<UChar32>(c));
  return (mask & (U_GC_L_MASK | U_GC_MN_MASK | U_GC_MC_MASK | U_GC_N_MASK)) != 0 &&
         !u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_EXTENDED_PICTOGRAPHIC);
}

// Ends a sentence or clause: after NFKC, full-width ！？，；： are ASCII.
bool ends_clause(char32_t c) {
  return std::u32string_view(U".,!?;:。、\n\r\u2028\u2029").find(c) != std::u32string_view::npos;
}

bool is_space(char32_t c) {
  return u_isUWhiteSpace(static_cast<UChar32>(c)) || u_charType(static_cast<UChar32>(c)) == U_CONTROL_CHAR;
}

void append_utf8(std::string& out, char32_t c) {
  if (c >= 0xD800 && c <= 0xDFFF) c = 0xFFFD;  // a lone surrogate from ill-formed input
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string to_utf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) append_utf8(out, c);
  return out;
}

// A reply (or a keyword) after normalisation, cut into words.
struct Text {
  struct Token {
    size_t begin = 0, end = 0;  // in compact
    bool cjk = false;
  };
  std::u32string folded;
  std::u32string compact;
  std::vector<Token> tokens;
  // boundary[i]: a word starts or ends between compact[i-1] and compact[i];
  // compact.size() + 1 entries, both ends true.
  std::vector<bool> boundary;
  // punctuated[i]: punctuation stood between compact[i-1] and compact[i]
  // ("不，退订": the 不 does not negate).
  std::vector<bool> punctuated;
  // Sentences and clauses (split at . , ! ? ; : 。 、 and line breaks), as
  // token ranges [first, last).
  std::vector<std::pair<size_t, size_t>> clauses;

  std::u32string_view token(size_t i) const {
    return std::u32string_view(compact).substr(tokens[i].begin, tokens[i].end - tokens[i].begin);
  }
};

Text analyse(std::string_view utf8) {
  const icu::UnicodeString source =
      icu::UnicodeString::fromUTF8(icu::StringPiece(utf8.data(), static_cast<int32_t>(utf8.size())));
  icu::UnicodeString norm = source;
  UErrorCode status = U_ZERO_ERROR;
  // NFKC_Casefold = NFKC, full case folding, default ignorables removed.
  if (const icu::Normalizer2* nfkc_cf = icu::Normalizer2::getNFKCCasefoldInstance(status); U_SUCCESS(status)) {
    icu::UnicodeString out = nfkc_cf->normalize(source, status);
    if (U_SUCCESS(status)) norm = std::move(out);
  }

  Text t;
  bool pending_space = false;
  bool word_break = true;
  bool punctuation = false;
  bool clause_end = false;
  for (int32_t i = 0; i < norm.length(); i = norm.moveIndex32(i, 1)) {
    const char32_t c = simplified(static_cast<char32_t>(norm.char32At(i)));
    clause_end = clause_end || ends_clause(c);
    if (is_space(c)) {
      pending_space = !t.folded.empty();
      word_break = true;
      continue;
    }
    if (pending_space) t.folded.push_back(U' ');
    pending_space = false;
    t.folded.push_back(c);
    if (!kept(c)) {
      word_break = true;
      punctuation = punctuation || (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_P_MASK) != 0;
      continue;
    }
    const bool cjk = is_cjk(c);
    if (!word_break && !cjk && !t.tokens.empty() && !t.tokens.back().cjk) {
      ++t.tokens.back().end;
    } else {
      if (t.clauses.empty() || clause_end) t.clauses.emplace_back(t.tokens.size(), t.tokens.size());
      t.tokens.push_back({t.compact.size(), t.compact.size() + 1, cjk});
      t.clauses.back().second = t.tokens.size();
    }
    clause_end = false;
    t.compact.push_back(c);
    t.punctuated.push_back(punctuation);
    punctuation = false;
    word_break = cjk;  // every CJK character is a word of its own
  }
  t.punctuated.push_back(false);
  t.boundary.assign(t.compact.size() + 1, false);
  t.boundary.back() = true;
  for (const Text::Token& token : t.tokens) t.boundary[token.begin] = t.boundary[token.end] = true;
  return t;
}

// ---------------------------------------------------------------- words

// One Damerau edit (optimal string alignment) apart: one letter inserted,
// deleted or replaced, or two adjacent letters swapped. Equal is not a miss.
bool one_edit_apart(std::u32string_view a, std::u32string_view b) {
  if (a.size() > b.size()) std::swap(a, b);
  if (b.size() - a.size() > 1) return false;
  size_t i = 0;
  while (i < a.size() && a[i] == b[i]) ++i;
  if (a.size() < b.size()) return a.substr(i) == b.substr(i + 1);
  if (i == a.size()) return false;
  if (a.substr(i + 1) == b.substr(i + 1)) return true;
  return i + 1 < a.size() && a[i] == b[i + 1] && a[i + 1] == b[i] && a.substr(i + 2) == b.substr(i + 2);
}

bool near_whole(std::u32string_view typed, const Word& w) {
  return w.letters && std::max(typed.size(), w.compact.size()) >= kNearMissMinLetters &&
         one_edit_apart(typed, w.compact);
}

// Whether tokens [i, j) spell `word` for some j <= last; j, or 0.
size_t run_of(const Text& t, size_t i, std::u32string_view word, size_t last) {
  size_t at = 0;
  for (size_t j = i; j < last; ++j) {
    const std::u32string_view tok = t.token(j);
    if (word.substr(at, tok.size()) != tok) return 0;
    at += tok.size();
    if (at == word.size()) return j + 1;
  }
  return 0;
}

struct Hit {
  size_t word = 0;       // index into the list searched
  std::u32string found;  // the reply's word(s)
};

// The tier "leading" over tokens [first, last): one or more keywords of
// `words` (runs of whole words) and otherwise only filler words. With
// `allow_near`, a single word may also be a near miss of a keyword.
std::optional<Hit> among_fillers(const Rules& rules, const Text& t, const std::vector<Word>& words, bool allow_near,
                                 size_t first, size_t last) {
  if (first >= last || words.empty()) return std::nullopt;
  const size_t n = last - first;
  std::vector<bool> plain(n + 1, false);         // reached with fillers only
  std::vector<std::optional<Hit>> keyed(n + 1);  // reached with a keyword, the first one
  plain[0] = true;
  auto reach = [&](size_t i, size_t j, std::optional<Hit> hit) {  // token indices relative to first
    if (plain[i] && !hit) plain[j] = true;
    if (keyed[i]) hit = keyed[i];
    if (hit && !keyed[j]) keyed[j] = std::move(hit);
  };
  for (size_t i = 0; i < n; ++i) {
    if (!plain[i] && !keyed[i]) continue;
    const size_t at = first + i;
    // Filler words.
    if (!t.tokens[at].cjk) {
      if (rules.fillers.count(std::u32string(t.token(at)))) reach(i, i + 1, std::nullopt);
    } else {
      for (const std::u32string& f : rules.cjk_fillers)
        if (const size_t j = run_of(t, at, f, last)) reach(i, j - first, std::nullopt);
    }
    // Keywords.
    for (size_t k = 0; k < words.size(); ++k) {
      if (const size_t j = run_of(t, at, words[k].compact, last)) {
        reach(i, j - first, Hit{k, words[k].compact});
      } else if (allow_near && !t.tokens[at].cjk && near_whole(t.token(at), words[k])) {
        reach(i, i + 1, Hit{k, std::u32string(t.token(at))});
      }
    }
  }
  return keyed[n];
}

// The tier "leading": the whole reply is keywords among fillers, or, except
// for an opt-in, one sentence of it is ("STOP. Who is this?").
std::optional<Hit> leading_keyword(const Rules& rules, const Text& t, const Rules::Outcome& o, bool allow_near) {
  if (auto hit = among_fillers(rules, t, o.leading, allow_near, 0, t.tokens.size())) return hit;
  if (o.outcome == ReplyOutcome::opt_in || t.clauses.size() < 2) return std::nullopt;
  for (const auto& [first, last] : t.clauses)
    if (auto hit = among_fillers(rules, t, o.leading, allow_near, first, last)) return hit;
  return std::nullopt;
}

bool negated(const Rules& rules, const Text& t, size_t pos) {
  for (const std::u32string& neg : rules.negations) {
    if (neg.size() <= pos && t.boundary[pos - neg.size()] && !t.punctuated[pos] &&
        std::u32string_view(t.compact).substr(pos - neg.size(), neg.size()) == neg)
      return true;
  }
  return false;
}

// The first place `w` occurs on word boundaries (and, when `negatable`, not
// right after a negation); npos when none.
size_t find_phrase(const Rules& rules, const Text& t, const Word& w, bool negatable) {
  for (size_t pos = t.compact.find(w.compact); pos != std::u32string::npos; pos = t.compact.find(w.compact, pos + 1)) {
    if (t.boundary[pos] && t.boundary[pos + w.compact.size()] && !(negatable && negated(rules, t, pos))) return pos;
  }
  return std::u32string::npos;
}

// ---------------------------------------------------------------- names

constexpr std::array<std::pair<ComplaintCategory, std::string_view>, 8> kCategoryNames{{
    {ComplaintCategory::unsubscribe_failed, "unsubscribe_failed"},
    {ComplaintCategory::harassment, "harassment"},
    {ComplaintCategory::harassment, "too_frequent"},
    {ComplaintCategory::wrong_recipient, "wrong_recipient"},
    {ComplaintCategory::privacy, "privacy"},
    {ComplaintCategory::regulator_report, "regulator_report"},
    {ComplaintCategory::other, "other"},
    {ComplaintCategory::none, "none"},
}};

}  // namespace

std::string_view to_string(ReplyOutcome outcome) {
  switch (outcome) {
    case ReplyOutcome::other: return "other";
    case ReplyOutcome::help: return "help";
    case ReplyOutcome::opt_in: return "opt_in";
    case ReplyOutcome::opt_out: return "opt_out";
    case ReplyOutcome::complaint: return "complaint";
  }
  return "?";
}

std::string_view to_string(MatchTier tier) {
  switch (tier) {
    case MatchTier::none: return "none";
    case MatchTier::exact: return "exact";
    case MatchTier::leading: return "leading";
    case MatchTier::phrase: return "phrase";
    case MatchTier::near_miss: return "near_miss";
    case MatchTier::pattern: return "pattern";
    case MatchTier::fact: return "fact";
  }
  return "?";
}

std::string_view to_string(ComplaintCategory category) {
  for (const auto& [c, name] : kCategoryNames)
    if (c == category) return name;
  return "?";
}

std::string_view chinese_name(ComplaintCategory category) {
  switch (category) {
    case ComplaintCategory::none: return "";
    case ComplaintCategory::unsubscribe_failed: return "退订失败";
    case ComplaintCategory::harassment: return "频繁骚扰";
    case ComplaintCategory::wrong_recipient: return "误发短信";
    case ComplaintCategory::privacy: return "隐私担忧";
    case ComplaintCategory::regulator_report: return "监管举报";
    case ComplaintCategory::other: return "其他";
  }
  return "?";
}

std::string_view to_string(Severity severity) {
  switch (severity) {
    case Severity::none: return "none";
    case Severity::normal: return "normal";
    case Severity::high: return "high";
    case Severity::urgent: return "urgent";
  }
  return "?";
}

std::optional<ComplaintCategory> parse_complaint_category(std::string_view name) {
  for (const auto& [c, n] : kCategoryNames)
    if (c != ComplaintCategory::none && n == name) return c;
  for (const ComplaintCategory c : kCategoryOrder)
    if (chinese_name(c) == name) return c;
  return std::nullopt;
}

std::optional<Severity> parse_severity(std::string_view name) {
  for (const Severity s : {Severity::normal, Severity::high, Severity::urgent})
    if (to_string(s) == name) return s;
  return std::nullopt;
}

NormalisedReply normalise_reply(std::string_view utf8) {
  const Text t = analyse(utf8);
  return {to_utf8(t.folded), to_utf8(t.compact)};
}

// ---------------------------------------------------------------- defaults

ClassifierConfig default_classifier_config() {
  ClassifierConfig c;
  c.use_defaults = false;

  // Policy reference, "Reply keywords". Single letters only alone.
  c.opt_out.exact = {"T", "R", "N", "退定"};
  c.opt_out.leading = {"STOP",  "STOPALL", "UNSUBSCRIBE", "CANCEL", "END",    "QUIT",    "REVOKE",
                       "OPTOUT", "OPT OUT", "ARRET",      "ARRÊT",  "ARRETE", "ARRÊTE", "NO MAS",
                       "NO MÁS", "TD",      "TUIDING",    "退订",   "取消订阅", "拒收",   "不要再发"};
  c.opt_out.phrases = {"unsubscribe",  "opt out",     "remove me",  "remove my number", "take me off",
                       "no more texts", "no more messages", "do not text", "dont text", "do not contact",
                       "dont contact", "stop texting", "stop sending", "stop messaging", "stop contacting",
                       "退订",         "取消订阅",    "拒收",       "不要再发",         "别再发",
                       "不想收到",     "不想再收到",  "停止发送",   "取消短信",         "拉黑"};
  c.opt_out.patterns = {
      // 别发了, 不要再给我发, 别再推送: "don't send (again)".
      "(别|不要|不许|不准|勿)再(给我)?(发|推送)",
      "(别|不要|不许|不准|勿)(给我)?(发|推送)(了|短信|信息|消息|广告)",
  };

  c.opt_in.leading = {"START", "UNSTOP", "YES", "SUBSCRIBE", "订阅"};
  c.opt_in.phrases = {"resubscribe", "重新订阅", "恢复订阅", "继续订阅"};

  // No help phrases: "谢谢你的帮助" is not a request for the help text.
  c.help.leading = {"HELP", "INFO", "帮助"};

  // Complaint words without a category of their own; the categories'
  // words below are complaint words too.
  c.complaint.phrases = {"投诉", "举报",     "诈骗",     "骗子",  "垃圾短信", "spam",   "spammer", "spammers",
                         "spamming", "scam", "scammer", "scammers", "fraud", "fraudulent", "complaint", "complain"};
  // "report" alone is everyday English ("send me the report"): only as a threat.
  c.complaint.patterns = {
      R"(\breport(ed|ing)?\s+(you|u)\b)",
      R"(\breport(ed|ing)?\s+(this|these|them|it|your\s+\w+)\s+(to|as)\b)",
      R"(\b(will|gonna|going\s+to|i['’]?ll|i\s+am|i['’]?m)\s+report)",
  };

  // Policy reference, "Complaint categories": the signals, made specific
  // enough to stand alone in a reply. Words ending in 发 are patterns that
  // leave out 发货 (ship goods) and 发票 (invoice): "每天发货吗", "还在发货"
  // and "发错货了" are shop questions, not complaints.
  c.category_words["regulator_report"] = {
      "12321", "工信部", "12315", "律师", "起诉", "报警", "消协", "消费者协会", "通信管理局", "法院",
      "lawyer", "attorney", "fcc", "ftc", "sue you", "suing", "legal action", "police"};
  c.category_words["unsubscribe_failed"] = {
      "退订失败", "退订无效", "退订没用", "无法退订", "退订不了", "退不了", "已经退订", "已退订", "退订过了",
      "退订了还", "退了还",
      "still getting", "still receiving", "still sending", "keep getting", "keep sending",
      "already unsubscribed", "already opted out", "unsubscribed already", "i unsubscribed",
      "cant unsubscribe", "cannot unsubscribe", "unable to unsubscribe"};
  c.category_patterns["unsubscribe_failed"] = {
      "退订.{0,20}(还|又|仍然?|依然|继续)(在|是|给我|一直)?(发|收到)",
      "(怎么|为什么|为啥|咋)还(在|是|一直|老是)?(给我)?发([^货票]|$)",
      R"((unsubscribed|opted out|replied stop|texted stop|said stop).{0,40}\b(still|again|keep)\b)",
  };
  c.category_words["privacy"] = {
      "隐私", "泄露", "泄漏", "怎么知道我的号码", "哪来的号码", "哪来我的号码", "哪里来的号码",
      "谁给你的号码", "怎么有我的号码", "privacy", "personal data", "personal information", "gdpr",
      "where did you get my number", "how did you get my number", "who gave you my number"};
  c.category_patterns["privacy"] = {
      "(哪|怎么|从哪|从何).{0,6}(来|知道|弄到|有|得到|搞到|拿到)的?我的?(手机号码|手机号|号码|电话|手机|信息|资料)",
      R"(\b(where|how)\s+(did|do)\s+(you|u)\s+(get|find|obtain)\s+(my|this)\s+(number|phone|cell|info))",
  };
  c.category_words["harassment"] = {
      "骚扰", "频繁", "天天收到", "一天到晚", "烦死", "烦不烦", "太烦", "harass", "harassed", "harassing", "harassment",
      "too many texts", "too many messages", "so many texts", "so many messages", "every single day"};
  c.category_patterns["harassment"] = {"(天天|每天|一天)(都|就|老是|给我)*发([^货票]|$)"};
  c.category_words["wrong_recipient"] = {
      "发错人", "发错号", "不是本人", "不是我本人", "不是我的号码", "号码错了", "wrong number", "wrong person",
      "not my number"};
  c.category_patterns["wrong_recipient"] = {"发错([^货件票地]|$)"};

  c.filler_words = {
      // English: politeness, pronouns, and words naming the messages.
      "please", "pls", "plz", "thanks", "thank", "thankyou", "thx", "ty", "you", "u", "now", "right",
      "asap", "immediately", "already", "ok", "okay", "yes", "no", "hi", "hello", "hey", "dear", "sir",
      "me", "my", "us", "i", "want", "to", "can", "could", "would", "just", "it", "this", "these", "that",
      "them", "all", "the", "any", "more", "of", "from", "for", "at", "once", "texting", "texts", "text",
      "txt", "txts", "messages", "message", "messaging", "msgs", "msg", "sms", "sending", "send", "ads",
      "promotions", "promos", "marketing", "subscription", "subscriptions", "number", "list",
      // French and Spanish, next to ARRET and NO MAS.
      "svp", "merci", "por", "favor", "gracias",
      // Chinese.
      "谢谢", "谢", "请", "了", "吧", "啊", "呀", "哦", "嗯", "好", "好的", "马上", "立即", "立刻",
      "你们", "你", "您", "我", "需要", "回复", "回", "短信", "信息", "消息", "讯息", "麻烦", "哈", "呢", "啦", "亲"};
  c.negations = {"不要", "不用", "不想", "不必", "不需要", "无需", "别", "勿", "不",
                 "dont", "do not", "not", "never", "didnt"};
  return c;
}

// ---------------------------------------------------------------- build

namespace {

void append(std::vector<std::string>& to, const std::vector<std::string>& from) {
  to.insert(to.end(), from.begin(), from.end());
}

ClassifierConfig merged(const ClassifierConfig& config) {
  if (!config.use_defaults) return config;
  ClassifierConfig all = default_classifier_config();
  for (auto [to, from] : {std::pair{&all.opt_out, &config.opt_out}, std::pair{&all.opt_in, &config.opt_in},
                          std::pair{&all.help, &config.help}, std::pair{&all.complaint, &config.complaint}}) {
    append(to->exact, from->exact);
    append(to->leading, from->leading);
    append(to->phrases, from->phrases);
    append(to->patterns, from->patterns);
  }
  for (const auto& [name, words] : config.category_words) append(all.category_words[name], words);
  for (const auto& [name, patterns] : config.category_patterns) append(all.category_patterns[name], patterns);
  all.severity = config.severity;
  append(all.filler_words, config.filler_words);
  append(all.negations, config.negations);
  all.frequent_threshold_24h = config.frequent_threshold_24h;
  all.use_defaults = true;
  return all;
}

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::shared_ptr<const re2::RE2> compile_pattern(const std::string& source) {
  re2::RE2::Options options;
  options.set_log_errors(false);
  options.set_max_mem(kPatternMaxMem);
  return std::make_shared<const re2::RE2>(source, options);
}

class RuleBuilder {
 public:
  explicit RuleBuilder(std::vector<std::string>& errors) : errors_(errors) {}

  // Normalised words, each once; a word with nothing left is an error.
  void words(std::vector<Word>& out, const std::vector<std::string>& in, const std::string& where) {
    for (const std::string& text : in) {
      std::optional<Word> w = word(text, where);
      if (!w) continue;
      const bool seen = std::any_of(out.begin(), out.end(), [&](const Word& o) { return o.compact == w->compact; });
      if (!seen) out.push_back(std::move(*w));
    }
  }

  std::optional<Word> word(const std::string& text, const std::string& where) {
    const Text t = analyse(text);
    if (t.compact.empty()) {
      errors_.push_back(where + ": " + quoted(text) + " has no letters or digits");
      return std::nullopt;
    }
    Word w{text, t.compact, true, t.tokens.size() == 1};
    for (char32_t c : t.compact)
      if (!u_isalpha(static_cast<UChar32>(c)) || is_cjk(c)) w.letters = false;
    return w;
  }

  void patterns(std::vector<Pattern>& out, const std::vector<std::string>& in, const std::string& where,
                ComplaintCategory category) {
    for (const std::string& source : in) {
      auto re = compile_pattern(source);
      if (!re->ok()) {
        errors_.push_back(where + ": " + quoted(source) + " does not compile: " + re->error());
        continue;
      }
      out.push_back(Pattern{source, std::move(re), category});
    }
  }

 private:
  std::vector<std::string>& errors_;
};

}  // namespace

std::optional<std::string> pattern_error(const std::string& pattern) {
  const auto re = compile_pattern(pattern);
  if (re->ok()) return std::nullopt;
  return re->error();
}

ClassifierBuild build_classifier(const ClassifierConfig& config) {
  ClassifierBuild build;
  std::vector<std::string>& errors = build.errors;
  {
    UErrorCode status = U_ZERO_ERROR;
    icu::Normalizer2::getNFKCCasefoldInstance(status);
    if (U_FAILURE(status)) errors.push_back(std::string("ICU NFKC_Casefold data: ") + u_errorName(status));
  }
  const ClassifierConfig all = merged(config);
  auto rules = std::make_shared<Rules>();
  RuleBuilder b(errors);

  const std::array<std::pair<const KeywordSet*, std::string>, 4> sets{{
      {&all.complaint, "complaint"}, {&all.opt_out, "opt_out"}, {&all.opt_in, "opt_in"}, {&all.help, "help"}}};
  for (size_t i = 0; i < sets.size(); ++i) {
    const auto& [set, name] = sets[i];
    Rules::Outcome& o = rules->outcomes[i];
    o.outcome = kPrecedence[i];
    b.words(o.whole, set->exact, name + ".exact");
    b.words(o.whole, set->leading, name + ".leading");
    b.words(o.leading, set->leading, name + ".leading");
    b.words(o.phrases, set->phrases, name + ".phrases");
    o.phrase_category.assign(o.phrases.size(), ComplaintCategory::none);
    b.patterns(o.patterns, set->patterns, name + ".patterns", ComplaintCategory::none);
  }

  // Category words and patterns belong to the complaint outcome.
  Rules::Outcome& complaint = rules->outcomes[0];
  auto category_of = [&](const std::string& name, const std::string& where) -> std::optional<ComplaintCategory> {
    const auto c = parse_complaint_category(name);
    if (!c) errors.push_back(where + ": unknown category " + quoted(name));
    return c;
  };
  for (const auto& [name, words] : all.category_words) {
    const std::string where = "category_words." + name;
    const auto category = category_of(name, where);
    if (!category) continue;
    for (const std::string& text : words) {
      std::optional<Word> w = b.word(text, where);
      if (!w) continue;
      // A word listed as a plain complaint word and as a category word names the category.
      auto it = std::find_if(complaint.phrases.begin(), complaint.phrases.end(),
                             [&](const Word& o) { return o.compact == w->compact; });
      if (it == complaint.phrases.end()) {
        complaint.phrases.push_back(std::move(*w));
        complaint.phrase_category.push_back(*category);
      } else if (complaint.phrase_category[it - complaint.phrases.begin()] == ComplaintCategory::none) {
        complaint.phrase_category[it - complaint.phrases.begin()] = *category;
      }
    }
  }
  for (const auto& [name, patterns] : all.category_patterns) {
    const std::string where = "category_patterns." + name;
    if (const auto category = category_of(name, where)) b.patterns(complaint.patterns, patterns, where, *category);
  }

  // Severities: the policy reference's table, then the configuration.
  auto& sev = rules->severity;
  sev[static_cast<size_t>(ComplaintCategory::regulator_report)] = Severity::urgent;
  sev[static_cast<size_t>(ComplaintCategory::unsubscribe_failed)] = Severity::high;
  sev[static_cast<size_t>(ComplaintCategory::privacy)] = Severity::high;
  sev[static_cast<size_t>(ComplaintCategory::harassment)] = Severity::normal;
  sev[static_cast<size_t>(ComplaintCategory::wrong_recipient)] = Severity::normal;
  sev[static_cast<size_t>(ComplaintCategory::other)] = Severity::normal;
  for (const auto& [name, value] : all.severity) {
    const auto category = category_of(name, "severity");
    const auto severity = parse_severity(value);
    if (!severity) errors.push_back("severity." + name + ": unknown severity " + quoted(value) +
                                    " (urgent, high or normal)");
    if (category && severity) sev[static_cast<size_t>(*category)] = *severity;
  }

  std::vector<Word> fillers;
  b.words(fillers, all.filler_words, "filler_words");
  for (Word& w : fillers) {
    const bool cjk = std::any_of(w.compact.begin(), w.compact.end(), is_cjk);
    if (!cjk && !w.one_word) {
      errors.push_back("filler_words: " + quoted(w.text) + " is more than one word; list each word");
    } else if (!cjk) {
      rules->fillers.insert(std::move(w.compact));
    } else if (std::all_of(w.compact.begin(), w.compact.end(), is_cjk)) {
      rules->cjk_fillers.push_back(std::move(w.compact));
    } else {
      errors.push_back("filler_words: " + quoted(w.text) + " mixes CJK and other letters");
    }
  }
  std::vector<Word> negations;
  b.words(negations, all.negations, "negations");
  for (Word& w : negations) rules->negations.push_back(std::move(w.compact));
  rules->frequent_threshold_24h = all.frequent_threshold_24h;

  if (errors.empty()) build.classifier = Classifier(std::move(rules));
  return build;
}

// ---------------------------------------------------------------- classify

Classification Classifier::classify(std::string_view utf8_text, const ReplyFacts& facts) const {
  const Rules& rules = *rules_;
  const Text t = analyse(utf8_text);
  Classification r;
  r.text = {to_utf8(t.folded), to_utf8(t.compact)};

  // Each word once per outcome, at the first (best) tier it matched in;
  // words are told apart by their normalised form ("STOP" and "stop").
  std::vector<std::pair<ReplyOutcome, std::string>> seen;
  auto record = [&](ReplyOutcome outcome, MatchTier tier, ComplaintCategory category, const std::string& word,
                    std::string key, std::string found) {
    auto entry = std::pair{outcome, std::move(key)};
    if (std::find(seen.begin(), seen.end(), entry) != seen.end()) return;
    seen.push_back(std::move(entry));
    r.matches.push_back(ReplyMatch{outcome, tier, category, word, std::move(found)});
  };
  auto add = [&](ReplyOutcome outcome, MatchTier tier, ComplaintCategory category, const Word& w,
                 std::string found) {
    record(outcome, tier, category, w.text, "w:" + to_utf8(w.compact), std::move(found));
  };
  auto add_named = [&](ReplyOutcome outcome, MatchTier tier, ComplaintCategory category, const std::string& name,
                       std::string found) {
    record(outcome, tier, category, name, "n:" + name, std::move(found));
  };

  for (const Rules::Outcome& o : rules.outcomes) {
    const bool negatable = o.outcome != ReplyOutcome::complaint;
    bool whole_reply = false;  // matched exact or leading

    for (const Word& w : o.whole) {
      if (w.compact == t.compact) {
        add(o.outcome, MatchTier::exact, ComplaintCategory::none, w, r.text.compact);
        whole_reply = true;
      }
    }
    if (!whole_reply) {
      if (auto hit = leading_keyword(rules, t, o, false)) {
        add(o.outcome, MatchTier::leading, ComplaintCategory::none, o.leading[hit->word], to_utf8(hit->found));
        whole_reply = true;
      }
    }

    std::vector<bool> phrase_found(o.phrases.size(), false);
    for (size_t k = 0; k < o.phrases.size(); ++k) {
      const Word& w = o.phrases[k];
      if (find_phrase(rules, t, w, negatable) == std::u32string::npos) continue;
      phrase_found[k] = true;
      add(o.outcome, MatchTier::phrase, o.phrase_category[k], w, to_utf8(w.compact));
    }

    // Near misses never make an opt-in (see the header).
    if (o.outcome != ReplyOutcome::opt_in) {
      if (!whole_reply) {
        bool near = false;
        for (const Word& w : o.whole) {
          if (near_whole(t.compact, w)) {
            add(o.outcome, MatchTier::near_miss, ComplaintCategory::none, w, r.text.compact);
            near = true;
          }
        }
        if (!near) {
          if (auto hit = leading_keyword(rules, t, o, true))
            add(o.outcome, MatchTier::near_miss, ComplaintCategory::none, o.leading[hit->word],
                to_utf8(hit->found));
        }
      }
      for (size_t k = 0; k < o.phrases.size(); ++k) {
        const Word& w = o.phrases[k];
        if (phrase_found[k] || !w.letters || !w.one_word || w.compact.size() < kNearMissMinPhraseLetters) continue;
        for (size_t i = 0; i < t.tokens.size(); ++i) {
          if (t.tokens[i].cjk || !one_edit_apart(t.token(i), w.compact)) continue;
          // "complaint" is a phrase, not a near miss of "complain".
          const std::u32string_view token = t.token(i);
          if (std::any_of(o.phrases.begin(), o.phrases.end(), [&](const Word& p) { return p.compact == token; }))
            continue;
          if (negatable && negated(rules, t, t.tokens[i].begin)) continue;
          add(o.outcome, MatchTier::near_miss, o.phrase_category[k], w, to_utf8(t.token(i)));
          break;
        }
      }
    }

    for (const Pattern& p : o.patterns) {
      re2::StringPiece match;
      if (p.re->Match(r.text.folded, 0, r.text.folded.size(), re2::RE2::UNANCHORED, &match, 1))
        add_named(o.outcome, MatchTier::pattern, p.category, p.source, std::string(match.data(), match.size()));
    }
  }

  for (const ReplyOutcome outcome : kPrecedence) {
    if (std::any_of(r.matches.begin(), r.matches.end(), [&](const ReplyMatch& m) { return m.outcome == outcome; })) {
      r.outcome = outcome;
      break;
    }
  }

  // Facts (see the header).
  if (facts.already_opted_out && r.opts_out()) {
    r.outcome = ReplyOutcome::complaint;
    add_named(ReplyOutcome::complaint, MatchTier::fact, ComplaintCategory::unsubscribe_failed, "already_opted_out", "");
  }
  if (r.outcome == ReplyOutcome::complaint && rules.frequent_threshold_24h > 0 &&
      facts.sent_24h > rules.frequent_threshold_24h) {
    add_named(ReplyOutcome::complaint, MatchTier::fact, ComplaintCategory::harassment,
              "sent_24h>" + std::to_string(rules.frequent_threshold_24h), std::to_string(facts.sent_24h));
  }

  std::stable_sort(r.matches.begin(), r.matches.end(), [](const ReplyMatch& a, const ReplyMatch& b) {
    if (a.outcome != b.outcome) return a.outcome > b.outcome;
    return a.tier < b.tier;
  });
  for (const ReplyMatch& m : r.matches) {
    if (m.outcome == r.outcome) {
      r.tier = m.tier;
      break;
    }
  }

  if (r.outcome == ReplyOutcome::complaint) {
    auto severity_of = [&](ComplaintCategory c) { return rules.severity[static_cast<size_t>(c)]; };
    std::optional<ComplaintCategory> best;
    for (const ComplaintCategory c : kCategoryOrder) {
      const bool signalled = std::any_of(r.matches.begin(), r.matches.end(),
                                         [&](const ReplyMatch& m) { return m.category == c; });
      if (signalled && (!best || severity_of(c) > severity_of(*best))) best = c;
    }
    r.category = best.value_or(ComplaintCategory::other);
    r.severity = severity_of(r.category);
  }
  return r;
}

}  // namespace smsgate::policy
