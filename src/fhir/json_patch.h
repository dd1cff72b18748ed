#pragma once
// JSON Patch (RFC 6902) over the JSON documents of fhir/resource.h, with JSON Pointer (RFC 6901)
// paths. Stateless functions; thread-compatible (a target must not be shared while patched).

#include <rapidjson/document.h>

#include "core/status.h"

namespace hygie::fhir {

// Applies patch, a JSON array of operation objects ({"op": "add" | "remove" | "replace" |
// "move" | "copy" | "test", "path": pointer, "from": pointer, "value": any}), to target, in
// order. Pointers follow RFC 6901: "" is the whole document, "~1" is '/', "~0" is '~', array
// indices are decimal without leading zeros, and "-" (past the last element) is accepted only
// as the path of add, move and copy. Members of an operation other than those it uses are
// ignored, as RFC 6902 says.
//
// Numbers follow the representation of fhir/resource.h: a value of the patch that is a number
// (kept as text, or a native RapidJSON number, which is turned into its text) is stored in
// target kept as text; `test` compares numbers by their text, since a FHIR decimal's precision
// is significant (1.50 is not 1.5), and members of objects regardless of order.
//
// Atomic: on success every operation has been applied; on failure target is unchanged and the
// status is kInvalidArgument, its message naming the index of the failing operation (from 0),
// its op and the reason, e.g. "JSON Patch operation 2 (test): value differs at /name/0/family".
// The message never echoes patch values, and echoes a pointer only when it is made of ASCII
// letters, digits and "/-_.~".
Status ApplyJsonPatch(const rapidjson::Value& patch, rapidjson::Document& target);

}  // namespace hygie::fhir
