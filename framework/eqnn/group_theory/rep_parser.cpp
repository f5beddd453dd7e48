// Parser for representation strings.
#include "eqnn/group_theory/rep_parser.hpp"

#include <algorithm>
#include <cctype>
#include <limits>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "eqnn/group_theory/compact_group.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/limits.hpp"
#include "eqnn/util/suggest.hpp"

namespace eqnn {
namespace {

struct Parser {
  const GroupPtr& g;
  const std::string& s;
  size_t pos = 0;

  [[noreturn]] void fail(size_t at, const std::string& msg) const {
    throw ConfigError("", 1, static_cast<int>(at) + 1,
                      fmt::format("in representation \"{}\": {}", printable(s), msg));
  }
  // Control characters as \xNN, so that a NUL cannot cut the message short.
  static std::string printable(const std::string& text) {
    std::string out;
    for (unsigned char c : text)
      out += c < 0x20 || c == 0x7f ? fmt::format("\\x{:02x}", c) : std::string(1, char(c));
    return out;
  }
  void skip() {
    while (pos < s.size() && std::isspace(static_cast<unsigned char>(s[pos]))) ++pos;
  }
  bool digit() const { return pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos])); }
  // Digits at `start..end` as a number, or -1 when it has more than 9 digits (no stoi: it throws
  // std::out_of_range, and a truncated number would silently mean something else).
  long digits_value(size_t start, size_t end) const {
    if (end - start > 9) return -1;
    long v = 0;
    for (size_t i = start; i < end; ++i) v = v * 10 + (s[i] - '0');
    return v;
  }
  long number() {
    size_t start = pos;
    while (digit()) ++pos;
    const long v = digits_value(start, pos);
    if (v < 0 || v > kMaxMultiplicity)
      fail(start, fmt::format("the multiplicity {} is too large (at most {})", s.substr(start, pos - start),
                              kMaxMultiplicity));
    return v;
  }
  static constexpr long kMaxMultiplicity = 999999;
  int depth = 0;  // of tensor(...) nesting: bounded, so no input can exhaust the stack
  static constexpr int kMaxDepth = 16;
  // The size limit (max_rep_size()), checked before anything of that size is built; located at `at`.
  void check_size(size_t at, long size, const std::string& what) const {
    try {
      check_rep_size(size, what);
    } catch (const GroupError& e) {
      fail(at, e.what());
    }
  }
  std::string word() {
    size_t start = pos;
    while (pos < s.size() && (std::isalnum(static_cast<unsigned char>(s[pos])) || s[pos] == '_')) ++pos;
    return s.substr(start, pos - start);
  }
  // Reads "( WORD )"; `at` receives the position of WORD.
  std::string paren_arg(const std::string& name, size_t* at) {
    skip();
    if (pos >= s.size() || s[pos] != '(') fail(pos, fmt::format("expected '(' after '{}'", name));
    ++pos;
    skip();
    size_t start = pos;
    *at = start;
    std::string arg = word();
    if (arg.empty()) fail(start, fmt::format("expected an argument inside {}(...)", name));
    skip();
    if (pos >= s.size() || s[pos] != ')') fail(pos, fmt::format("expected ')' to close {}(", name));
    ++pos;
    return arg;
  }

  // Reads "( ARG, ARG, ... )" as raw arguments (a compact group's irrep(l, p), regular(L)); `at` receives
  // the position after '('.
  std::vector<std::string> paren_args(const std::string& name, size_t* at) {
    skip();
    if (pos >= s.size() || s[pos] != '(') fail(pos, fmt::format("expected '(' after '{}'", name));
    *at = ++pos;
    std::vector<std::string> args{""};
    for (; pos < s.size() && s[pos] != ')'; ++pos) {
      if (s[pos] == ',') {
        args.emplace_back();
      } else {
        args.back() += s[pos];
      }
    }
    if (pos >= s.size()) fail(pos, fmt::format("expected ')' to close {}(", name));
    ++pos;
    // Spaces around an argument are dropped, spaces inside one are kept ("1 0" is not 10).
    for (auto& a : args) {
      const size_t first = a.find_first_not_of(" \t\n\r\f\v");
      a = first == std::string::npos ? "" : a.substr(first, a.find_last_not_of(" \t\n\r\f\v") - first + 1);
    }
    return args;
  }

  // One NAME (regular, irrep(...), tensor(A, B, ...), ...).
  RepPtr atom() {
    skip();
    size_t name_at = pos;
    std::string name = word();
    static const std::vector<std::string> known{"regular",  "trivial", "irrep",   "permutation",
                                                "standard", "tensor",  "quotient"};
    RepPtr one;
    if (name.empty())
      fail(name_at, fmt::format("expected a representation name ({})", fmt::join(known, ", ")));
    try {
      if (name == "regular" && g->is_compact()) {
        skip();
        if (pos >= s.size() || s[pos] != '(')
          fail(name_at, fmt::format("{} is a compact group: its regular representation is infinite; use the "
                                    "band-limited regular(L) (every irrep of band <= L), e.g. regular(2)",
                                    g->name()));
        size_t arg_at = pos;
        const auto args = paren_args(name, &arg_at);
        const std::string& a = args[0];
        const bool numeric = args.size() == 1 && !a.empty() && a.size() <= 9 &&
                             std::all_of(a.begin(), a.end(), [](char c) { return std::isdigit(c) != 0; });
        if (!numeric)
          fail(arg_at,
               fmt::format("regular(L) of the compact group {} takes one band limit L >= 0", g->name()));
        one = Representation::band_limited_regular(g, std::stoi(a));
      } else if (name == "quotient") {
        size_t arg_at = pos;
        const auto args = paren_args(name, &arg_at);
        if (!g->is_compact())
          fail(name_at, fmt::format("quotient(H, L) is for compact groups; {} is finite: its quotient spaces "
                                    "G/H are permutation actions, permutation(name)",
                                    g->name()));
        const std::string& a = args.size() == 2 ? args[1] : std::string();
        const bool numeric = !a.empty() && a.size() <= 9 &&
                             std::all_of(a.begin(), a.end(), [](char c) { return std::isdigit(c) != 0; });
        if (!numeric)
          fail(arg_at, fmt::format("quotient(H, L) takes a subgroup H and a band limit L >= 0, e.g. "
                                   "quotient(SO2, 2) on SO3"));
        std::vector<int> irreps;
        try {
          irreps = g->compact()->quotient(args[0], std::stoi(a));
        } catch (const GroupError& e) {
          fail(arg_at, e.what());
        }
        const int n = static_cast<int>(g->irreps().size());
        long total = 0;
        for (int k : irreps) {
          if (k < 0 || k >= n)
            fail(arg_at, fmt::format("quotient({}, {}) holds irreps beyond the band limit {} of {} (raise it "
                                     "with {{type: {}, band_limit: ...}}, at most {})",
                                     args[0], a, g->band_limit(), g->name(), g->compact()->name(),
                                     Group::kMaxBandLimit));
          total += g->irreps()[k].dim;
        }
        one = Representation::from_decomposition(g, irreps, Matrix::Identity(total, total),
                                                 fmt::format("quotient({}, {})", args[0], a));
      } else if (name == "tensor") {
        one = tensor_args();
      } else if (name == "regular") {
        one = Representation::regular(g);
      } else if (name == "trivial") {
        one = Representation::trivial(g, 1);
      } else if (name == "standard") {
        one = Representation::standard(g);
      } else if (name == "irrep" && g->is_compact()) {
        size_t arg_at = pos;
        const auto args = paren_args(name, &arg_at);
        int k = 0;
        try {
          k = g->compact()->irrep_index(args);
        } catch (const GroupError& e) {
          fail(arg_at, e.what());
        }
        // (The message spells the irrep from its arguments: the definition is not asked about an irrep
        // beyond the group's band limit, which may be arbitrarily large.)
        if (k < 0 || k >= static_cast<int>(g->irreps().size()))
          fail(arg_at,
               fmt::format(
                   "irrep({}) is beyond the band limit {} of {} (raise it with {{type: {}, band_limit: "
                   "...}}, at most {})",
                   fmt::join(args, ", "), g->band_limit(), g->name(), g->compact()->name(),
                   Group::kMaxBandLimit));
        one = Representation::irrep(g, k);
      } else if (name == "irrep") {
        size_t arg_at = pos;
        std::string arg = paren_arg(name, &arg_at);
        bool numeric = !arg.empty() && std::all_of(arg.begin(), arg.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c));
        });
        if (!numeric) fail(arg_at, fmt::format("irrep(...) takes an irrep index, found '{}'", arg));
        const long k = digits_value(arg_at, arg_at + arg.size());
        const int n = static_cast<int>(g->irreps().size());
        if (k < 0 || k >= n)
          fail(arg_at, fmt::format("irrep({}) does not exist: {} has irreps 0..{}", arg, g->name(), n - 1));
        one = Representation::irrep(g, static_cast<int>(k));
      } else if (name == "permutation") {
        size_t arg_at = pos;
        std::string arg = paren_arg(name, &arg_at);
        const PermutationAction* a = g->find_action(arg);
        if (!a) {
          std::vector<std::string> names;
          for (const auto& x : g->actions()) names.push_back(x.name);
          fail(arg_at, fmt::format("{} has no permutation action '{}'{}; its actions: {}", g->name(), arg,
                                   did_you_mean_clause(arg, names),
                                   names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))));
        }
        one = Representation::permutation(g, *a);
      } else {
        fail(name_at, fmt::format("unknown representation '{}'{}; known: {}", name,
                                  did_you_mean_clause(name, known), fmt::join(known, ", ")));
      }
    } catch (const ConfigError&) {
      throw;
    } catch (const std::exception& e) {
      fail(name_at, e.what());
    }
    return one;
  }

  // tensor(A, B, ...) after its name: two or more representation strings, their product left to right.
  RepPtr tensor_args() {
    skip();
    if (pos >= s.size() || s[pos] != '(') fail(pos, "expected '(' after 'tensor'");
    if (++depth > kMaxDepth) fail(pos, fmt::format("tensor(...) nested more than {} deep", kMaxDepth));
    ++pos;
    const size_t first = pos;
    RepPtr product = sum(",)");
    int factors = 1;
    while (pos < s.size() && s[pos] == ',') {
      ++pos;
      const size_t at = pos;
      RepPtr next = sum(",)");
      product = product_of(at, product, next);
      ++factors;
    }
    if (pos >= s.size() || s[pos] != ')') fail(pos, "expected ')' to close tensor(");
    ++pos;
    --depth;
    if (factors < 2)
      fail(first, "tensor(...) takes two or more representations, e.g. tensor(irrep(1), irrep(1))");
    return product;
  }

  // a ⊗ b, refused with the size limit's message (located at `at`) before anything of its size is built.
  RepPtr product_of(size_t at, const RepPtr& a, const RepPtr& b) {
    check_size(at, static_cast<long>(a->size()) * b->size(), "the tensor product");
    try {
      return Representation::tensor(a, b);
    } catch (const std::exception& e) {
      fail(at, e.what());
    }
  }

  static constexpr const char* kOtimes = "\u2297";  // ⊗ in UTF-8
  bool at_otimes() const { return s.compare(pos, 3, kOtimes) == 0; }

  // One term, `[N x] ATOM (⊗ ATOM)*`; `before` coordinates precede it, and the total is checked against the
  // size limit before the term's copies are summed.
  RepPtr term(long before) {
    skip();
    size_t start = pos;
    long count = 1;
    if (digit()) {
      count = number();
      skip();
      if (pos < s.size() && (s[pos] == 'x' || s[pos] == 'X')) {
        ++pos;
      } else {
        fail(pos, "expected 'x' after the multiplicity (as in \"4x regular\")");
      }
      if (count < 1) fail(start, "the multiplicity must be at least 1");
      skip();
    }
    const std::string name = s.substr(pos, s.find_first_of("( \t+,)", pos) - pos);
    RepPtr one = atom();
    skip();
    while (at_otimes()) {
      pos += 3;
      skip();
      const size_t at = pos;
      RepPtr next = atom();
      one = product_of(at, one, next);
      skip();
    }
    const long size = count * static_cast<long>(one->size());
    check_size(start, before + size, before == 0 ? fmt::format("{}x {}", count, name) : "the representation");
    if (count == 1) return one;
    return Representation::direct_sum(std::vector<RepPtr>(static_cast<size_t>(count), one));
  }

  // Terms joined by '+' up to the end of the string or a character of `stop` (inside tensor(...)).
  RepPtr sum(const char* stop) {
    std::vector<RepPtr> terms;
    long size = 0;
    for (;;) {
      terms.push_back(term(size));
      size += terms.back()->size();
      skip();
      if (pos == s.size() || std::string_view(stop).find(s[pos]) != std::string_view::npos) break;
      if (s[pos] != '+')
        fail(pos, *stop ? fmt::format("expected '+', ',' or ')', found '{}'", printable(s.substr(pos, 1)))
                        : fmt::format("expected '+' or the end, found '{}'", printable(s.substr(pos, 1))));
      ++pos;
    }
    return Representation::direct_sum(terms);
  }

  RepPtr parse() {
    RepPtr r = sum("");
    if (pos != s.size())
      fail(pos, fmt::format("expected '+' or the end, found '{}'", printable(s.substr(pos, 1))));
    return r;
  }
};

}  // namespace

RepPtr parse_rep(const GroupPtr& g, const std::string& text) {
  Parser p{g, text};
  return p.parse();
}

}  // namespace eqnn
