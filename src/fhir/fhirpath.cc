#include "fhir/fhirpath.h"

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_set>
#include <utility>
#include <vector>

#include "fhir/r4/definitions.h"
#include "fhir/resource.h"

namespace hygie::fhir::fhirpath {
namespace {

// ---------------------------------------------------------------------------------------------
// Abstract syntax tree.
//
// An expression is a tree of Expr. Navigation is a kPath: an optional base expression (absent:
// the focus, i.e. the resource at the root or the item under test in where()) followed by a
// sequence of steps applied in order. Item steps (member, filters) map each item on its own and
// are evaluated depth-first without intermediate collections; collection steps (first(), [n],
// exists(), empty(), is) need the whole collection built so far.

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class StepKind {
  // Item steps.
  kMember,        // name: child element
  kTypeSelector,  // name: a resource type name at the start of a path (Patient.name)
  kOfType,        // name: ofType(T), as(T), `as T`
  kWhere,         // criteria
  kExtension,     // name: the extension url
  kResolve,       // identity; the following type tests look at the reference's target
  // Collection steps.
  kFirst,
  kIndex,   // index
  kExists,  // boolean
  kEmpty,   // boolean
  kIs,      // name: is(T), `is T`; boolean
};

bool IsCollectionStep(StepKind kind) {
  return kind == StepKind::kFirst || kind == StepKind::kIndex || kind == StepKind::kExists ||
         kind == StepKind::kEmpty || kind == StepKind::kIs;
}

struct Step {
  StepKind kind = StepKind::kMember;
  std::string name;
  // kOfType, kIs after resolve(): test the type named by the Reference, not the node's type.
  bool on_reference = false;
  size_t index = 0;
  ExprPtr criteria;
};

enum class ExprKind {
  kPath,      // left (optional base), steps
  kUnion,     // left | right
  kAnd,       // left and right
  kOr,        // left or right
  kEqual,     // left = right
  kNotEqual,  // left != right
  kString,    // literal
  kBool,      // bool_value
  kResource,  // %resource
  kThis,      // $this
};

struct Expr {
  explicit Expr(ExprKind k) : kind(k) {}
  ExprKind kind;
  ExprPtr left;
  ExprPtr right;
  std::vector<Step> steps;
  bool resolved = false;  // kPath: resolve() was applied (only type tests may follow)
  bool bool_value = false;
  std::string text;          // kString: the literal's value
  rapidjson::Value literal;  // kString: views `text`
};

// ---------------------------------------------------------------------------------------------
// Node collections: a few nodes inline, more on the heap.

class NodeList {
 public:
  NodeList() = default;
  NodeList(const NodeList&) = delete;
  NodeList& operator=(const NodeList&) = delete;

  void push_back(const Node& node) {
    if (heap_.empty()) {
      if (size_ < kInline) {
        inline_[size_++] = node;
        return;
      }
      heap_.reserve(kInline * 4);
      heap_.assign(inline_, inline_ + kInline);
    }
    heap_.push_back(node);
    ++size_;
  }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const Node& operator[](size_t i) const { return data()[i]; }
  const Node* begin() const { return data(); }
  const Node* end() const { return data() + size_; }
  void clear() {
    size_ = 0;
    heap_.clear();
  }

 private:
  static constexpr size_t kInline = 8;
  const Node* data() const { return heap_.empty() ? inline_ : heap_.data(); }
  Node inline_[kInline];
  std::vector<Node> heap_;
  size_t size_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Types.

constexpr std::string_view kBooleanType = "boolean";
constexpr std::string_view kStringType = "string";

const rapidjson::Value& BoolValue(bool b) {
  static const rapidjson::Value* const kTrue = new rapidjson::Value(true);
  static const rapidjson::Value* const kFalse = new rapidjson::Value(false);
  return b ? *kTrue : *kFalse;
}

Node BoolNode(bool b) { return Node{&BoolValue(b), kBooleanType}; }

// The resource type name as a view of static storage; empty when `name` is not one.
std::string_view StaticResourceType(std::string_view name) {
  const std::vector<std::string_view>& types = ResourceTypes();
  auto it = std::lower_bound(types.begin(), types.end(), name);
  if (it == types.end() || *it != name) return {};
  return *it;
}

bool IsDomainResourceType(std::string_view type) {
  return IsResourceType(type) && type != "Bundle" && type != "Binary" && type != "Parameters";
}

// True when a node of type `type` is a `wanted` (FHIR type hierarchy of R4, for the types that
// search parameters test).
bool TypeMatches(std::string_view type, std::string_view wanted) {
  if (type == wanted) return true;
  if (type.empty()) return false;
  if (wanted == "Resource") return IsResourceType(type);
  if (wanted == "DomainResource") return IsDomainResourceType(type);
  if (wanted == "string") return type == "code" || type == "id" || type == "markdown";
  if (wanted == "uri") {
    return type == "url" || type == "canonical" || type == "oid" || type == "uuid";
  }
  if (wanted == "integer") return type == "positiveInt" || type == "unsignedInt";
  if (wanted == "Quantity") {
    return type == "Age" || type == "Count" || type == "Distance" || type == "Duration" ||
           type == "MoneyQuantity" || type == "SimpleQuantity";
  }
  return false;
}

bool IsKnownTypeName(std::string_view name) {
  return IsResourceType(name) || name == "Resource" || name == "DomainResource" ||
         name == "Element" || name == "BackboneElement" || r4::IsPrimitiveType(name) ||
         r4::IsComplexType(name);
}

std::string_view StringOf(const rapidjson::Value& v) {
  return std::string_view(v.GetString(), v.GetStringLength());
}

// The member `name` of object `v`, or nullptr.
const rapidjson::Value* FindMember(const rapidjson::Value& v, std::string_view name) {
  if (!v.IsObject()) return nullptr;
  for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
    if (it->name.IsString() && StringOf(it->name) == name) return &it->value;
  }
  return nullptr;
}

// The resource type named by a reference string: "Patient/123", "Patient/123/_history/2",
// "https://host/fhir/Patient/123" (last two segments, before an optional _history/<v>). Empty
// for local ("#x"), URN and other references.
std::string_view ReferencedType(std::string_view ref) {
  std::string_view segments[4];
  size_t count = 0;
  while (!ref.empty() && count < 4) {
    size_t slash = ref.rfind('/');
    std::string_view segment = slash == std::string_view::npos ? ref : ref.substr(slash + 1);
    segments[count++] = segment;
    if (slash == std::string_view::npos) break;
    ref = ref.substr(0, slash);
  }
  // segments[0] is the last segment.
  size_t id_at = 0;
  if (count >= 4 && segments[1] == "_history") id_at = 2;
  if (count < id_at + 2) return {};
  if (!IsValidId(segments[id_at])) return {};
  return StaticResourceType(segments[id_at + 1]);
}

// For resolve() followed by a type test: whether the Reference (or canonical/uri string) in
// `v` designates a resource of type `wanted`.
bool ReferenceMatches(const rapidjson::Value& v, std::string_view wanted) {
  if (IsJsonString(v)) return TypeMatches(ReferencedType(StringOf(v)), wanted);
  if (!v.IsObject()) return false;
  if (const rapidjson::Value* type = FindMember(v, "type"); type && IsJsonString(*type)) {
    if (TypeMatches(StaticResourceType(StringOf(*type)), wanted)) return true;
  }
  if (const rapidjson::Value* ref = FindMember(v, "reference"); ref && IsJsonString(*ref)) {
    return TypeMatches(ReferencedType(StringOf(*ref)), wanted);
  }
  return false;
}

// JSON member name `suffix` ("Quantity", "DateTime") is the choice suffix of type code `type`
// ("Quantity", "dateTime"): the type with its first letter upper-cased.
bool SuffixMatches(std::string_view suffix, std::string_view type) {
  if (suffix.size() != type.size() || type.empty()) return false;
  char first = type[0];
  if (first >= 'a' && first <= 'z') first = static_cast<char>(first - 'a' + 'A');
  return suffix[0] == first && suffix.substr(1) == type.substr(1);
}

bool ValuesEqual(const Node& a, const Node& b) {
  const rapidjson::Value& x = *a.value;
  const rapidjson::Value& y = *b.value;
  if (&x == &y) return true;
  if (x.IsBool() && y.IsBool()) return x.GetBool() == y.GetBool();
  // Numbers are strings with a leading NUL: they never equal a string, and two numbers are
  // compared by their text.
  if (x.IsString() && y.IsString()) return StringOf(x) == StringOf(y);
  return false;
}

// ---------------------------------------------------------------------------------------------
// Evaluation.

struct Context {
  Node root;
};

enum class Truth { kEmpty, kFalse, kTrue };

void Eval(const Expr& e, const Node& focus, const Context& ctx, NodeList& out);

// A collection as a boolean: empty stays empty, a single boolean is its value, anything else is
// true (a non-empty collection).
Truth TruthOf(const NodeList& list) {
  if (list.empty()) return Truth::kEmpty;
  if (list.size() == 1 && list[0].value->IsBool()) {
    return list[0].value->GetBool() ? Truth::kTrue : Truth::kFalse;
  }
  return Truth::kTrue;
}

Truth EvalTruth(const Expr& e, const Node& focus, const Context& ctx) {
  NodeList list;
  Eval(e, focus, ctx, list);
  return TruthOf(list);
}

// The type of the child of an element that is not a choice.
std::string_view ChildType(const r4::ElementDef& def) {
  if (!def.content_reference.empty()) return def.content_reference;
  if (def.types.size() != 1) return {};
  std::string_view type = def.types[0];
  if (type == "BackboneElement" || type == "Element") return def.path;
  return type;
}

// Calls fn for each node a JSON value yields (array members flattened), skipping values whose
// JSON kind does not fit the type.
template <typename Fn>
void EmitValues(const rapidjson::Value& v, std::string_view type, Fn&& fn) {
  const bool primitive = r4::IsPrimitiveType(type);
  const bool resource = type == "Resource" || type == "DomainResource";
  auto emit_one = [&](const rapidjson::Value& item) {
    if (primitive) {
      if (item.IsString() || item.IsBool() || item.IsNumber()) fn(Node{&item, type});
      return;
    }
    if (!item.IsObject()) return;
    if (resource) {
      // A contained resource (Bundle.entry.resource, DomainResource.contained, ...) is typed by
      // its own resourceType.
      const rapidjson::Value* rt = FindMember(item, "resourceType");
      if (rt == nullptr || !IsJsonString(*rt)) return;
      std::string_view actual = StaticResourceType(StringOf(*rt));
      if (actual.empty()) return;
      fn(Node{&item, actual});
      return;
    }
    fn(Node{&item, type});
  };
  if (v.IsArray()) {
    for (const rapidjson::Value& item : v.GetArray()) emit_one(item);
  } else {
    emit_one(v);
  }
}

// Calls fn for each child `name` of `node`.
template <typename Fn>
void ForEachChild(const Node& node, std::string_view name, Fn&& fn) {
  if (!node.value->IsObject() || node.type.empty()) return;
  // Element paths are short; build them on the stack.
  constexpr size_t kMaxPath = 256;
  char buffer[kMaxPath];
  const size_t length = node.type.size() + 1 + name.size();
  if (length + 3 > kMaxPath) return;  // no FHIR element path is this long
  std::copy(node.type.begin(), node.type.end(), buffer);
  buffer[node.type.size()] = '.';
  std::copy(name.begin(), name.end(), buffer + node.type.size() + 1);
  const r4::ElementDef* def = r4::FindElement(std::string_view(buffer, length));
  if (def != nullptr) {
    std::string_view type = ChildType(*def);
    if (type.empty()) return;
    const rapidjson::Value* value = FindMember(*node.value, name);
    if (value != nullptr) EmitValues(*value, type, fn);
    return;
  }
  std::copy_n("[x]", 3, buffer + length);
  def = r4::FindElement(std::string_view(buffer, length + 3));
  if (def == nullptr) return;
  for (auto it = node.value->MemberBegin(); it != node.value->MemberEnd(); ++it) {
    if (!it->name.IsString()) continue;
    std::string_view member = StringOf(it->name);
    if (member.size() <= name.size() || !member.starts_with(name)) continue;
    std::string_view suffix = member.substr(name.size());
    if (suffix[0] < 'A' || suffix[0] > 'Z') continue;
    for (std::string_view type : def->types) {
      if (SuffixMatches(suffix, type)) {
        EmitValues(it->value, type, fn);
        break;
      }
    }
  }
}

bool StepTypeTest(const Step& step, const Node& node) {
  return step.on_reference ? ReferenceMatches(*node.value, step.name)
                           : TypeMatches(node.type, step.name);
}

// Applies item steps [i, end) to `node`, depth first, appending the results to `out`.
void Stream(const Step* steps, size_t i, size_t end, const Node& node, const Context& ctx,
            NodeList& out) {
  if (i == end) {
    out.push_back(node);
    return;
  }
  const Step& step = steps[i];
  switch (step.kind) {
    case StepKind::kMember:
      ForEachChild(node, step.name,
                   [&](const Node& child) { Stream(steps, i + 1, end, child, ctx, out); });
      return;
    case StepKind::kTypeSelector:
      if (TypeMatches(node.type, step.name)) Stream(steps, i + 1, end, node, ctx, out);
      return;
    case StepKind::kOfType:
      if (StepTypeTest(step, node)) Stream(steps, i + 1, end, node, ctx, out);
      return;
    case StepKind::kWhere:
      if (EvalTruth(*step.criteria, node, ctx) == Truth::kTrue) {
        Stream(steps, i + 1, end, node, ctx, out);
      }
      return;
    case StepKind::kExtension: {
      const rapidjson::Value* extensions = FindMember(*node.value, "extension");
      if (extensions == nullptr || !extensions->IsArray()) return;
      for (const rapidjson::Value& ext : extensions->GetArray()) {
        const rapidjson::Value* url = FindMember(ext, "url");
        if (url != nullptr && IsJsonString(*url) && StringOf(*url) == step.name) {
          Stream(steps, i + 1, end, Node{&ext, "Extension"}, ctx, out);
        }
      }
      return;
    }
    case StepKind::kResolve:
      Stream(steps, i + 1, end, node, ctx, out);
      return;
    default:
      return;  // collection steps are applied by EvalPath
  }
}

void ApplyCollectionStep(const Step& step, const NodeList& in, NodeList& out) {
  switch (step.kind) {
    case StepKind::kFirst:
      if (!in.empty()) out.push_back(in[0]);
      return;
    case StepKind::kIndex:
      if (step.index < in.size()) out.push_back(in[step.index]);
      return;
    case StepKind::kExists:
      out.push_back(BoolNode(!in.empty()));
      return;
    case StepKind::kEmpty:
      out.push_back(BoolNode(in.empty()));
      return;
    case StepKind::kIs: {
      if (in.empty()) return;
      bool all = true;
      for (const Node& node : in) all = all && StepTypeTest(step, node);
      out.push_back(BoolNode(all));
      return;
    }
    default:
      return;
  }
}

void EvalPath(const Expr& e, const Node& focus, const Context& ctx, NodeList& out) {
  NodeList a;
  NodeList b;
  NodeList* cur = &a;
  NodeList* spare = &b;
  if (e.left) {
    Eval(*e.left, focus, ctx, a);
  } else {
    a.push_back(focus);
  }
  const Step* steps = e.steps.data();
  const size_t n = e.steps.size();
  size_t i = 0;
  for (;;) {
    size_t j = i;
    while (j < n && !IsCollectionStep(steps[j].kind)) ++j;
    if (j == n) {
      for (const Node& node : *cur) Stream(steps, i, n, node, ctx, out);
      return;
    }
    if (j > i) {
      spare->clear();
      for (const Node& node : *cur) Stream(steps, i, j, node, ctx, *spare);
      std::swap(cur, spare);
    }
    spare->clear();
    ApplyCollectionStep(steps[j], *cur, *spare);
    std::swap(cur, spare);
    i = j + 1;
  }
}

void EvalUnion(const Expr& e, const Node& focus, const Context& ctx, NodeList& out) {
  NodeList all;
  Eval(*e.left, focus, ctx, all);
  Eval(*e.right, focus, ctx, all);
  // Union removes duplicates: the same node reached by both sides.
  constexpr size_t kSmall = 32;
  if (all.size() <= kSmall) {
    for (size_t i = 0; i < all.size(); ++i) {
      bool seen = false;
      for (size_t k = 0; k < i && !seen; ++k) seen = all[k].value == all[i].value;
      if (!seen) out.push_back(all[i]);
    }
    return;
  }
  std::unordered_set<const rapidjson::Value*> seen;
  seen.reserve(all.size());
  for (const Node& node : all) {
    if (seen.insert(node.value).second) out.push_back(node);
  }
}

void Eval(const Expr& e, const Node& focus, const Context& ctx, NodeList& out) {
  switch (e.kind) {
    case ExprKind::kPath:
      EvalPath(e, focus, ctx, out);
      return;
    case ExprKind::kUnion:
      EvalUnion(e, focus, ctx, out);
      return;
    case ExprKind::kAnd: {
      Truth l = EvalTruth(*e.left, focus, ctx);
      if (l == Truth::kFalse) {
        out.push_back(BoolNode(false));
        return;
      }
      Truth r = EvalTruth(*e.right, focus, ctx);
      if (r == Truth::kFalse) {
        out.push_back(BoolNode(false));
      } else if (l == Truth::kTrue && r == Truth::kTrue) {
        out.push_back(BoolNode(true));
      }
      return;
    }
    case ExprKind::kOr: {
      Truth l = EvalTruth(*e.left, focus, ctx);
      if (l == Truth::kTrue) {
        out.push_back(BoolNode(true));
        return;
      }
      Truth r = EvalTruth(*e.right, focus, ctx);
      if (r == Truth::kTrue) {
        out.push_back(BoolNode(true));
      } else if (l == Truth::kFalse && r == Truth::kFalse) {
        out.push_back(BoolNode(false));
      }
      return;
    }
    case ExprKind::kEqual:
    case ExprKind::kNotEqual: {
      NodeList l;
      NodeList r;
      Eval(*e.left, focus, ctx, l);
      if (l.empty()) return;
      Eval(*e.right, focus, ctx, r);
      if (r.empty()) return;
      bool equal = l.size() == r.size();
      for (size_t i = 0; equal && i < l.size(); ++i) equal = ValuesEqual(l[i], r[i]);
      out.push_back(BoolNode(e.kind == ExprKind::kEqual ? equal : !equal));
      return;
    }
    case ExprKind::kString:
      out.push_back(Node{&e.literal, kStringType});
      return;
    case ExprKind::kBool:
      out.push_back(BoolNode(e.bool_value));
      return;
    case ExprKind::kResource:
      out.push_back(ctx.root);
      return;
    case ExprKind::kThis:
      out.push_back(focus);
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// Lexer and parser.

enum class Tok {
  kEnd,
  kIdent,    // text; quoted when written `like this`
  kString,   // text: the unescaped value
  kNumber,   // text
  kPercent,  // %name; text: name
  kDollar,   // $name; text: name
  kDot,
  kLParen,
  kRParen,
  kLBracket,
  kRBracket,
  kPipe,
  kEq,
  kNe,
  kComma,
  kOperator,  // an operator outside the subset; text
};

struct Token {
  Tok kind = Tok::kEnd;
  std::string text;
  bool quoted = false;
  size_t pos = 0;
};

constexpr int kMaxNesting = 32;
// Bounds the size of the tree, hence the depth of recursion when evaluating it (the longest R4
// search expression has under 400 tokens).
constexpr size_t kMaxTokens = 1024;

bool IsIdentStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || IsDigit(c); }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void AppendUtf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Keywords that are operators of FHIRPath outside the subset.
bool IsUnsupportedOperatorWord(std::string_view word) {
  return word == "xor" || word == "implies" || word == "div" || word == "mod" || word == "in" ||
         word == "contains";
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Result<ExprPtr> Run() {
    HYGIE_RETURN_IF_ERROR(Lex());
    ExprPtr root;
    HYGIE_RETURN_IF_ERROR(ParseOr(0, root));
    if (Peek().kind != Tok::kEnd) return Unexpected(Peek());
    return root;
  }

 private:
  Status Error(size_t pos, std::string_view what) const {
    return InvalidArgument("FHIRPath: " + std::string(what) + " (at offset " + std::to_string(pos) +
                           ")");
  }

  Status Unexpected(const Token& t) const {
    switch (t.kind) {
      case Tok::kEnd:
        return Error(t.pos, "unexpected end of expression");
      case Tok::kOperator:
        return Error(t.pos, "operator '" + t.text + "' is not supported");
      case Tok::kIdent:
        if (!t.quoted && IsUnsupportedOperatorWord(t.text)) {
          return Error(t.pos, "operator '" + t.text + "' is not supported");
        }
        return Error(t.pos, "unexpected '" + t.text + "'");
      default:
        return Error(t.pos, "unexpected '" + std::string(text_.substr(t.pos, 1)) + "'");
    }
  }

  Status Lex() {
    size_t i = 0;
    const size_t n = text_.size();
    while (i < n) {
      const char c = text_[i];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        ++i;
        continue;
      }
      Token t;
      t.pos = i;
      if (IsIdentStart(c)) {
        size_t j = i;
        while (j < n && IsIdentChar(text_[j])) ++j;
        t.kind = Tok::kIdent;
        t.text = std::string(text_.substr(i, j - i));
        i = j;
      } else if (c == '`') {
        size_t j = text_.find('`', i + 1);
        if (j == std::string_view::npos) return Error(i, "unterminated `identifier`");
        if (j == i + 1) return Error(i, "empty `identifier`");
        t.kind = Tok::kIdent;
        t.quoted = true;
        t.text = std::string(text_.substr(i + 1, j - i - 1));
        i = j + 1;
      } else if (c == '\'') {
        HYGIE_RETURN_IF_ERROR(LexString(i, t.text));
        t.kind = Tok::kString;
      } else if (IsDigit(c)) {
        size_t j = i;
        while (j < n && IsDigit(text_[j])) ++j;
        if (j + 1 < n && text_[j] == '.' && IsDigit(text_[j + 1])) {
          ++j;
          while (j < n && IsDigit(text_[j])) ++j;
        }
        t.kind = Tok::kNumber;
        t.text = std::string(text_.substr(i, j - i));
        i = j;
      } else if (c == '%' || c == '$') {
        size_t j = i + 1;
        while (j < n && IsIdentChar(text_[j])) ++j;
        if (j == i + 1) return Error(i, std::string("expected a name after '") + c + "'");
        t.kind = c == '%' ? Tok::kPercent : Tok::kDollar;
        t.text = std::string(text_.substr(i + 1, j - i - 1));
        i = j;
      } else if (c == '!' && i + 1 < n && text_[i + 1] == '=') {
        t.kind = Tok::kNe;
        i += 2;
      } else if (c == '!' && i + 1 < n && text_[i + 1] == '~') {
        t.kind = Tok::kOperator;
        t.text = "!~";
        i += 2;
      } else if ((c == '<' || c == '>') && i + 1 < n && text_[i + 1] == '=') {
        t.kind = Tok::kOperator;
        t.text = std::string(text_.substr(i, 2));
        i += 2;
      } else {
        switch (c) {
          case '.':
            t.kind = Tok::kDot;
            break;
          case '(':
            t.kind = Tok::kLParen;
            break;
          case ')':
            t.kind = Tok::kRParen;
            break;
          case '[':
            t.kind = Tok::kLBracket;
            break;
          case ']':
            t.kind = Tok::kRBracket;
            break;
          case '|':
            t.kind = Tok::kPipe;
            break;
          case '=':
            t.kind = Tok::kEq;
            break;
          case ',':
            t.kind = Tok::kComma;
            break;
          case '+':
          case '-':
          case '*':
          case '/':
          case '&':
          case '<':
          case '>':
          case '~':
          case '{':
          case '}':
            t.kind = Tok::kOperator;
            t.text = std::string(1, c);
            break;
          default:
            return Error(i, "unexpected character");
        }
        ++i;
      }
      if (tokens_.size() >= kMaxTokens) return Error(t.pos, "expression too long");
      tokens_.push_back(std::move(t));
    }
    Token end;
    end.pos = n;
    tokens_.push_back(std::move(end));
    return Status::Ok();
  }

  Status LexString(size_t& i, std::string& out) {
    const size_t start = i;
    ++i;
    while (i < text_.size()) {
      char c = text_[i];
      if (c == '\'') {
        ++i;
        return Status::Ok();
      }
      if (c != '\\') {
        out += c;
        ++i;
        continue;
      }
      if (i + 1 >= text_.size()) break;
      char e = text_[i + 1];
      i += 2;
      switch (e) {
        case '\'':
        case '"':
        case '`':
        case '\\':
        case '/':
          out += e;
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          uint32_t cp = 0;
          for (int k = 0; k < 4; ++k) {
            int h = i < text_.size() ? HexValue(text_[i]) : -1;
            if (h < 0) return Error(i, "invalid \\u escape");
            cp = cp * 16 + static_cast<uint32_t>(h);
            ++i;
          }
          if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) return Error(i, "invalid \\u escape");
          AppendUtf8(cp, out);
          break;
        }
        default:
          return Error(i - 2, "invalid escape in string");
      }
    }
    return Error(start, "unterminated string");
  }

  const Token& Peek() const { return tokens_[pos_]; }
  const Token& Next() {
    const Token& t = tokens_[pos_];
    if (t.kind != Tok::kEnd) ++pos_;
    return t;
  }
  Status Expect(Tok kind) {
    if (Peek().kind != kind) return Unexpected(Peek());
    Next();
    return Status::Ok();
  }
  bool PeekWord(std::string_view word) const {
    return Peek().kind == Tok::kIdent && !Peek().quoted && Peek().text == word;
  }

  static ExprPtr MakeBinary(ExprKind kind, ExprPtr left, ExprPtr right) {
    auto e = std::make_unique<Expr>(kind);
    e->left = std::move(left);
    e->right = std::move(right);
    return e;
  }

  // `e` as a path to which steps can be appended.
  static Expr& AsPath(ExprPtr& e) {
    if (e->kind != ExprKind::kPath) {
      auto path = std::make_unique<Expr>(ExprKind::kPath);
      path->left = std::move(e);
      e = std::move(path);
    }
    return *e;
  }

  Status ParseOr(int depth, ExprPtr& out) {
    HYGIE_RETURN_IF_ERROR(ParseAnd(depth, out));
    while (PeekWord("or")) {
      Next();
      ExprPtr right;
      HYGIE_RETURN_IF_ERROR(ParseAnd(depth, right));
      out = MakeBinary(ExprKind::kOr, std::move(out), std::move(right));
    }
    return Status::Ok();
  }

  Status ParseAnd(int depth, ExprPtr& out) {
    HYGIE_RETURN_IF_ERROR(ParseEquality(depth, out));
    while (PeekWord("and")) {
      Next();
      ExprPtr right;
      HYGIE_RETURN_IF_ERROR(ParseEquality(depth, right));
      out = MakeBinary(ExprKind::kAnd, std::move(out), std::move(right));
    }
    return Status::Ok();
  }

  Status ParseEquality(int depth, ExprPtr& out) {
    HYGIE_RETURN_IF_ERROR(ParseUnion(depth, out));
    while (Peek().kind == Tok::kEq || Peek().kind == Tok::kNe) {
      ExprKind kind = Next().kind == Tok::kEq ? ExprKind::kEqual : ExprKind::kNotEqual;
      ExprPtr right;
      HYGIE_RETURN_IF_ERROR(ParseUnion(depth, right));
      out = MakeBinary(kind, std::move(out), std::move(right));
    }
    return Status::Ok();
  }

  Status ParseUnion(int depth, ExprPtr& out) {
    HYGIE_RETURN_IF_ERROR(ParseTypeOperation(depth, out));
    while (Peek().kind == Tok::kPipe) {
      Next();
      ExprPtr right;
      HYGIE_RETURN_IF_ERROR(ParseTypeOperation(depth, right));
      out = MakeBinary(ExprKind::kUnion, std::move(out), std::move(right));
    }
    return Status::Ok();
  }

  Status ParseTypeOperation(int depth, ExprPtr& out) {
    HYGIE_RETURN_IF_ERROR(ParseTerm(depth, out));
    while (PeekWord("is") || PeekWord("as")) {
      const bool is = Next().text == "is";
      Step step;
      step.kind = is ? StepKind::kIs : StepKind::kOfType;
      HYGIE_RETURN_IF_ERROR(ParseTypeSpecifier(step.name));
      Expr& path = AsPath(out);
      step.on_reference = path.resolved;
      path.steps.push_back(std::move(step));
    }
    return Status::Ok();
  }

  Status ParseTypeSpecifier(std::string& out) {
    const Token& first = Next();
    if (first.kind != Tok::kIdent) return Unexpected(first);
    std::string name = first.text;
    if (Peek().kind == Tok::kDot && tokens_[pos_ + 1].kind == Tok::kIdent) {
      if (name == "System") {
        return Error(first.pos, "System types are not supported (FHIR types only)");
      }
      if (name != "FHIR") return Error(first.pos, "unknown type namespace '" + name + "'");
      Next();
      name = Next().text;
    }
    if (!IsKnownTypeName(name)) return Error(first.pos, "unknown type '" + name + "'");
    out = std::move(name);
    return Status::Ok();
  }

  Status ParseTerm(int depth, ExprPtr& out) {
    if (depth > kMaxNesting) return Error(Peek().pos, "expression nested too deeply");
    const Token& t = Next();
    switch (t.kind) {
      case Tok::kLParen:
        HYGIE_RETURN_IF_ERROR(ParseOr(depth + 1, out));
        HYGIE_RETURN_IF_ERROR(Expect(Tok::kRParen));
        break;
      case Tok::kString:
        if (t.text.find('\0') != std::string::npos) return Error(t.pos, "NUL in string");
        out = std::make_unique<Expr>(ExprKind::kString);
        out->text = t.text;
        out->literal.SetString(rapidjson::StringRef(out->text.data(), out->text.size()));
        break;
      case Tok::kNumber:
        return Error(t.pos, "number literals are not supported (only as [index])");
      case Tok::kPercent:
        if (t.text != "resource" && t.text != "rootResource") {
          return Error(t.pos, "%" + t.text + " is not supported");
        }
        out = std::make_unique<Expr>(ExprKind::kResource);
        break;
      case Tok::kDollar:
        if (t.text != "this") return Error(t.pos, "$" + t.text + " is not supported");
        out = std::make_unique<Expr>(ExprKind::kThis);
        break;
      case Tok::kIdent:
        if (!t.quoted && (t.text == "true" || t.text == "false")) {
          out = std::make_unique<Expr>(ExprKind::kBool);
          out->bool_value = t.text == "true";
          break;
        }
        if (!t.quoted && (t.text == "and" || t.text == "or" || t.text == "is" || t.text == "as" ||
                          IsUnsupportedOperatorWord(t.text))) {
          return Unexpected(t);
        }
        out = std::make_unique<Expr>(ExprKind::kPath);
        if (Peek().kind == Tok::kLParen) {
          HYGIE_RETURN_IF_ERROR(ParseFunction(t, depth, *out));
        } else if (!t.quoted &&
                   (IsResourceType(t.text) || t.text == "Resource" || t.text == "DomainResource")) {
          Step step;
          step.kind = StepKind::kTypeSelector;
          step.name = t.text;
          out->steps.push_back(std::move(step));
        } else {
          HYGIE_RETURN_IF_ERROR(AddMember(t, *out));
        }
        break;
      default:
        return Unexpected(t);
    }
    for (;;) {
      if (Peek().kind == Tok::kDot) {
        Next();
        const Token& name = Next();
        if (name.kind != Tok::kIdent) return Unexpected(name);
        Expr& path = AsPath(out);
        if (Peek().kind == Tok::kLParen) {
          HYGIE_RETURN_IF_ERROR(ParseFunction(name, depth, path));
        } else {
          HYGIE_RETURN_IF_ERROR(AddMember(name, path));
        }
      } else if (Peek().kind == Tok::kLBracket) {
        Next();
        const Token& number = Next();
        size_t index = 0;
        const char* end = number.text.data() + number.text.size();
        if (number.kind != Tok::kNumber) {
          return Error(number.pos, "an index must be a non-negative integer");
        }
        auto [ptr, ec] = std::from_chars(number.text.data(), end, index);
        if (ec != std::errc() || ptr != end) {
          return Error(number.pos, "an index must be a non-negative integer below 2^64");
        }
        HYGIE_RETURN_IF_ERROR(Expect(Tok::kRBracket));
        Step step;
        step.kind = StepKind::kIndex;
        step.index = index;
        AsPath(out).steps.push_back(std::move(step));
      } else {
        return Status::Ok();
      }
    }
  }

  Status AddMember(const Token& name, Expr& path) {
    if (path.resolved) {
      return Error(name.pos, "only a type test may follow resolve(), not '" + name.text + "'");
    }
    Step step;
    step.kind = StepKind::kMember;
    step.name = name.text;
    path.steps.push_back(std::move(step));
    return Status::Ok();
  }

  // Parses `(args)` of the function named by `name` and appends its step to `path`.
  Status ParseFunction(const Token& name, int depth, Expr& path) {
    const std::string& f = name.text;
    HYGIE_RETURN_IF_ERROR(Expect(Tok::kLParen));
    Step step;
    if (f == "where") {
      if (path.resolved) return Error(name.pos, "where() after resolve() is not supported");
      if (Peek().kind == Tok::kRParen) return Error(name.pos, "where() needs criteria");
      step.kind = StepKind::kWhere;
      if (depth + 1 > kMaxNesting) return Error(name.pos, "expression nested too deeply");
      HYGIE_RETURN_IF_ERROR(ParseOr(depth + 1, step.criteria));
    } else if (f == "exists" || f == "empty" || f == "first" || f == "resolve") {
      if (Peek().kind != Tok::kRParen) {
        return Error(name.pos, f + "() with arguments is not supported");
      }
      step.kind = f == "exists"  ? StepKind::kExists
                  : f == "empty" ? StepKind::kEmpty
                  : f == "first" ? StepKind::kFirst
                                 : StepKind::kResolve;
      if (step.kind == StepKind::kResolve) path.resolved = true;
    } else if (f == "extension") {
      if (path.resolved) return Error(name.pos, "extension() after resolve() is not supported");
      const Token& url = Next();
      if (url.kind != Tok::kString) {
        return Error(url.pos, "extension() takes a string literal (the extension's url)");
      }
      step.kind = StepKind::kExtension;
      step.name = url.text;
    } else if (f == "ofType" || f == "as" || f == "is") {
      step.kind = f == "is" ? StepKind::kIs : StepKind::kOfType;
      HYGIE_RETURN_IF_ERROR(ParseTypeSpecifier(step.name));
      step.on_reference = path.resolved;
    } else {
      return Error(name.pos, "function '" + f + "' is not supported");
    }
    HYGIE_RETURN_IF_ERROR(Expect(Tok::kRParen));
    path.steps.push_back(std::move(step));
    return Status::Ok();
  }

  std::string_view text_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
};

}  // namespace

struct Expression::Impl {
  std::string text;
  ExprPtr root;
};

Expression::Expression(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Expression::Expression(Expression&&) noexcept = default;
Expression& Expression::operator=(Expression&&) noexcept = default;
Expression::~Expression() = default;

Result<Expression> Expression::Parse(std::string_view text) {
  Parser parser(text);
  HYGIE_ASSIGN_OR_RETURN(ExprPtr root, parser.Run());
  auto impl = std::make_unique<Impl>();
  impl->text = std::string(text);
  impl->root = std::move(root);
  return Expression(std::move(impl));
}

std::vector<Node> Expression::Evaluate(const rapidjson::Value& resource,
                                       std::string_view resource_type) const {
  std::vector<Node> result;
  if (impl_ == nullptr || !resource.IsObject()) return result;
  const std::string_view type = StaticResourceType(resource_type);
  if (type.empty()) return result;
  const Context ctx{Node{&resource, type}};
  NodeList out;
  Eval(*impl_->root, ctx.root, ctx, out);
  result.assign(out.begin(), out.end());
  return result;
}

const std::string& Expression::text() const { return impl_->text; }

}  // namespace hygie::fhir::fhirpath
