#include "server/app/properties_file.h"

#include <gtest/gtest.h>

namespace canal::app {
namespace {

PropertiesFile parse(std::string_view text) {
  auto r = PropertiesFile::parse(text, "test.properties");
  EXPECT_TRUE(r.isOk()) << r.status().toString();
  return std::move(r).value();
}

std::string value(const PropertiesFile& f, std::string_view key) {
  const auto* e = f.find(key);
  return e ? e->value : "<absent>";
}

TEST(PropertiesFile, SeparatorsAndComments) {
  auto f = parse("# comment\n! also a comment\n  a = 1\nb:2\nc 3\nd=\n  \ne   =   spaced value  \n");
  EXPECT_EQ(value(f, "a"), "1");
  EXPECT_EQ(value(f, "b"), "2");
  EXPECT_EQ(value(f, "c"), "3");
  EXPECT_EQ(value(f, "d"), "");
  EXPECT_EQ(value(f, "e"), "spaced value  ");
  EXPECT_EQ(value(f, "# comment"), "<absent>");
  EXPECT_EQ(f.find("e")->line, 8);
  EXPECT_EQ(f.where("b"), "test.properties:4");
}

TEST(PropertiesFile, CanalRegexEscaping) {
  // In a properties file the regex dot is written \\. and reads back as \.
  auto f = parse("canal.instance.filter.regex = .*\\\\..*\nblack=mysql\\\\.slave_.*\n");
  EXPECT_EQ(value(f, "canal.instance.filter.regex"), ".*\\..*");
  EXPECT_EQ(value(f, "black"), "mysql\\.slave_.*");
}

TEST(PropertiesFile, LineContinuation) {
  auto f = parse("list = a,\\\n       b,\\\n   c\nnext = 1\ntwo\\\\ = x\n");
  EXPECT_EQ(value(f, "list"), "a,b,c");
  EXPECT_EQ(value(f, "next"), "1");
  EXPECT_EQ(f.find("next")->line, 4);
  EXPECT_EQ(value(f, "two\\"), "x");  // an even number of backslashes does not continue
}

TEST(PropertiesFile, EscapesAndUnicode) {
  auto f = parse("k\\ ey\\=x = a\\tb\\nc\\\\d\\q\nu = \\u00e9\\u4e2d\\ud83d\\ude00\ncr=1\r\ncr2=2\rlast=3");
  EXPECT_EQ(value(f, "k ey=x"), "a\tb\nc\\dq");
  EXPECT_EQ(value(f, "u"), "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80");
  EXPECT_EQ(value(f, "cr"), "1");
  EXPECT_EQ(value(f, "cr2"), "2");
  EXPECT_EQ(value(f, "last"), "3");
  EXPECT_EQ(f.find("last")->line, 5);
}

TEST(PropertiesFile, LaterValueWinsKeepsOrder) {
  auto f = parse("a=1\nb=2\na=3\n");
  EXPECT_EQ(value(f, "a"), "3");
  ASSERT_EQ(f.keys().size(), 2u);
  EXPECT_EQ(f.keys()[0], "a");
}

TEST(PropertiesFile, MalformedUnicodeEscapeNamesLine) {
  auto r = PropertiesFile::parse("a=1\nb=\\u12g4\n", "x.properties");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().where(), "x.properties:2");
  auto shortEscape = PropertiesFile::parse("c=\\u12", "x.properties");
  EXPECT_FALSE(shortEscape.isOk());
}

TEST(PropertiesFile, MissingFileIsIoError) {
  auto r = PropertiesFile::load("/nonexistent/canal.properties");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kIoError);
  EXPECT_EQ(r.status().where(), "/nonexistent/canal.properties");
}

}  // namespace
}  // namespace canal::app
