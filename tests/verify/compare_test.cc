#include "verify/compare.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace infermark {
namespace {

Tensor rows(std::vector<int64_t> shape, std::vector<float> values) {
  Tensor t;
  t.resize(shape);
  t.data = std::move(values);
  return t;
}

TEST(CompareOutputs, RelativeToTheLargestReferenceValue) {
  const Tensor ref = rows({2, 3}, {1, 4, 2, -8, 0, 1});
  const Tensor out = rows({2, 3}, {1, 4.004f, 2, -8, 0.02f, 1});
  const OutputDifference d = compare_outputs(out, ref);
  EXPECT_TRUE(d.same_shape);
  EXPECT_NEAR(d.max_abs, 0.02, 1e-6);
  EXPECT_NEAR(d.max_rel, 0.02 / 8, 1e-7);
  EXPECT_EQ(d.top1_agreement, 1.0);
  EXPECT_EQ(d.non_finite, 0);
}

TEST(CompareOutputs, ANaNIsNeverClose) {
  const Tensor ref = rows({2, 2}, {1, 2, 3, 4});
  const Tensor out = rows({2, 2}, {1, std::numeric_limits<float>::quiet_NaN(), 3, 4});
  const OutputDifference d = compare_outputs(out, ref);
  EXPECT_TRUE(std::isinf(d.max_abs));
  EXPECT_TRUE(std::isinf(d.max_rel));
  EXPECT_EQ(d.non_finite, 1);
  EXPECT_FALSE(d.max_rel <= 1e-3);  // what check's verdict asks
  // The NaN never wins a row: row 0's top class is 0, not 1.
  EXPECT_EQ(top_k(out, 0, 1)[0], 0);
  const Tensor all_nan = rows({1, 2}, {NAN, NAN});
  EXPECT_TRUE(std::isinf(compare_outputs(all_nan, rows({1, 2}, {0, 1})).max_abs));
}

TEST(CompareOutputs, TheSameNonFiniteValuesAgree) {
  const Tensor ref = rows({1, 3}, {INFINITY, NAN, 1});
  const OutputDifference d = compare_outputs(ref, ref);
  EXPECT_EQ(d.max_abs, 0);
  EXPECT_EQ(d.non_finite, 0);
}

TEST(CompareOutputs, AnotherShapeSaysWhich) {
  const OutputDifference d = compare_outputs(rows({1, 3}, {1, 2, 3}), rows({3, 1}, {1, 2, 3}));
  EXPECT_FALSE(d.same_shape);
  EXPECT_NE(d.shape_note.find("[1, 3]"), std::string::npos) << d.shape_note;
  EXPECT_NE(d.shape_note.find("[3, 1]"), std::string::npos) << d.shape_note;
}

TEST(CompareOutputs, TopOneAgreementCountsRows) {
  const Tensor ref = rows({4, 2}, {0, 1, 0, 1, 1, 0, 1, 0});
  const Tensor out = rows({4, 2}, {0, 1, 1, 0, 1, 0, 0, 1});
  EXPECT_EQ(compare_outputs(out, ref).top1_agreement, 0.5);
  EXPECT_EQ(top_k(ref, 0, 5), (std::vector<int64_t>{1, 0}));  // k past the classes: all
}

TEST(CompareOutputs, TiesGoToTheFirstClassWhateverK) {
  const Tensor t = rows({1, 6}, {0, 2, 2, 1, 2, NAN});
  EXPECT_EQ(top_k(t, 0, 1), (std::vector<int64_t>{1}));
  EXPECT_EQ(top_k(t, 0, 6), (std::vector<int64_t>{1, 2, 4, 3, 0, 5}));
}

}  // namespace
}  // namespace infermark
