#pragma once

#include <stdexcept>
#include <string>

namespace infermark {

// Every failure the user can cause or meet: one line that names the file or value and says
// what is wrong. The CLI prints what() as is and exits non-zero.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A model or operator that is valid but outside what a component can handle.
class Unsupported : public Error {
 public:
  using Error::Error;
};

}  // namespace infermark
