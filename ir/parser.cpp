// A hand-written lexer and recursive-descent parser for the textual IR (the grammar is in
// parser.h). Nodes are built through Graph::add / add_input / add_constant and the typed attrs::
// constructors, so the op table checks them as it checks every other graph.
#include "ir/parser.h"

#include <fmt/format.h>

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <unordered_map>
#include <utility>

#include "ir/builder.h"
#include "ir/error.h"

namespace phijit::ir {

namespace {

struct Pos {
  int line = 1;
  int column = 1;
};

std::string pos_str(Pos p) { return fmt::format("{}:{}", p.line, p.column); }

enum class Tok : uint8_t {
  end,
  newline,
  ident,     // a bare name or keyword
  number,    // unsigned: digits with optional fraction and exponent, or 0x and hex digits
  string,    // "..." (a quoted name)
  value,     // %name
  ref,       // @name
  dim_type,  // ᵇ ᵈ ⁱ ˢ ᶜ, or ^b ^d ^i ^s ^c
  punct,     // ( ) [ ] { } , = : + -
  arrow,     // ->
};

struct Token {
  Tok kind = Tok::end;
  std::string_view text;  // as written: a string with its quotes, a value with its '%'
  std::string str;        // a string's contents, escapes decoded
  DimType dim_type = DimType::spatial;
  Pos pos;

  bool is(char c) const { return kind == Tok::punct && text.size() == 1 && text[0] == c; }
  bool is_word(std::string_view w) const { return kind == Tok::ident && text == w; }
};

// What a token looks like in a message: quoted and shortened, or "the end of the line".
std::string describe(const Token& t) {
  switch (t.kind) {
    case Tok::end: return "the end of the input";
    case Tok::newline: return "the end of the line";
    default: break;
  }
  constexpr size_t kMax = 40;
  if (t.text.size() > kMax) return fmt::format("'{}...'", t.text.substr(0, kMax));
  return fmt::format("'{}'", t.text);
}

[[noreturn]] void fail(Pos p, const std::string& message) { throw ParseError(p.line, p.column, message); }

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex_digit(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_value_char(char c) { return is_name_char(c) && c != '~'; }

constexpr DimType kDimTypes[] = {DimType::batch, DimType::dual, DimType::instance, DimType::spatial,
                                 DimType::channel};
constexpr std::string_view kDimTypesText = "ᵇ ᵈ ⁱ ˢ ᶜ (or ^b ^d ^i ^s ^c)";

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  Token next() {
    skip_blanks_and_comments();
    Token t;
    t.pos = pos();
    const size_t start = i_;
    if (i_ >= text_.size()) return t;
    const char c = text_[i_];
    if (c == '\n') {
      t.kind = Tok::newline;
      advance(1);
    } else if (is_name_start(c)) {
      t.kind = Tok::ident;
      while (i_ < text_.size() && is_name_char(text_[i_])) advance(1);
    } else if (is_digit(c)) {
      t.kind = Tok::number;
      number();
    } else if (c == '"') {
      t.kind = Tok::string;
      t.str = string(t.pos);
    } else if (c == '%' || c == '@') {
      t.kind = c == '%' ? Tok::value : Tok::ref;
      advance(1);
      while (i_ < text_.size() && is_value_char(text_[i_])) advance(1);
      if (i_ == start + 1) {
        fail(t.pos,
             fmt::format("expected a name after '{}' (letters, digits and '_'), found {}", c, found()));
      }
    } else if (c == '-' && peek(1) == '>') {
      t.kind = Tok::arrow;
      advance(2);
    } else if (std::string_view("()[]{},=:+-").find(c) != std::string_view::npos) {
      t.kind = Tok::punct;
      advance(1);
    } else if (c == '^') {
      t.kind = Tok::dim_type;
      std::optional<DimType> type = ascii_dim_type(peek(1));
      if (!type) {
        advance(1);
        fail(t.pos, fmt::format("expected a dim type letter (b, d, i, s or c) after '^', found {}", found()));
      }
      t.dim_type = *type;
      advance(2);
    } else if (std::optional<DimType> type = superscript()) {
      t.kind = Tok::dim_type;
      t.dim_type = *type;
      advance(dim_type_superscript(*type).size());
    } else {
      fail(t.pos, fmt::format("unexpected character {}", found()));
    }
    t.text = text_.substr(start, i_ - start);
    return t;
  }

 private:
  Pos pos() const { return {line_, column_}; }
  char peek(size_t k) const { return i_ + k < text_.size() ? text_[i_ + k] : '\0'; }

  // Columns count characters, not bytes: a UTF-8 superscript is one column.
  void advance(size_t n) {
    for (size_t k = 0; k < n && i_ < text_.size(); ++k, ++i_) {
      auto u = static_cast<unsigned char>(text_[i_]);
      if (u == '\n') {
        ++line_;
        column_ = 1;
      } else if ((u & 0xC0) != 0x80) {
        ++column_;
      }
    }
  }

  void skip_blanks_and_comments() {
    while (i_ < text_.size()) {
      char c = text_[i_];
      if (c == ' ' || c == '\t' || c == '\r') {
        advance(1);
      } else if (c == '/' && peek(1) == '/') {
        while (i_ < text_.size() && text_[i_] != '\n') advance(1);
      } else {
        return;
      }
    }
  }

  // The character at the current position for a message: printable ASCII as is, a complete
  // UTF-8 sequence as is, anything else as \xNN.
  std::string found() const {
    if (i_ >= text_.size()) return "the end of the input";
    auto u = static_cast<unsigned char>(text_[i_]);
    if (u == '\n') return "the end of the line";
    if (u >= 0x20 && u < 0x7f) return fmt::format("'{}'", text_[i_]);
    size_t n = u >= 0xF0 && u < 0xF8 ? 4 : u >= 0xE0 ? 3 : u >= 0xC2 && u < 0xE0 ? 2 : 0;
    bool complete = n > 0 && i_ + n <= text_.size();
    for (size_t k = 1; complete && k < n; ++k) {
      complete = (static_cast<unsigned char>(text_[i_ + k]) & 0xC0) == 0x80;
    }
    if (complete) return fmt::format("'{}'", text_.substr(i_, n));
    return fmt::format("'\\x{:02x}'", u);
  }

  static std::optional<DimType> ascii_dim_type(char c) {
    switch (c) {
      case 'b': return DimType::batch;
      case 'd': return DimType::dual;
      case 'i': return DimType::instance;
      case 's': return DimType::spatial;
      case 'c': return DimType::channel;
      default: return std::nullopt;
    }
  }

  std::optional<DimType> superscript() const {
    for (DimType t : kDimTypes) {
      if (text_.substr(i_).starts_with(dim_type_superscript(t))) return t;
    }
    return std::nullopt;
  }

  // digits ['.' digits] [('e'|'E') ['+'|'-'] digits], or 0x hexdigits. A letter right after a
  // number ends it: "1f" in a cell weight is the number 1 and the word f.
  void number() {
    if (text_[i_] == '0' && (peek(1) == 'x' || peek(1) == 'X')) {
      Pos p = pos();
      advance(2);
      size_t digits = i_;
      while (i_ < text_.size() && is_hex_digit(text_[i_])) advance(1);
      if (i_ == digits) fail(p, fmt::format("expected hex digits after '0x', found {}", found()));
      return;
    }
    while (i_ < text_.size() && is_digit(text_[i_])) advance(1);
    if (peek(0) == '.' && is_digit(peek(1))) {
      advance(1);
      while (i_ < text_.size() && is_digit(text_[i_])) advance(1);
    }
    if ((peek(0) == 'e' || peek(0) == 'E') &&
        (is_digit(peek(1)) || ((peek(1) == '+' || peek(1) == '-') && is_digit(peek(2))))) {
      advance(2);
      while (i_ < text_.size() && is_digit(text_[i_])) advance(1);
    }
  }

  // A quoted name: escapes \" \\ \xHH; raw bytes of UTF-8 characters are kept; no line breaks.
  std::string string(Pos open) {
    std::string out;
    advance(1);
    while (true) {
      if (i_ >= text_.size() || text_[i_] == '\n') {
        fail(open, fmt::format("unterminated string: the '\"' at {} has no closing '\"' on its line",
                               pos_str(open)));
      }
      auto u = static_cast<unsigned char>(text_[i_]);
      if (u == '"') {
        advance(1);
        return out;
      }
      if (u == '\\') {
        Pos p = pos();
        char e = peek(1);
        if (e == '"' || e == '\\') {
          out += e;
          advance(2);
        } else if (e == 'x' && is_hex_digit(peek(2)) && is_hex_digit(peek(3))) {
          out += static_cast<char>(std::stoi(std::string(text_.substr(i_ + 2, 2)), nullptr, 16));
          advance(4);
        } else {
          advance(1);
          fail(p,
               fmt::format("unknown escape in a string: expected \\\", \\\\ or \\x and two hex digits, found "
                           "'\\' and {}",
                           found()));
        }
      } else if (u < 0x20 || u == 0x7f) {
        fail(pos(), fmt::format("control character {} in a string: write it as \\x{:02x}", found(), u));
      } else {
        out += text_[i_];
        advance(1);
      }
    }
  }

  std::string_view text_;
  size_t i_ = 0;
  int line_ = 1;
  int column_ = 1;
};

// A number as written, converted once the dtype it must have is known (a constant's values come
// before its type).
struct Literal {
  enum class Kind : uint8_t { number, inf, nan, nan_bits, boolean };
  Kind kind = Kind::number;
  bool negative = false;
  bool has_sign = false;
  bool truth = false;
  std::string_view digits;  // a number's text, or a NaN's hex bits (after 0x)
  Pos pos;
  std::string text;  // for messages
};

// The attribute keys each op takes and what their values are.
enum class Key : uint8_t {
  index,
  value,
  data,
  param,
  dtype,
  dim_names,  // [x, y]
  shape,      // (xˢ=4)
  name,       // x
  integer,    // 3
  flag,       // the key alone
  extrapolation,
  widths,   // [x=(1, 2)]
  weights,  // [x=(lo=1-1f, hi=0+1f)]
};
struct KeySpec {
  std::string_view name;
  Key key;
};

std::vector<KeySpec> keys_of(Op op) {
  switch (op) {
    case Op::input: return {{"index", Key::index}};
    case Op::constant: return {{"value", Key::value}, {"data", Key::data}, {"param", Key::param}};
    case Op::cast: return {{"dtype", Key::dtype}};
    case Op::reduce_sum:
    case Op::reduce_max:
    case Op::reduce_min: return {{"dims", Key::dim_names}};
    case Op::shift:
      return {{"dim", Key::name}, {"offset", Key::integer}, {"extrapolation", Key::extrapolation}};
    case Op::pad: return {{"widths", Key::widths}, {"extrapolation", Key::extrapolation}};
    case Op::expand: return {{"dims", Key::shape}};
    case Op::slice:
      return {{"dim", Key::name}, {"start", Key::integer}, {"stop", Key::integer}, {"drop", Key::flag}};
    case Op::concat: return {{"dim", Key::name}};
    case Op::stack: return {{"dim", Key::shape}};
    case Op::rename: return {};  // pairs old->newᵗ, read apart
    case Op::grid_sample:
      return {{"dims", Key::dim_names}, {"extrapolation", Key::extrapolation}, {"weights", Key::weights}};
    case Op::grid_sample_transpose:
      return {{"dims", Key::dim_names},
              {"extrapolation", Key::extrapolation},
              {"weights", Key::weights},
              {"grid", Key::shape}};
    case Op::matmul_sparse:
    case Op::solve_linear: return {};  // rejected before their attributes
    case Op::neg:
    case Op::exp:
    case Op::log:
    case Op::sin:
    case Op::cos:
    case Op::tan:
    case Op::tanh:
    case Op::sqrt:
    case Op::abs:
    case Op::sign:
    case Op::isfinite:
    case Op::add:
    case Op::sub:
    case Op::mul:
    case Op::div:
    case Op::pow:
    case Op::minimum:
    case Op::maximum:
    case Op::lt:
    case Op::le:
    case Op::gt:
    case Op::ge:
    case Op::eq:
    case Op::ne:
    case Op::where: return {};
  }
  return {};
}

// One parsed attribute value; which member is set follows from its Key.
struct AttrValue {
  Pos pos;  // of the key
  int64_t integer = 0;
  Pos integer_pos;
  std::string name;
  std::vector<std::string> names;
  Shape shape;
  DType dtype = DType::f64;
  Extrapolation extrap = extrapolation::ZERO;
  std::vector<attrs::PadWidth> widths;
  std::vector<std::pair<std::string, attrs::CellWeights>> weights;
  std::vector<Pos> weight_pos;
  std::vector<Literal> literals;  // value (one) and data
  std::string ref;                // data=@name
  bool is_ref = false;
};

struct ParsedAttrs {
  std::unordered_map<std::string, AttrValue> by_key;
  std::vector<attrs::RenamePair> pairs;
  const AttrValue* get(std::string_view key) const {
    auto it = by_key.find(std::string(key));
    return it == by_key.end() ? nullptr : &it->second;
  }
};

struct Defined {
  Value value;
  Pos pos;
};

class Parser {
 public:
  Parser(std::string_view text, const ConstantTable* constants) : lex_(text), constants_(constants) {
    tok_ = lex_.next();
  }

  Graph run() {
    std::optional<Pos> returned;
    while (true) {
      if (tok_.kind == Tok::newline) {
        take();
      } else if (tok_.kind == Tok::end) {
        break;
      } else if (returned) {
        fail(tok_.pos, fmt::format("expected the end of the input after 'return' (at {}), found {}",
                                   pos_str(*returned), describe(tok_)));
      } else if (tok_.is_word("return")) {
        returned = tok_.pos;
        parse_return();
      } else if (tok_.kind == Tok::value) {
        parse_node();
      } else {
        fail(tok_.pos, fmt::format("expected a statement ('%name = op(...) : type' or 'return'), found {}",
                                   describe(tok_)));
      }
    }
    if (!returned) {
      fail(tok_.pos,
           "expected 'return' and the outputs before the end of the input, found the end of the input");
    }
    try {
      verify(g_);
    } catch (const Error& e) {
      fail(*returned, fmt::format("the graph does not verify: {}", e.what()));
    }
    return std::move(g_);
  }

 private:
  Token take() {
    Token t = std::move(tok_);
    tok_ = lex_.next();
    return t;
  }

  Token expect(char c, std::string_view where) {
    if (!tok_.is(c)) fail(tok_.pos, fmt::format("expected '{}' {}, found {}", c, where, describe(tok_)));
    return take();
  }

  void expect_end_of_statement(std::string_view after) {
    if (tok_.kind != Tok::newline && tok_.kind != Tok::end) {
      fail(tok_.pos, fmt::format("expected the end of the line after {}, found {}", after, describe(tok_)));
    }
  }

  // ',' to go on or `close` to end a list opened at `open`.
  bool list_continues(char close, Pos open, std::string_view what) {
    if (tok_.is(',')) {
      take();
      return true;
    }
    if (tok_.is(close)) {
      take();
      return false;
    }
    fail(tok_.pos, fmt::format("expected ',' or '{}' after {} (in the list opened at {}), found {}", close,
                               what, pos_str(open), describe(tok_)));
  }

  Value use(const Token& t) {
    auto it = values_.find(std::string(t.text));
    if (it == values_.end()) {
      fail(t.pos, fmt::format("value {} is not defined (a value must be defined on a line before its uses)",
                              t.text));
    }
    return it->second.value;
  }

  // ---- statements -------------------------------------------------------------------------

  void parse_return() {
    take();
    std::vector<Value> outs;
    if (tok_.kind == Tok::value) {
      while (true) {
        if (tok_.kind != Tok::value) {
          fail(tok_.pos, fmt::format("expected a value ('%name') to return, found {}", describe(tok_)));
        }
        outs.push_back(use(take()));
        if (!tok_.is(',')) break;
        take();
      }
    }
    expect_end_of_statement("the returned values");
    for (Value v : outs) g_.add_output(v);
  }

  void parse_node() {
    Token name = take();
    if (auto it = values_.find(std::string(name.text)); it != values_.end()) {
      fail(name.pos,
           fmt::format("value {} is defined twice (first at {})", name.text, pos_str(it->second.pos)));
    }
    expect('=', fmt::format("after {}", name.text));
    if (tok_.kind != Tok::ident)
      fail(tok_.pos, fmt::format("expected an op name after '=', found {}", describe(tok_)));
    Token op_tok = take();
    Op op{};
    if (!op_from_name(op_tok.text, &op)) fail(op_tok.pos, fmt::format("unknown op '{}'", op_tok.text));
    if (op == Op::matmul_sparse || op == Op::solve_linear) {
      fail(op_tok.pos,
           fmt::format("{}: host-op payloads (a sparse matrix, a solve's operator and settings) cannot "
                       "be read back from text",
                       op_tok.text));
    }
    Token open = expect('(', fmt::format("after the op name '{}'", op_tok.text));
    std::vector<Value> operands;
    if (!tok_.is(')')) {
      do {
        if (tok_.kind != Tok::value) {
          fail(tok_.pos,
               fmt::format("expected an operand ('%name') of {}, found {}", op_tok.text, describe(tok_)));
        }
        operands.push_back(use(take()));
      } while (list_continues(')', open.pos, "an operand"));
    } else {
      take();
    }
    ParsedAttrs attrs;
    if (tok_.is('{')) attrs = parse_attrs(op, op_tok);
    Token colon = expect(':', "and the result type after the op and its attributes");
    ValueType written = parse_type();
    expect_end_of_statement("the type");
    Value v = build(op, op_tok, std::move(operands), attrs, written);
    if (!(g_.type(v) == written)) {
      const ValueType& t = g_.type(v);
      fail(colon.pos,
           fmt::format("{}: the written type {} {} differs from the type the op table gives, {} {}",
                       op_tok.text, dtype_name(written.dtype), written.shape.str(), dtype_name(t.dtype),
                       t.shape.str()));
    }
    values_.emplace(std::string(name.text), Defined{v, name.pos});
  }

  // ---- attributes -------------------------------------------------------------------------

  ParsedAttrs parse_attrs(Op op, const Token& op_tok) {
    Token open = take();
    ParsedAttrs out;
    if (tok_.is('}')) {
      take();
      return out;
    }
    if (op == Op::rename) {
      do {
        attrs::RenamePair p;
        p.from = parse_name("a dim to rename");
        if (tok_.kind != Tok::arrow) {
          fail(tok_.pos,
               fmt::format("expected '->' and the new name after '{}', found {}", p.from, describe(tok_)));
        }
        take();
        p.to = parse_name("the new name");
        p.type = parse_dim_type(p.to);
        out.pairs.push_back(std::move(p));
      } while (list_continues('}', open.pos, "a renamed dim"));
      return out;
    }
    const std::vector<KeySpec> keys = keys_of(op);
    do {
      if (tok_.kind != Tok::ident) {
        fail(tok_.pos, fmt::format("expected an attribute name, found {}", describe(tok_)));
      }
      Token key = take();
      const KeySpec* spec = nullptr;
      for (const KeySpec& k : keys) {
        if (k.name == key.text) spec = &k;
      }
      if (spec == nullptr) {
        std::vector<std::string_view> names;
        for (const KeySpec& k : keys) names.push_back(k.name);
        fail(key.pos, fmt::format("{} has no attribute '{}' ({})", op_tok.text, key.text,
                                  names.empty() ? "it takes none"
                                                : fmt::format("expected one of {}", fmt::join(names, ", "))));
      }
      if (out.by_key.contains(std::string(key.text))) {
        fail(key.pos, fmt::format("attribute '{}' is given twice", key.text));
      }
      AttrValue v;
      v.pos = key.pos;
      if (spec->key != Key::flag && spec->key != Key::param) {
        expect('=', fmt::format("after the attribute name '{}'", key.text));
        parse_attr_value(*spec, v);
      }
      out.by_key.emplace(std::string(key.text), std::move(v));
    } while (list_continues('}', open.pos, "an attribute"));
    return out;
  }

  void parse_attr_value(const KeySpec& spec, AttrValue& v) {
    switch (spec.key) {
      case Key::index:
      case Key::integer:
        v.integer_pos = tok_.pos;
        v.integer = parse_int(fmt::format("'{}'", spec.name));
        return;
      case Key::value: v.literals.push_back(parse_literal()); return;
      case Key::data:
        if (tok_.kind == Tok::ref) {
          v.is_ref = true;
          v.ref = std::string(take().text.substr(1));
          return;
        } else {
          Token open = expect('[', "or '@name' to start the constant's values");
          if (tok_.is(']')) {
            take();
            return;
          }
          do {
            v.literals.push_back(parse_literal());
          } while (list_continues(']', open.pos, "a value"));
        }
        return;
      case Key::dtype: v.dtype = parse_dtype(); return;
      case Key::dim_names: v.names = parse_name_list(); return;
      case Key::shape: v.shape = parse_shape(); return;
      case Key::name: v.name = parse_name(fmt::format("a dim name for '{}'", spec.name)); return;
      case Key::extrapolation: v.extrap = parse_extrapolation(); return;
      case Key::widths: {
        Token open = expect('[', "to start the pad widths");
        if (tok_.is(']')) {
          take();
          return;
        }
        do {
          attrs::PadWidth w;
          w.dim = parse_name("a dim to pad");
          expect('=', fmt::format("after the padded dim '{}'", w.dim));
          Token tuple = expect('(', "to start the widths (lo, hi)");
          w.lo = parse_int("the lower pad width");
          expect(',', fmt::format("after the lower width (the tuple opened at {})", pos_str(tuple.pos)));
          w.hi = parse_int("the upper pad width");
          expect(')', fmt::format("after the upper width (the tuple opened at {})", pos_str(tuple.pos)));
          v.widths.push_back(std::move(w));
        } while (list_continues(']', open.pos, "a dim's widths"));
        return;
      }
      case Key::weights: {
        Token open = expect('[', "to start the cell weights");
        if (tok_.is(']')) {
          take();
          return;
        }
        do {
          v.weight_pos.push_back(tok_.pos);
          std::string dim = parse_name("a sampled dim");
          expect('=', fmt::format("after the sampled dim '{}'", dim));
          Token tuple = expect('(', "to start the weights (lo=C+Sf, hi=C+Sf)");
          attrs::CellWeights w;
          expect_word("lo", "to start the lower cell's weight");
          expect('=', "after 'lo'");
          parse_weight(w.lo_const, w.lo_slope);
          expect(',',
                 fmt::format("after the lower cell's weight (the tuple opened at {})", pos_str(tuple.pos)));
          expect_word("hi", "to start the upper cell's weight");
          expect('=', "after 'hi'");
          parse_weight(w.hi_const, w.hi_slope);
          expect(')',
                 fmt::format("after the upper cell's weight (the tuple opened at {})", pos_str(tuple.pos)));
          v.weights.emplace_back(std::move(dim), w);
        } while (list_continues(']', open.pos, "a dim's weights"));
        return;
      }
      case Key::param:
      case Key::flag: return;
    }
  }

  void expect_word(std::string_view word, std::string_view where) {
    if (!tok_.is_word(word))
      fail(tok_.pos, fmt::format("expected '{}' {}, found {}", word, where, describe(tok_)));
    take();
  }

  // constant ('+'|'-') slope 'f', e.g. 1-1f
  void parse_weight(int64_t& constant, int64_t& slope) {
    constant = parse_int("a cell weight's constant");
    if (!tok_.is('+') && !tok_.is('-')) {
      fail(tok_.pos,
           fmt::format("expected '+' or '-' and the slope in f after the weight's constant (as in 1-1f), "
                       "found {}",
                       describe(tok_)));
    }
    slope = parse_int("a cell weight's slope");
    expect_word("f", "after the weight's slope (as in 1-1f)");
  }

  // ---- values -----------------------------------------------------------------------------

  // An optional sign, then digits: int64.
  int64_t parse_int(std::string_view what) {
    Pos p = tok_.pos;
    bool negative = false;
    if (tok_.is('-') || tok_.is('+')) negative = take().is('-');
    if (tok_.kind != Tok::number)
      fail(tok_.pos, fmt::format("expected an integer for {}, found {}", what, describe(tok_)));
    Token t = take();
    return to_int64(t.text, negative, p, "int64");
  }

  static int64_t to_int64(std::string_view digits, bool negative, Pos p, std::string_view dtype) {
    std::string written = fmt::format("{}{}", negative ? "-" : "", digits);
    for (char c : digits) {
      if (!is_digit(c)) fail(p, fmt::format("expected an integer, found {}", written));
    }
    uint64_t magnitude = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude);
    constexpr uint64_t kMaxMagnitude = uint64_t{1} << 63;
    if (ec != std::errc() || magnitude > (negative ? kMaxMagnitude : kMaxMagnitude - 1)) {
      fail(p, fmt::format("integer {} does not fit in {}", written, dtype));
    }
    if (!negative) return static_cast<int64_t>(magnitude);
    return magnitude == kMaxMagnitude ? std::numeric_limits<int64_t>::min()
                                      : -static_cast<int64_t>(magnitude);
  }

  Literal parse_literal() {
    Literal l;
    l.pos = tok_.pos;
    if (tok_.is_word("true") || tok_.is_word("false")) {
      l.kind = Literal::Kind::boolean;
      l.truth = tok_.is_word("true");
      l.text = std::string(take().text);
      return l;
    }
    if (tok_.is('-') || tok_.is('+')) {
      l.has_sign = true;
      l.negative = take().is('-');
    }
    const std::string sign = l.has_sign ? (l.negative ? "-" : "+") : "";
    if (tok_.kind == Tok::number) {
      l.digits = tok_.text;
      l.text = sign + std::string(take().text);
    } else if (tok_.is_word("inf")) {
      take();
      l.kind = Literal::Kind::inf;
      l.text = sign + "inf";
    } else if (tok_.is_word("nan")) {
      take();
      l.kind = Literal::Kind::nan;
      l.text = sign + "nan";
      if (tok_.is('(')) {
        Token open = take();
        if (tok_.kind != Tok::number || !(tok_.text.starts_with("0x") || tok_.text.starts_with("0X"))) {
          fail(tok_.pos, fmt::format("expected a NaN's bits in hex (as in nan(0x7ff4000000000000)), found {}",
                                     describe(tok_)));
        }
        if (l.has_sign) fail(l.pos, "a NaN given by its bits takes no sign: the bits hold it");
        l.kind = Literal::Kind::nan_bits;
        l.digits = take().text.substr(2);
        l.text = fmt::format("nan(0x{})", l.digits);
        expect(')', fmt::format("after the NaN's bits (opened at {})", pos_str(open.pos)));
      }
    } else {
      fail(tok_.pos, fmt::format("expected a number (or inf, nan, true, false), found {}", describe(tok_)));
    }
    return l;
  }

  template <class T, class Bits>
  static T to_real(const Literal& l, DType dtype) {
    switch (l.kind) {
      case Literal::Kind::boolean:
        fail(l.pos, fmt::format("expected a {} value, found {}", dtype_name(dtype), l.text));
      case Literal::Kind::inf:
        return l.negative ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
      case Literal::Kind::nan: {
        T nan = std::numeric_limits<T>::quiet_NaN();
        return l.negative ? -nan : nan;
      }
      case Literal::Kind::nan_bits: {
        Bits bits = 0;
        auto [end, ec] = std::from_chars(l.digits.data(), l.digits.data() + l.digits.size(), bits, 16);
        if (ec != std::errc() || end != l.digits.data() + l.digits.size()) {
          fail(l.pos, fmt::format("{} has more bits than a {}", l.text, dtype_name(dtype)));
        }
        T v = std::bit_cast<T>(bits);
        if (!std::isnan(v))
          fail(l.pos, fmt::format("{} is not the bit pattern of a {} NaN", l.text, dtype_name(dtype)));
        return v;
      }
      case Literal::Kind::number: break;
    }
    if (l.digits.starts_with("0x") || l.digits.starts_with("0X")) {
      fail(l.pos, fmt::format("expected a decimal number, found {} (hex gives only a NaN's bits: nan(0x...))",
                              l.text));
    }
    T v = 0;
    auto [end, ec] = std::from_chars(l.digits.data(), l.digits.data() + l.digits.size(), v);
    if (ec != std::errc() || end != l.digits.data() + l.digits.size()) {
      fail(l.pos, fmt::format("{} is out of the range of {} (write inf, or 0)", l.text, dtype_name(dtype)));
    }
    return l.negative ? -v : v;
  }

  static int64_t to_integer(const Literal& l, DType dtype) {
    if (l.kind != Literal::Kind::number) {
      fail(l.pos, fmt::format("expected an integer for a {} value, found {}", dtype_name(dtype), l.text));
    }
    int64_t v = to_int64(l.digits, l.negative, l.pos, dtype_name(dtype));
    if (dtype == DType::i32 &&
        (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())) {
      fail(l.pos, fmt::format("integer {} does not fit in int32", l.text));
    }
    return v;
  }

  static void store(Buffer& b, int64_t i, const Literal& l) {
    switch (b.dtype()) {
      case DType::f32: b.as<float>()[i] = to_real<float, uint32_t>(l, DType::f32); return;
      case DType::f64: b.as<double>()[i] = to_real<double, uint64_t>(l, DType::f64); return;
      case DType::i32: b.as<int32_t>()[i] = static_cast<int32_t>(to_integer(l, DType::i32)); return;
      case DType::i64: b.as<int64_t>()[i] = to_integer(l, DType::i64); return;
      case DType::boolean:
        if (l.kind != Literal::Kind::boolean) {
          fail(l.pos, fmt::format("expected true or false for a bool value, found {}", l.text));
        }
        b.as<uint8_t>()[i] = l.truth ? 1 : 0;
        return;
    }
  }

  std::string parse_name(std::string_view what) {
    if (tok_.kind == Tok::ident) return std::string(take().text);
    if (tok_.kind == Tok::string) return take().str;
    fail(tok_.pos, fmt::format("expected {} (a name, or a quoted \"name\"), found {}", what, describe(tok_)));
  }

  std::vector<std::string> parse_name_list() {
    Token open = expect('[', "to start a list of dim names");
    std::vector<std::string> names;
    if (tok_.is(']')) {
      take();
      return names;
    }
    do {
      names.push_back(parse_name("a dim name"));
    } while (list_continues(']', open.pos, "a dim name"));
    return names;
  }

  DimType parse_dim_type(const std::string& name) {
    if (tok_.kind != Tok::dim_type) {
      fail(tok_.pos, fmt::format("expected the type of dim '{}' ({}) after its name, found {}", name,
                                 kDimTypesText, describe(tok_)));
    }
    return take().dim_type;
  }

  DType parse_dtype() {
    constexpr DType kAll[] = {DType::f32, DType::f64, DType::i32, DType::i64, DType::boolean};
    if (tok_.kind == Tok::ident) {
      for (DType t : kAll) {
        if (tok_.text == dtype_name(t)) {
          take();
          return t;
        }
      }
    }
    fail(tok_.pos,
         fmt::format("expected a dtype (float32, float64, int32, int64 or bool), found {}", describe(tok_)));
  }

  // '(' dims ')', each `name type '=' (size | '[' item names ']')`.
  Shape parse_shape() {
    Token open = expect('(', "to start a shape");
    std::vector<Dim> dims;
    if (tok_.is(')')) {
      take();
      return Shape();
    }
    do {
      Dim d;
      d.name = parse_name("a dim name");
      d.type = parse_dim_type(d.name);
      expect('=', fmt::format("after the type of dim '{}'", d.name));
      if (tok_.kind == Tok::number) {
        Pos p = tok_.pos;
        d.size = to_int64(take().text, false, p, "int64");
      } else if (tok_.is('[')) {
        d.item_names = parse_name_list();
        d.size = static_cast<int64_t>(d.item_names.size());
      } else {
        fail(tok_.pos, fmt::format("expected the size of dim '{}' or its item names [a, b, ...], found {}",
                                   d.name, describe(tok_)));
      }
      dims.push_back(std::move(d));
    } while (list_continues(')', open.pos, "a dim"));
    try {
      return Shape(dims);
    } catch (const Error& e) {
      fail(open.pos, e.what());
    }
  }

  ValueType parse_type() {
    ValueType t;
    t.dtype = parse_dtype();
    t.shape = parse_shape();
    return t;
  }

  Extrapolation parse_extrapolation() {
    if (tok_.is_word("zero")) {
      take();
      if (tok_.is('-')) {
        take();
        expect_word("gradient", "after 'zero-'");
        return extrapolation::ZERO_GRADIENT;
      }
      return extrapolation::ZERO;
    }
    if (tok_.is_word("one")) {
      take();
      return extrapolation::ONE;
    }
    if (tok_.is_word("periodic")) {
      take();
      return extrapolation::PERIODIC;
    }
    if (tok_.is_word("constant")) {
      take();
      Token open = expect('(', "after 'constant'");
      double v = to_real<double, uint64_t>(parse_literal(), DType::f64);
      expect(')', fmt::format("after the constant's value (opened at {})", pos_str(open.pos)));
      return extrapolation::constant(v);
    }
    fail(
        tok_.pos,
        fmt::format("expected an extrapolation (zero, one, periodic, zero-gradient or constant(v)), found {}",
                    describe(tok_)));
  }

  // ---- nodes ------------------------------------------------------------------------------

  const AttrValue& required(const ParsedAttrs& a, std::string_view key, const Token& op_tok) {
    const AttrValue* v = a.get(key);
    if (v == nullptr) fail(op_tok.pos, fmt::format("{} needs the attribute '{}'", op_tok.text, key));
    return *v;
  }

  Extrapolation extrapolation_or_zero(const ParsedAttrs& a) {
    const AttrValue* v = a.get("extrapolation");
    return v != nullptr ? v->extrap : extrapolation::ZERO;
  }

  // One weight per sampled dim, CellWeights{} (interpolation) for those the text leaves out.
  std::vector<attrs::CellWeights> cell_weights(const ParsedAttrs& a, const std::vector<std::string>& dims) {
    std::vector<attrs::CellWeights> out(dims.size());
    const AttrValue* v = a.get("weights");
    if (v == nullptr) return out;
    std::vector<bool> given(dims.size(), false);
    for (size_t k = 0; k < v->weights.size(); ++k) {
      const std::string& dim = v->weights[k].first;
      size_t i = 0;
      while (i < dims.size() && dims[i] != dim) ++i;
      if (i == dims.size()) {
        fail(v->weight_pos[k], fmt::format("weights for '{}', which is not a sampled dim (dims=[{}])", dim,
                                           fmt::join(dims, ", ")));
      }
      if (given[i]) fail(v->weight_pos[k], fmt::format("the weights of '{}' are given twice", dim));
      given[i] = true;
      out[i] = v->weights[k].second;
    }
    return out;
  }

  Value build_constant(const ParsedAttrs& a, const Token& op_tok, const ValueType& t) {
    if (const AttrValue* p = a.get("param")) {
      fail(p->pos,
           "constant {param} is a placeholder written by print(g, /*constant_values=*/false) and has no "
           "values: print with constant_values to read a graph back");
    }
    const AttrValue* value = a.get("value");
    const AttrValue* data = a.get("data");
    if ((value == nullptr) == (data == nullptr)) {
      fail(op_tok.pos,
           "constant needs exactly one of the attributes 'value' (one element) and 'data' (all of them)");
    }
    const int64_t volume = t.shape.volume();
    std::shared_ptr<const Buffer> buffer;
    if (data != nullptr && data->is_ref) {
      if (constants_ == nullptr || !constants_->contains(data->ref)) {
        fail(data->pos,
             fmt::format("constant data=@{} is printed by reference, but no buffer named '{}' was given "
                         "(pass parse() the ConstantTable of referenced_constants(), or print with "
                         "max_literal_values=INT64_MAX to write every value)",
                         data->ref, data->ref));
      }
      buffer = constants_->find(data->ref)->second;
      if (!buffer || buffer->dtype() != t.dtype || buffer->count() != volume) {
        fail(data->pos,
             fmt::format("constant data=@{}: the buffer holds {} {} values, the type {} {} needs {}",
                         data->ref, buffer ? buffer->count() : 0, buffer ? dtype_name(buffer->dtype()) : "no",
                         dtype_name(t.dtype), t.shape.str(), volume));
      }
    } else {
      const std::vector<Literal>& literals = value != nullptr ? value->literals : data->literals;
      // Checked before allocating: the buffer never holds more elements than the text wrote.
      if (value != nullptr && volume != 1) {
        fail(value->pos,
             fmt::format("constant value= gives one element, but the shape {} has {}: write all of them "
                         "as data=[...]",
                         t.shape.str(), volume));
      }
      if (static_cast<int64_t>(literals.size()) != volume) {
        fail(data->pos, fmt::format("constant data= lists {} values, but the shape {} has {} elements",
                                    literals.size(), t.shape.str(), volume));
      }
      auto b = std::make_shared<Buffer>(t.dtype, volume);
      for (int64_t i = 0; i < volume; ++i) store(*b, i, literals[static_cast<size_t>(i)]);
      buffer = std::move(b);
    }
    return g_.add_constant(std::move(buffer), t.shape);
  }

  Value build(Op op, const Token& op_tok, std::vector<Value> operands, const ParsedAttrs& a,
              const ValueType& t) {
    if ((op == Op::input || op == Op::constant) && !operands.empty()) {
      fail(op_tok.pos, fmt::format("{}: expects 0 operands, got {}", op_tok.text, operands.size()));
    }
    try {
      switch (op) {
        case Op::input: {
          const auto next = static_cast<int64_t>(g_.inputs().size());
          if (const AttrValue* index = a.get("index"); index != nullptr && index->integer != next) {
            fail(index->integer_pos,
                 fmt::format("input index={}: inputs are numbered in the order they appear, so "
                             "this one is {}",
                             index->integer, next));
          }
          return g_.add_input(t.shape, t.dtype);
        }
        case Op::constant: return build_constant(a, op_tok, t);
        default: break;
      }
      return g_.add(op, std::move(operands), node_attrs(op, op_tok, a));
    } catch (const ParseError&) {
      throw;
    } catch (const Error& e) {
      fail(op_tok.pos, e.what());
    }
  }

  Attrs node_attrs(Op op, const Token& op_tok, const ParsedAttrs& a) {
    auto req = [&](std::string_view key) -> const AttrValue& { return required(a, key, op_tok); };
    switch (op) {
      case Op::cast: return attrs::cast(req("dtype").dtype);
      case Op::reduce_sum:
      case Op::reduce_max:
      case Op::reduce_min: return attrs::reduce(req("dims").names);
      case Op::shift: return attrs::shift(req("dim").name, req("offset").integer, extrapolation_or_zero(a));
      case Op::pad: return attrs::pad(req("widths").widths, extrapolation_or_zero(a));
      case Op::expand: return attrs::expand(req("dims").shape);
      case Op::slice:
        return attrs::slice(req("dim").name, req("start").integer, req("stop").integer,
                            a.get("drop") != nullptr);
      case Op::concat: return attrs::concat(req("dim").name);
      case Op::stack: return attrs::stack(req("dim").shape);
      case Op::rename: return attrs::rename(a.pairs);
      case Op::grid_sample: {
        const std::vector<std::string>& dims = req("dims").names;
        return attrs::grid_sample(dims, extrapolation_or_zero(a), cell_weights(a, dims));
      }
      case Op::grid_sample_transpose: {
        const std::vector<std::string>& dims = req("dims").names;
        return attrs::grid_sample_transpose(req("grid").shape, dims, extrapolation_or_zero(a),
                                            cell_weights(a, dims));
      }
      default: return {};  // elementwise ops (sources and host ops are handled before)
    }
  }

  Lexer lex_;
  Token tok_;
  const ConstantTable* constants_;
  Graph g_;
  std::unordered_map<std::string, Defined> values_;
};

}  // namespace

Graph parse(std::string_view text, const ConstantTable* constants) { return Parser(text, constants).run(); }

}  // namespace phijit::ir
