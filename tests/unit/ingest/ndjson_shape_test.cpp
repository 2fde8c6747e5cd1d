// ScanNdjsonShape: which NDJSON files the loader may hand to read_json whole.
#include "ingest/ndjson_shape.h"

#include <gtest/gtest.h>

#include <fstream>

#include "unit/temp_dir.h"

namespace basin::ingest {
namespace {

class NdjsonShapeTest : public ::testing::Test {
 protected:
  NdjsonShape Scan(const std::string& bytes) {
    const std::string path = dir_.path() + "/f.ndjson";
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    auto shape = ScanNdjsonShape(path);
    EXPECT_TRUE(shape.ok()) << shape.status().ToString();
    return shape.ok() ? *shape : NdjsonShape{};
  }
  test::TempDir dir_;
};

TEST_F(NdjsonShapeTest, KeysInOrderOfFirstAppearanceAndObjectsCounted) {
  NdjsonShape shape = Scan("{\"b\":1,\"a\":2}\n{\"b\":3,\"a\":4}\n{\"c\":[1],\"a\":5}\n");
  EXPECT_TRUE(shape.plain);
  EXPECT_EQ(shape.objects, 3);
  EXPECT_EQ(shape.keys, (std::vector<std::string>{"b", "a", "c"}));
}

TEST_F(NdjsonShapeTest, BomCrlfPaddingAndAMissingLastNewlineArePlain) {
  NdjsonShape shape = Scan("\xEF\xBB\xBF{\"k\":1}\r\n  {\"k\":2}  \r\n{\"k\":3}");
  EXPECT_TRUE(shape.plain);
  EXPECT_EQ(shape.objects, 3);
  EXPECT_EQ(shape.keys, (std::vector<std::string>{"k"}));
}

TEST_F(NdjsonShapeTest, AnythingButOneObjectPerLineIsNotPlain) {
  for (const std::string& bytes : {
           std::string("{\"k\":1}\n\n{\"k\":2}\n"),            // a blank line inside
           std::string("{\"k\":1}\n \n"),                      // a line of spaces
           std::string("{\"k\":1}\n{\"k\":\n"),                // malformed
           std::string("{\"k\":1}\n[1,2]\n"),                  // not an object
           std::string("{\"k\":1}\n\"text\"\n"),               // a scalar
           std::string("{\"k\":1,\"k\":2}\n"),                 // a repeated key
           std::string("{\"k\":1}{\"k\":2}\n"),                // two objects on a line
           std::string("{\"k\":100000000000000000000000}\n"),  // beyond 64 bits
       }) {
    SCOPED_TRACE(bytes);
    EXPECT_FALSE(Scan(bytes).plain);
  }
}

TEST_F(NdjsonShapeTest, LinesLongerThanAReadBlock) {
  const std::string big(20 << 20, 'y');
  NdjsonShape shape = Scan("{\"a\":\"" + big + "\"}\n{\"a\":\"z\",\"b\":true}\n");
  EXPECT_TRUE(shape.plain);
  EXPECT_EQ(shape.objects, 2);
  EXPECT_EQ(shape.keys, (std::vector<std::string>{"a", "b"}));
}

TEST_F(NdjsonShapeTest, AMissingFileIsAnError) {
  EXPECT_FALSE(ScanNdjsonShape(dir_.path() + "/none.ndjson").ok());
}

}  // namespace
}  // namespace basin::ingest
