#pragma once
// The stable messages with which Resource::Parse refuses a body, and the Hygie details code
// (OperationOutcome.issue.details.coding.code) each one maps to. The messages never echo the
// body except schema words (member names, resource type names) that are plain ASCII letters.
// Constants and a pure function; thread-safe.

#include <string_view>

#include "core/status.h"

namespace hygie::fhir {

// Message prefixes (each Resource::Parse error message starts with exactly one of them).
// "body is not valid JSON at offset N: <RapidJSON error text>"
inline constexpr std::string_view kMsgJsonSyntax = "body is not valid JSON at offset ";
// "body is not valid UTF-8"
inline constexpr std::string_view kMsgUtf8 = "body is not valid UTF-8";
// "string contains an unpaired UTF-16 surrogate escape" (a lone surrogate is not Unicode)
inline constexpr std::string_view kMsgSurrogate =
    "string contains an unpaired UTF-16 surrogate escape";
// "JSON nested deeper than N levels"
inline constexpr std::string_view kMsgDepth = "JSON nested deeper than ";
// "duplicate member name 'x'" or, when the name is not plain letters, "duplicate member name"
inline constexpr std::string_view kMsgDuplicate = "duplicate member name";
// "string contains a control character (only tab, CR and LF are allowed)"
inline constexpr std::string_view kMsgControl = "string contains a control character";
// "resource is not a JSON object"
inline constexpr std::string_view kMsgNotObject = "resource is not a JSON object";
// "resource has no resourceType"
inline constexpr std::string_view kMsgNoType = "resource has no resourceType";
// "resourceType is not a string"
inline constexpr std::string_view kMsgTypeNotString = "resourceType is not a string";
// "unknown resource type 'X'" or, when X is not [A-Za-z]{1,64}, "unknown resource type"
inline constexpr std::string_view kMsgUnknownType = "unknown resource type";

// The stable details code of a Status returned by Resource::Parse:
//   HYGIE-JSON-SYNTAX, HYGIE-JSON-UTF8 (invalid UTF-8 and unpaired surrogate escapes),
//   HYGIE-JSON-DEPTH, HYGIE-JSON-DUPLICATE-KEY, HYGIE-JSON-CONTROL-CHAR,
//   HYGIE-FHIR-NOT-OBJECT, HYGIE-FHIR-NO-RESOURCE-TYPE, HYGIE-FHIR-BAD-RESOURCE-TYPE,
//   HYGIE-FHIR-UNKNOWN-RESOURCE-TYPE;
// "" for any other status (including ok).
std::string_view ParseErrorDetailsCode(const Status& status);

}  // namespace hygie::fhir
