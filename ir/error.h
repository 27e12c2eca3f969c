// The exception hierarchy every phijit error derives from (API §7).
#pragma once

#include <stdexcept>
#include <string>

namespace phijit {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Shapes that do not fit: unknown dims, conflicting sizes or types, wrong value counts.
class ShapeError : public Error {
 public:
  using Error::Error;
};

// A function that must be affine in its argument uses it nonlinearly.
class NotLinearError : public Error {
 public:
  using Error::Error;
};

// Textual IR (ir/parser.h) that cannot be read back; the message starts with "line:column: ".
class ParseError : public Error {
 public:
  ParseError(int line, int column, const std::string& message)
      : Error(std::to_string(line) + ":" + std::to_string(column) + ": " + message),
        line_(line),
        column_(column) {}
  int line() const { return line_; }
  int column() const { return column_; }

 private:
  int line_;
  int column_;
};

// A broken invariant inside phijit, not the user's mistake.
class InternalError : public Error {
 public:
  explicit InternalError(const std::string& message)
      : Error("phijit internal error (please report): " + message) {}
};

}  // namespace phijit
