#include "policy/classify.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iterator>
#include <thread>

namespace smsgate::policy {
namespace {

using O = ReplyOutcome;
using C = ComplaintCategory;
using S = Severity;

const Classifier& defaults() {
  static const Classifier classifier = [] {
    ClassifierBuild build = build_classifier(ClassifierConfig{});
    EXPECT_TRUE(build.errors.empty()) << build.errors.front();
    return *build.classifier;
  }();
  return classifier;
}

bool has_error(const ClassifierBuild& build, std::string_view part) {
  return std::any_of(build.errors.begin(), build.errors.end(),
                     [&](const std::string& e) { return e.find(part) != std::string::npos; });
}

const ReplyMatch* match_for(const Classification& c, std::string_view word) {
  for (const ReplyMatch& m : c.matches)
    if (m.word == word) return &m;
  return nullptr;
}

// ---------------------------------------------------------------- the table

struct Reply {
  const char* text;
  ReplyOutcome outcome;
  ComplaintCategory category = C::none;
  Severity severity = S::none;
};

// Replies as they come back to marketing messages in China, the US and
// Europe. Long ones are what a phone sends as a multi-part UCS-2 message,
// reassembled and decoded by the gateway before it gets here.
const Reply kReplies[] = {
    // ---- opt-out, English (policy reference: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPT OUT)
    {"STOP", O::opt_out},
    {"stop", O::opt_out},
    {"Stop.", O::opt_out},
    {"STOP!!!", O::opt_out},
    {"ＳＴＯＰ", O::opt_out},                    // full width
    {"🛑 STOP 🛑", O::opt_out},
    {"𝐒𝐓𝐎𝐏", O::opt_out},                       // mathematical bold, NFKC
    {"S T O P", O::opt_out},
    {"Stop please", O::opt_out},
    {"STOP PLEASE!!", O::opt_out},
    {"please stop", O::opt_out},
    {"Pls stop texting me", O::opt_out},
    {"stop texting me thanks", O::opt_out},
    {"Stop sending me these messages", O::opt_out},
    {"STOP STOP STOP", O::opt_out},
    {"Yes, stop", O::opt_out},
    {"Ｓｔｏｐ，谢谢", O::opt_out},
    {"Stop 🙅‍♀️", O::opt_out},                    // ZWJ emoji sequence
    {"STOPALL", O::opt_out},
    {"Stop all", O::opt_out},
    {"UNSUBSCRIBE", O::opt_out},
    {"Unsubscribe me please", O::opt_out},
    {"unsubscribe 🙏", O::opt_out},
    {"How do I unsubscribe from this?", O::opt_out},
    {"Cancel", O::opt_out},
    {"cancel please", O::opt_out},
    {"Cancel my subscription", O::opt_out},
    {"END", O::opt_out},
    {"end.", O::opt_out},
    {"QUIT", O::opt_out},
    {"Quit it", O::opt_out},
    {"REVOKE", O::opt_out},
    {"OPTOUT", O::opt_out},
    {"opt out", O::opt_out},
    {"Opt-out", O::opt_out},
    {"OPT OUT NOW", O::opt_out},
    {"I want to opt out of these texts", O::opt_out},
    {"Please remove me from your list", O::opt_out},
    {"Take me off your list", O::opt_out},
    {"No more texts please", O::opt_out},
    {"do not text me again", O::opt_out},
    {"Don't text this number", O::opt_out},
    {"Text STOP to opt out", O::opt_out},
    {"STOP. Who is this?", O::opt_out},           // a sentence of its own
    {"Who is this? Stop", O::opt_out},
    {"Thanks for the offer. Stop.", O::opt_out},
    {"stop to end", O::opt_out},
    {"ARRET", O::opt_out},
    {"Arrête svp", O::opt_out},
    {"NO MÁS", O::opt_out},
    {"no mas por favor", O::opt_out},
    // ---- near misses (one Damerau edit, the longer word 5+ letters)
    {"STOPP", O::opt_out},
    {"Stopp please", O::opt_out},
    {"Stops", O::opt_out},
    {"unsubscibe", O::opt_out},
    {"Unsubscrbe", O::opt_out},
    {"unsusbcribe", O::opt_out},                  // swapped letters
    {"please unsubscirbe me now", O::opt_out},
    {"CANCLE", O::opt_out},
    {"canel", O::opt_out},
    {"unsubscribed", O::opt_out},
    // ---- opt-out, Chinese (退订, TD, T, R, 取消订阅, 拒收, 不要再发)
    {"T", O::opt_out},
    {"t", O::opt_out},
    {"Ｔ", O::opt_out},
    {"T。", O::opt_out},
    {"TD", O::opt_out},
    {"td", O::opt_out},
    {"ＴＤ", O::opt_out},
    {"ｔｄ！", O::opt_out},
    {"Td 谢谢", O::opt_out},
    {"TD谢谢", O::opt_out},
    {"回复TD", O::opt_out},
    {"TD了", O::opt_out},
    {"R", O::opt_out},
    {"N", O::opt_out},
    {"退订", O::opt_out},
    {"退订。", O::opt_out},
    {"退订！！！", O::opt_out},
    {"退 订", O::opt_out},
    {"退订谢谢", O::opt_out},
    {"退订😡", O::opt_out},
    {"我要退订", O::opt_out},
    {"请帮我退订，谢谢", O::opt_out},
    {"怎么退订？", O::opt_out},
    {"回T退订", O::opt_out},
    {"退訂", O::opt_out},                          // Traditional
    {"取消訂閱", O::opt_out},
    {"取消订阅", O::opt_out},
    {"拒收", O::opt_out},
    {"拒收此类短信", O::opt_out},
    {"不要再发了", O::opt_out},
    {"别再发了好吗", O::opt_out},
    {"別再發了", O::opt_out},
    {"不要给我发短信了", O::opt_out},
    {"别发了", O::opt_out},
    {"以后不想收到你们的短信", O::opt_out},
    {"停止发送", O::opt_out},
    {"拉黑了", O::opt_out},
    {"退订！你们是谁", O::opt_out},
    {"你们是谁？退订", O::opt_out},
    {"不，退订", O::opt_out},                      // punctuation ends the negation
    {"退定", O::opt_out},
    {"tuiding", O::opt_out},
    {"TD 🙏🙏", O::opt_out},
    {"您好，我对你们的产品不感兴趣，以后这类促销信息请不要再发给我了，谢谢理解。"
     "另外我已经换了工作，地址也变了，寄来的会员卡也收不到，请把我从名单里删掉，退订",
     O::opt_out},
    // ---- traps: keywords inside ordinary sentences
    {"Stop by our store for 20% off!", O::other},
    {"T恤还有货吗", O::other},
    {"T恤", O::other},
    {"TD银行", O::other},
    {"TD Bank", O::other},
    {"T-shirt size?", O::other},
    {"R U open today?", O::other},
    {"N/A", O::other},
    {"TT", O::other},
    {"Cancel my order", O::other},
    {"Please cancel my booking for Friday", O::other},
    {"END of story", O::other},
    {"Is this the end of the sale?", O::other},
    {"Quit smoking tips?", O::other},
    {"I can't stop laughing 😂", O::other},
    {"Don't stop", O::other},
    {"Never stop sending deals!", O::other},       // negated phrase
    {"不要退订", O::other},                        // negated; not an opt-in
    {"我不想退订", O::other},
    {"别退订我", O::other},
    {"不用退订", O::other},
    {"取消订单", O::other},                        // no near misses for CJK
    {"stpo", O::other},                            // 4 letters: no near miss
    {"shop", O::other},
    {"Start date?", O::other},
    {"Help me understand the offer", O::other},
    {"Yes, who is this?", O::other},               // an opt-in needs the whole reply
    {"Hi, I need to cancel. My appointment is tomorrow", O::other},
    {"Strat", O::other},                           // near misses never opt in
    {"subscirbe", O::other},
    {"I am a layer of the cake", O::other},        // "lawyer" is too short to guess anywhere
    {"怎么有优惠信息", O::other},
    {"谢谢你的帮助", O::other},                    // help only as a keyword
    {"每天发货吗？", O::other},                     // 发货: shipping, not sending
    {"你们还在发货吗", O::other},
    {"发错货了，我要换", O::other},
    {"怎么修改个人信息", O::other},
    {"spamalot tickets?", O::other},
    // ---- other
    {"ok", O::other},
    {"好的", O::other},
    {"谢谢", O::other},
    {"👍", O::other},
    {"", O::other},
    {"?", O::other},
    {"Who is this?", O::other},
    {"在吗", O::other},
    {"多少钱", O::other},
    {"Thanks!", O::other},
    {"How much is it?", O::other},
    {"收到", O::other},
    {"好的，知道了", O::other},
    {"What time do you close?", O::other},
    {"Can I get the discount code again?", O::other},
    {"地址在哪里", O::other},
    {"请问你们门店周末几点开门？上次买的T恤尺码不合适，可以换货吗？另外会员积分怎么查，"
     "我在小程序里找了半天也没找到，麻烦告诉我一下，谢谢",
     O::other},
    {"Hi! Thanks for the reminder about my appointment tomorrow at 3pm. Could you tell me whether "
     "parking is available near the clinic? I will stop by the front desk first.",
     O::other},
    // ---- opt-in (START, UNSTOP, YES, 订阅)
    {"START", O::opt_in},
    {"Start", O::opt_in},
    {"UNSTOP", O::opt_in},
    {"YES", O::opt_in},
    {"Yes please", O::opt_in},
    {"Subscribe", O::opt_in},
    {"订阅", O::opt_in},
    {"重新订阅", O::opt_in},
    {"恢复訂閱", O::opt_in},
    {"resubscribe", O::opt_in},
    // ---- help (HELP, INFO, 帮助)
    {"HELP", O::help},
    {"help?", O::help},
    {"Help please", O::help},
    {"INFO", O::help},
    {"帮助", O::help},
    {"需要帮助", O::help},
    {"帮助！", O::help},
    {"HELPP", O::help},
    // ---- precedence
    {"重新订阅？不，退订", O::opt_out},
    {"需要帮助，退订", O::opt_out},
    {"STOP spam", O::complaint, C::other, S::normal},
    {"退订，再发投诉", O::complaint, C::other, S::normal},
    {"TD 12321", O::complaint, C::regulator_report, S::urgent},
    // ---- complaints, no category
    {"投诉", O::complaint, C::other, S::normal},
    {"投訴", O::complaint, C::other, S::normal},
    {"我要投诉你们", O::complaint, C::other, S::normal},
    {"投诉！！！😡😡😡", O::complaint, C::other, S::normal},
    {"我要投诉你们的订单没发货", O::complaint, C::other, S::normal},
    {"不要再发了，再发投诉", O::complaint, C::other, S::normal},
    {"骗子", O::complaint, C::other, S::normal},
    {"This is spam", O::complaint, C::other, S::normal},
    {"SPAM", O::complaint, C::other, S::normal},
    {"ＳＰＡＭ", O::complaint, C::other, S::normal},
    {"Stop spamming me", O::complaint, C::other, S::normal},
    {"Reported as spam", O::complaint, C::other, S::normal},
    {"I'm reporting this number", O::complaint, C::other, S::normal},
    {"I will report you", O::complaint, C::other, S::normal},
    {"Scam!", O::complaint, C::other, S::normal},
    {"complaint", O::complaint, C::other, S::normal},
    // ---- 监管举报: regulator, lawyer, police (urgent)
    {"12321", O::complaint, C::regulator_report, S::urgent},
    {"1️⃣2️⃣3️⃣2️⃣1️⃣", O::complaint, C::regulator_report, S::urgent},  // keycap emoji
    {"再发就投诉到12321", O::complaint, C::regulator_report, S::urgent},
    {"已举报12321", O::complaint, C::regulator_report, S::urgent},
    {"工信部投诉", O::complaint, C::regulator_report, S::urgent},
    {"打12315投诉你们", O::complaint, C::regulator_report, S::urgent},
    {"诈骗短信，已报警", O::complaint, C::regulator_report, S::urgent},
    {"再发我就起诉你们", O::complaint, C::regulator_report, S::urgent},
    {"找律师告你们", O::complaint, C::regulator_report, S::urgent},
    {"I will report you to the FCC", O::complaint, C::regulator_report, S::urgent},
    {"Reported to FTC", O::complaint, C::regulator_report, S::urgent},
    {"My lawyer will contact you", O::complaint, C::regulator_report, S::urgent},
    {"I'll sue you", O::complaint, C::regulator_report, S::urgent},
    {"STOP or I call the police", O::complaint, C::regulator_report, S::urgent},
    {"FCC complaint filed", O::complaint, C::regulator_report, S::urgent},
    {"你好，我上个月就已经回复TD退订了，但是这个号码每天还在给我发各种贷款广告，严重影响我的生活和工作，"
     "如果你们再发我就打12321投诉你们，同时向工信部反映，请立即处理！",
     O::complaint, C::regulator_report, S::urgent},
    {"Hi, I've asked you many times to stop. I replied STOP three times this month and I'm still receiving "
     "your promotional messages almost every day. This is harassment and if it continues I will file a "
     "complaint with the FCC.",
     O::complaint, C::regulator_report, S::urgent},
    // ---- 退订失败 (high)
    {"退订失败还在发", O::complaint, C::unsubscribe_failed, S::high},
    {"退订了还发？", O::complaint, C::unsubscribe_failed, S::high},
    {"已经退订了怎么还在发", O::complaint, C::unsubscribe_failed, S::high},
    {"退订无效", O::complaint, C::unsubscribe_failed, S::high},
    {"退不了啊", O::complaint, C::unsubscribe_failed, S::high},
    {"怎麼還在發", O::complaint, C::unsubscribe_failed, S::high},
    {"为什么还给我发？", O::complaint, C::unsubscribe_failed, S::high},
    {"我上周就回复TD退订了，今天又收到了", O::complaint, C::unsubscribe_failed, S::high},
    {"我已经退订三次了，你们每天都发，一天发好几条，根本没用", O::complaint, C::unsubscribe_failed, S::high},
    {"I already unsubscribed and you're still texting me", O::complaint, C::unsubscribe_failed, S::high},
    {"I replied STOP last week and I'm still getting these", O::complaint, C::unsubscribe_failed, S::high},
    {"still receiving texts after opting out", O::complaint, C::unsubscribe_failed, S::high},
    {"Can't unsubscribe!!", O::complaint, C::unsubscribe_failed, S::high},
    // ---- 隐私担忧 (high)
    {"你们怎么知道我的号码的？", O::complaint, C::privacy, S::high},
    {"我的个人信息是不是被泄露了", O::complaint, C::privacy, S::high},
    {"哪来的我号码", O::complaint, C::privacy, S::high},
    {"从哪搞到我的手机号的", O::complaint, C::privacy, S::high},
    {"你们这是侵犯隐私", O::complaint, C::privacy, S::high},
    {"Where did you get my number?", O::complaint, C::privacy, S::high},
    {"how did u get my number", O::complaint, C::privacy, S::high},
    // ---- 频繁骚扰 (normal)
    {"骚扰短信，烦死了", O::complaint, C::harassment, S::normal},
    {"騷擾", O::complaint, C::harassment, S::normal},
    {"天天发，有完没完", O::complaint, C::harassment, S::normal},
    {"一天发三条，有病吧", O::complaint, C::harassment, S::normal},
    {"每天都给我发", O::complaint, C::harassment, S::normal},
    {"频繁发送垃圾短信", O::complaint, C::harassment, S::normal},
    {"别骚扰我", O::complaint, C::harassment, S::normal},     // negation never cancels a complaint
    {"Stop harassing me", O::complaint, C::harassment, S::normal},
    {"Stop texting me, this is harassment", O::complaint, C::harassment, S::normal},
    {"Too many texts!!", O::complaint, C::harassment, S::normal},
    {"harrassment", O::complaint, C::harassment, S::normal},  // near miss of an 8+ letter phrase
    // ---- 误发短信 (normal)
    {"发错人了吧", O::complaint, C::wrong_recipient, S::normal},
    {"发错了", O::complaint, C::wrong_recipient, S::normal},
    {"你们发错了，我不是你们的客户", O::complaint, C::wrong_recipient, S::normal},
    {"号码错了", O::complaint, C::wrong_recipient, S::normal},
    {"wrong number", O::complaint, C::wrong_recipient, S::normal},
    {"Wrong number, I don't know who you are", O::complaint, C::wrong_recipient, S::normal},
    {"Not my number", O::complaint, C::wrong_recipient, S::normal},
};

TEST(ReplyTable, RealRepliesComeOutAsAPersonWouldReadThem) {
  size_t by_outcome[5] = {};
  for (const Reply& reply : kReplies) {
    SCOPED_TRACE(std::string("reply: \"") + reply.text + "\"");
    const Classification c = defaults().classify(reply.text);
    std::string matched;
    for (const ReplyMatch& m : c.matches) matched += " " + std::string(to_string(m.tier)) + ":" + m.word;
    EXPECT_EQ(to_string(c.outcome), to_string(reply.outcome)) << "matches:" << matched;
    EXPECT_EQ(to_string(c.category), to_string(reply.category)) << "matches:" << matched;
    EXPECT_EQ(to_string(c.severity), to_string(reply.severity));
    ++by_outcome[static_cast<size_t>(reply.outcome)];
  }
  EXPECT_GE(std::size(kReplies), 150u);
  for (size_t n : by_outcome) EXPECT_GE(n, 7u);
}

// ---------------------------------------------------------------- normalisation

TEST(Normalise, FullWidthAndCaseFoldToAscii) {
  EXPECT_EQ(normalise_reply("ＴＤ").compact, "td");
  EXPECT_EQ(normalise_reply("ＳＴＯＰ").folded, "stop");
  EXPECT_EQ(normalise_reply("StOp").compact, "stop");
  EXPECT_EQ(normalise_reply("𝐒𝐓𝐎𝐏").compact, "stop");
  EXPECT_EQ(normalise_reply("Straße").compact, "strasse");  // full case folding
  EXPECT_EQ(normalise_reply("１２３２１").compact, "12321");
  EXPECT_EQ(normalise_reply("①②③").compact, "123");
}

TEST(Normalise, FoldedKeepsPunctuationAndEmojiWithSpacesCollapsed) {
  const NormalisedReply n = normalise_reply("  Stop\t\tplease 🙏 ！ \n");
  EXPECT_EQ(n.folded, "stop please 🙏 !");
  EXPECT_EQ(n.compact, "stopplease");
  EXPECT_EQ(normalise_reply("退订　谢谢").folded, "退订 谢谢");  // ideographic space
}

TEST(Normalise, CompactDropsPunctuationSymbolsAndEmoji) {
  EXPECT_EQ(normalise_reply("退订！！！😡😡").compact, "退订");
  EXPECT_EQ(normalise_reply("👨‍👩‍👧 ❤️ 🇨🇳 👍🏽 ©®").compact, "");
  EXPECT_EQ(normalise_reply("™").compact, "tm");  // NFKC: a compatibility character, not a symbol
  EXPECT_EQ(normalise_reply("1️⃣2️⃣3️⃣").compact, "123");
  EXPECT_EQ(normalise_reply("opt-out, please.").compact, "optoutplease");
  EXPECT_EQ(normalise_reply("T恤").compact, "t恤");
}

TEST(Normalise, TraditionalChineseReadsAsSimplified) {
  EXPECT_EQ(normalise_reply("退訂").compact, "退订");
  EXPECT_EQ(normalise_reply("投訴騷擾").compact, "投诉骚扰");
  EXPECT_EQ(normalise_reply("還在發").compact, "还在发");
}

TEST(Normalise, IllFormedUtf8DoesNotThrowOrLeak) {
  const NormalisedReply n = normalise_reply(std::string("ST\xffOP\xc3", 6));
  EXPECT_EQ(n.compact, "stop");
  EXPECT_NE(n.folded.find("\xef\xbf\xbd"), std::string::npos);  // U+FFFD in the folded text
}

// ---------------------------------------------------------------- tiers

TEST(ClassifierTiers, ExactWholeReply) {
  const Classification c = defaults().classify("ＴＤ。");
  EXPECT_EQ(c.outcome, O::opt_out);
  EXPECT_EQ(c.tier, MatchTier::exact);
  ASSERT_NE(match_for(c, "TD"), nullptr);
  EXPECT_EQ(match_for(c, "TD")->found, "td");
  EXPECT_EQ(c.text.compact, "td");
  EXPECT_EQ(c.text.folded, "td。");  // 。 has no compatibility mapping
}

TEST(ClassifierTiers, SingleLettersOnlyAsTheWholeReply) {
  EXPECT_EQ(defaults().classify("T").tier, MatchTier::exact);
  EXPECT_EQ(defaults().classify("T please").outcome, O::other);
  EXPECT_EQ(defaults().classify("回T").outcome, O::other);
  EXPECT_EQ(defaults().classify("T恤").outcome, O::other);
}

TEST(ClassifierTiers, LeadingKeywordAmongFillerWords) {
  for (const char* text : {"STOP please", "stop!!!  now", "please stop texting me", "TD谢谢", "回复TD"}) {
    SCOPED_TRACE(text);
    const Classification c = defaults().classify(text);
    EXPECT_EQ(c.outcome, O::opt_out);
    EXPECT_EQ(c.tier, MatchTier::leading);
  }
  // Any word that is not a filler makes it a sentence.
  EXPECT_EQ(defaults().classify("Stop by our store").outcome, O::other);
  EXPECT_EQ(defaults().classify("TD银行").outcome, O::other);
}

TEST(ClassifierTiers, LeadingKeywordAsASentenceOfItsOwn) {
  for (const char* text : {"STOP. Who is this?", "stop!!! who is this", "Who is this? Stop", "STOP\nwho is this",
                           "退订！你们是谁", "你们是谁？退订"}) {
    SCOPED_TRACE(text);
    const Classification c = defaults().classify(text);
    EXPECT_EQ(c.outcome, O::opt_out);
    EXPECT_EQ(c.tier, MatchTier::leading);
  }
  // Emoji and spaces do not end a sentence; the trap stays a trap.
  EXPECT_EQ(defaults().classify("Stop 😀 by our store!").outcome, O::other);
  EXPECT_EQ(defaults().classify("Stop by our store! Today only").outcome, O::other);
  // An opt-in needs the whole reply to be the keyword among fillers.
  EXPECT_EQ(defaults().classify("Yes, please").outcome, O::opt_in);
  EXPECT_EQ(defaults().classify("Yes. Who is this?").outcome, O::other);
  // A single letter is exact only, even as a sentence.
  EXPECT_EQ(defaults().classify("好的。T").outcome, O::other);
}

TEST(ClassifierTiers, PhraseAnywhereOnWordBoundaries) {
  const Classification c = defaults().classify("hey how do i unsubscribe from this");
  EXPECT_EQ(c.outcome, O::opt_out);
  EXPECT_EQ(c.tier, MatchTier::phrase);
  EXPECT_EQ(defaults().classify("我想退订这个服务").tier, MatchTier::phrase);
  EXPECT_EQ(defaults().classify("需要帮助").tier, MatchTier::leading);  // 需要 is a filler
  // "12321" only as a number of its own, not inside an order number.
  EXPECT_EQ(defaults().classify("订单号 1232188 到了吗").outcome, O::other);
  EXPECT_EQ(defaults().classify("打 12321").outcome, O::complaint);
  // "spam" as a word, not inside another.
  EXPECT_EQ(defaults().classify("spamalot tickets?").outcome, O::other);
}

TEST(ClassifierTiers, NearMissIsOneDamerauEdit) {
  const Classification c = defaults().classify("unsubscibe");
  EXPECT_EQ(c.outcome, O::opt_out);
  EXPECT_EQ(c.tier, MatchTier::near_miss);
  ASSERT_NE(match_for(c, "UNSUBSCRIBE"), nullptr);
  EXPECT_EQ(match_for(c, "UNSUBSCRIBE")->found, "unsubscibe");
  EXPECT_EQ(defaults().classify("unsubscrbe").tier, MatchTier::near_miss);  // deletion
  EXPECT_EQ(defaults().classify("unsubscribbe").tier, MatchTier::near_miss);  // insertion
  EXPECT_EQ(defaults().classify("unsubscrive").tier, MatchTier::near_miss);  // substitution
  EXPECT_EQ(defaults().classify("unsubsrcibe").tier, MatchTier::near_miss);  // adjacent swap
  EXPECT_EQ(defaults().classify("unsbscrbe").outcome, O::other);             // two edits
}

TEST(ClassifierTiers, NearMissCountsTheLongerWord) {
  // "STOPP" has five letters: one insertion from STOP.
  EXPECT_EQ(defaults().classify("STOPP").outcome, O::opt_out);
  EXPECT_EQ(defaults().classify("STOPP").tier, MatchTier::near_miss);
  // Four letters against four: never a near miss.
  for (const char* text : {"stpo", "shop", "step", "quiz", "hepl", "sotp"}) {
    SCOPED_TRACE(text);
    EXPECT_EQ(defaults().classify(text).outcome, O::other);
  }
  // Three against four.
  EXPECT_EQ(defaults().classify("sop").outcome, O::other);
  EXPECT_EQ(defaults().classify("endd").outcome, O::other);
  // Anywhere in a sentence only for phrases of 8 letters or more.
  EXPECT_EQ(defaults().classify("please unsubscirbe me now").outcome, O::opt_out);
  EXPECT_EQ(defaults().classify("this is harrassment").category, C::harassment);
  EXPECT_EQ(defaults().classify("the layer cake").outcome, O::other);
}

TEST(ClassifierTiers, NoNearMissForChineseOrOptIn) {
  EXPECT_EQ(defaults().classify("取消订单").outcome, O::other);  // one character from 取消订阅
  EXPECT_EQ(defaults().classify("Strat").outcome, O::other);
  EXPECT_EQ(defaults().classify("smart").outcome, O::other);
}

TEST(ClassifierTiers, PatternsRunOnTheFoldedText) {
  const Classification c = defaults().classify("别发了！");
  EXPECT_EQ(c.outcome, O::opt_out);
  EXPECT_EQ(c.tier, MatchTier::pattern);
  ASSERT_FALSE(c.matches.empty());
  EXPECT_EQ(c.matches.front().found, "别发了");

  const Classification r = defaults().classify("I'm REPORTING you to the carrier");
  EXPECT_EQ(r.outcome, O::complaint);
  EXPECT_EQ(r.tier, MatchTier::pattern);
  // "report" in an ordinary sentence is not a complaint.
  EXPECT_EQ(defaults().classify("Can you send me the report?").outcome, O::other);
}

TEST(ClassifierTiers, NegationCancelsOptOutButNotComplaint) {
  EXPECT_EQ(defaults().classify("不要退订").outcome, O::other);
  EXPECT_EQ(defaults().classify("don't unsubscribe me").outcome, O::other);
  EXPECT_EQ(defaults().classify("不要重新订阅").outcome, O::other);
  EXPECT_EQ(defaults().classify("别骚扰我").outcome, O::complaint);
  EXPECT_EQ(defaults().classify("不要再发了").outcome, O::opt_out);  // the phrase itself starts with 不要
  // Punctuation ends the negation: "not resubscribe? no - unsubscribe".
  EXPECT_EQ(defaults().classify("不，退订").outcome, O::opt_out);
  EXPECT_EQ(defaults().classify("Not now. Unsubscribe").outcome, O::opt_out);
}

// ---------------------------------------------------------------- precedence

TEST(ClassifierPrecedence, ComplaintThenOptOutThenOptInThenHelp) {
  ClassifierConfig config;
  config.use_defaults = false;
  config.complaint.phrases = {"delta"};
  config.opt_out.phrases = {"alpha"};
  config.opt_in.phrases = {"beta"};
  config.help.phrases = {"gamma"};
  const ClassifierBuild build = build_classifier(config);
  ASSERT_TRUE(build.classifier) << build.errors.front();
  const Classifier& c = *build.classifier;
  EXPECT_EQ(c.classify("gamma beta alpha delta").outcome, O::complaint);
  EXPECT_EQ(c.classify("gamma beta alpha").outcome, O::opt_out);
  EXPECT_EQ(c.classify("gamma beta").outcome, O::opt_in);
  EXPECT_EQ(c.classify("gamma").outcome, O::help);
  EXPECT_EQ(c.classify("epsilon").outcome, O::other);

  // Every match is kept for the ticket, the winner's first.
  const Classification all = c.classify("gamma beta alpha delta");
  ASSERT_EQ(all.matches.size(), 4u);
  EXPECT_EQ(all.matches[0].outcome, O::complaint);
  EXPECT_EQ(all.matches[1].outcome, O::opt_out);
  EXPECT_EQ(all.matches[2].outcome, O::opt_in);
  EXPECT_EQ(all.matches[3].outcome, O::help);
  EXPECT_TRUE(all.opts_out());
}

TEST(ClassifierPrecedence, TierIsTheWinnersBest) {
  // Exact opt-out beats nothing; the complaint found by phrase decides the tier.
  const Classification c = defaults().classify("STOP spam");
  EXPECT_EQ(c.outcome, O::complaint);
  EXPECT_EQ(c.tier, MatchTier::phrase);
  ASSERT_NE(match_for(c, "spam"), nullptr);
}

// ---------------------------------------------------------------- configuration

TEST(ClassifierConfig, BadPatternIsReportedAtBuild) {
  ClassifierConfig config;
  config.complaint.patterns = {"(?i)report(ed)? (you|this to"};
  config.category_patterns["privacy"] = {"[unclosed"};
  const ClassifierBuild build = build_classifier(config);
  EXPECT_FALSE(build.classifier.has_value());
  ASSERT_EQ(build.errors.size(), 2u);
  EXPECT_TRUE(has_error(build, "complaint.patterns: \"(?i)report(ed)? (you|this to\" does not compile: missing )"))
      << build.errors[0];
  EXPECT_TRUE(has_error(build, "category_patterns.privacy: \"[unclosed\" does not compile"));
}

TEST(ClassifierConfig, BadNamesAndEmptyWordsAreReported) {
  ClassifierConfig config;
  config.opt_out.exact = {"!!!"};
  config.category_words["angry"] = {"grr"};
  config.severity["privacy"] = "critical";
  config.severity["nonsense"] = "high";
  config.filler_words = {"por favor"};
  const ClassifierBuild build = build_classifier(config);
  EXPECT_FALSE(build.classifier.has_value());
  EXPECT_TRUE(has_error(build, "opt_out.exact: \"!!!\" has no letters or digits"));
  EXPECT_TRUE(has_error(build, "category_words.angry: unknown category \"angry\""));
  EXPECT_TRUE(has_error(build, "severity.privacy: unknown severity \"critical\""));
  EXPECT_TRUE(has_error(build, "severity: unknown category \"nonsense\""));
  EXPECT_TRUE(has_error(build, "filler_words: \"por favor\" is more than one word"));
}

TEST(ClassifierConfig, DefaultPatternsCompile) {
  ClassifierConfig config = default_classifier_config();
  const ClassifierBuild build = build_classifier(config);
  EXPECT_TRUE(build.errors.empty());
  EXPECT_FALSE(config.use_defaults);
  EXPECT_FALSE(config.opt_out.patterns.empty());
}

TEST(ClassifierConfig, ConfiguredWordsAreAddedToTheDefaults) {
  ClassifierConfig config;
  config.opt_out.leading = {"BASTA"};
  config.complaint.phrases = {"消费者权益"};
  config.category_words["隐私担忧"] = {"datenschutz"};  // Chinese category names work too
  config.severity["harassment"] = "high";
  const ClassifierBuild build = build_classifier(config);
  ASSERT_TRUE(build.classifier) << build.errors.front();
  const Classifier& c = *build.classifier;
  EXPECT_EQ(c.classify("Basta por favor").outcome, O::opt_out);
  EXPECT_EQ(c.classify("STOP").outcome, O::opt_out);  // the defaults are still there
  EXPECT_EQ(c.classify("侵犯消费者权益").outcome, O::complaint);
  const Classification d = c.classify("Datenschutz!");
  EXPECT_EQ(d.category, C::privacy);
  EXPECT_EQ(d.severity, S::high);
  EXPECT_EQ(c.classify("骚扰").severity, S::high);  // configured severity
}

TEST(ClassifierConfig, WithoutDefaultsOnlyTheConfiguredWords) {
  ClassifierConfig config;
  config.use_defaults = false;
  config.opt_out.exact = {"BASTA"};
  const ClassifierBuild build = build_classifier(config);
  ASSERT_TRUE(build.classifier);
  EXPECT_EQ(build.classifier->classify("basta").outcome, O::opt_out);
  EXPECT_EQ(build.classifier->classify("STOP").outcome, O::other);
  EXPECT_EQ(build.classifier->classify("投诉").outcome, O::other);
}

// docs/replies.md lists the defaults; this keeps the page honest.
TEST(ClassifierConfig, DocsListEveryDefaultWordAndPattern) {
  std::ifstream file(std::string(SMSGATE_SOURCE_DIR) + "/docs/replies.md");
  ASSERT_TRUE(file) << "docs/replies.md";
  const std::string docs((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  auto listed = [&](std::string word) {
    // Table cells escape '|'.
    for (size_t at = 0; (at = word.find('|', at)) != std::string::npos; at += 2) word.insert(at, "\\");
    return docs.find("`" + word + "`") != std::string::npos;
  };
  const ClassifierConfig d = default_classifier_config();
  std::vector<std::string> all;
  for (const KeywordSet* set : {&d.opt_out, &d.opt_in, &d.help, &d.complaint})
    for (const auto* list : {&set->exact, &set->leading, &set->phrases, &set->patterns})
      all.insert(all.end(), list->begin(), list->end());
  for (const auto* map : {&d.category_words, &d.category_patterns})
    for (const auto& [name, words] : *map) all.insert(all.end(), words.begin(), words.end());
  all.insert(all.end(), d.filler_words.begin(), d.filler_words.end());
  all.insert(all.end(), d.negations.begin(), d.negations.end());
  for (const std::string& word : all) EXPECT_TRUE(listed(word)) << word << " is not in docs/replies.md";
}

TEST(ClassifierConfig, CategoryNames) {
  EXPECT_EQ(parse_complaint_category("too_frequent"), C::harassment);
  EXPECT_EQ(parse_complaint_category("频繁骚扰"), C::harassment);
  EXPECT_EQ(parse_complaint_category("退订失败"), C::unsubscribe_failed);
  EXPECT_EQ(parse_complaint_category("none"), std::nullopt);
  EXPECT_EQ(chinese_name(C::regulator_report), "监管举报");
  EXPECT_EQ(parse_severity("urgent"), S::urgent);
  EXPECT_EQ(parse_severity("URGENT"), std::nullopt);
}

// ---------------------------------------------------------------- facts

TEST(ReplyFacts, OptOutFromAnOptedOutNumberIsAFailedUnsubscribe) {
  const Classification c = defaults().classify("TD", ReplyFacts{.already_opted_out = true});
  EXPECT_EQ(c.outcome, O::complaint);
  EXPECT_EQ(c.category, C::unsubscribe_failed);
  EXPECT_EQ(c.severity, S::high);
  EXPECT_EQ(c.tier, MatchTier::fact);
  ASSERT_NE(match_for(c, "already_opted_out"), nullptr);
  ASSERT_NE(match_for(c, "TD"), nullptr);  // the opt-out word stays on the ticket
}

TEST(ReplyFacts, AlreadyOptedOutRaisesAComplaintsCategoryButNotAboveRegulator) {
  EXPECT_EQ(defaults().classify("骚扰", {.already_opted_out = true}).category, C::unsubscribe_failed);
  const Classification c = defaults().classify("12321", {.already_opted_out = true});
  EXPECT_EQ(c.category, C::regulator_report);
  EXPECT_EQ(c.severity, S::urgent);
}

TEST(ReplyFacts, AlreadyOptedOutLeavesOptInHelpAndOtherAlone) {
  EXPECT_EQ(defaults().classify("START", {.already_opted_out = true}).outcome, O::opt_in);
  EXPECT_EQ(defaults().classify("HELP", {.already_opted_out = true}).outcome, O::help);
  EXPECT_EQ(defaults().classify("好的", {.already_opted_out = true}).outcome, O::other);
}

TEST(ReplyFacts, ManyMessagesIn24HoursMakeAComplaintHarassment) {
  const Classification c = defaults().classify("投诉", {.sent_24h = 8});
  EXPECT_EQ(c.category, C::harassment);
  EXPECT_EQ(c.severity, S::normal);
  ASSERT_NE(match_for(c, "sent_24h>5"), nullptr);
  EXPECT_EQ(match_for(c, "sent_24h>5")->found, "8");
  // At the threshold: not above.
  EXPECT_EQ(defaults().classify("投诉", {.sent_24h = 5}).category, C::other);
  // Not a complaint by itself: the opt-out is honoured as one.
  EXPECT_EQ(defaults().classify("STOP", {.sent_24h = 20}).outcome, O::opt_out);
  // A more severe word category wins.
  EXPECT_EQ(defaults().classify("隐私泄露", {.sent_24h = 20}).category, C::privacy);
}

TEST(ReplyFacts, ThresholdIsConfigurableAndZeroTurnsItOff) {
  ClassifierConfig config;
  config.frequent_threshold_24h = 2;
  EXPECT_EQ(build_classifier(config).classifier->classify("spam", {.sent_24h = 3}).category, C::harassment);
  config.frequent_threshold_24h = 0;
  EXPECT_EQ(build_classifier(config).classifier->classify("spam", {.sent_24h = 300}).category, C::other);
}

// ---------------------------------------------------------------- threads

TEST(Classifier, OneClassifierServesManyThreads) {
  const Classifier c = defaults();  // copies share the compiled rules
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int n = 0; n < 200; ++n) {
        if (c.classify("退订失败还在发").category != C::unsubscribe_failed) ++wrong;
        if (c.classify("I will report you to the FCC").severity != S::urgent) ++wrong;
        if (c.classify("Stop by our store").outcome != O::other) ++wrong;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace smsgate::policy
