// Batch and transaction bundles (POST /fhir/{tenant}/).
//
// A batch runs its entries one by one, each with its own outcome. A transaction is all or
// nothing: ids are chosen first for the entries that create resources (urn:uuid: full URLs are
// mapped to Type/id and every reference to them in the bundle is rewritten), conditional
// creates (ifNoneExist) are resolved, then the entries run in the order FHIR prescribes (DELETE,
// POST, PUT/PATCH, then GET/HEAD) with their writes gathered into one store batch, committed at
// once (one group commit); any failure before the commit answers the transaction with that
// entry's error and nothing is written. Reads run after the commit and see its writes.

#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/string_body.hpp>
#include <unordered_map>

#include "api/fhir_internal.h"
#include "crypto/primitives.h"
#include "fhir/resource.h"

namespace hygie::api {

namespace asio = boost::asio;
using http::Request;
using http::Response;

namespace {

struct EntryInput {
  size_t index = 0;
  bhttp::verb method = bhttp::verb::unknown;
  std::string url;  // relative to the tenant's base: "Patient", "Patient/1", "Patient?x=y"
  std::string full_url;
  const rapidjson::Value* resource = nullptr;
  std::string if_none_exist;
  std::string if_match;
  std::string if_none_match;
  // Filled while processing.
  std::string assigned_id;
  bool skip_create = false;  // a conditional create that matched
  Response response;
};

std::string StatusLine(const Response& res) {
  return std::to_string(res.result_int()) + " " + std::string(res.reason());
}

bool IsError(const Response& res) { return res.result_int() >= 400; }

std::string_view MemberString(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject()) return {};
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !fhir::IsJsonString(it->value)) return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}

// Rewrites every "reference" equal to a mapped urn:uuid. Returns the first unresolved urn:uuid
// reference, if any.
std::string RewriteReferences(rapidjson::Value& v,
                              const std::unordered_map<std::string, std::string>& map,
                              rapidjson::Document::AllocatorType& a) {
  std::string unresolved;
  if (v.IsObject()) {
    for (auto& m : v.GetObject()) {
      if (std::string_view(m.name.GetString()) == "reference" && fhir::IsJsonString(m.value)) {
        std::string ref(m.value.GetString(), m.value.GetStringLength());
        if (ref.starts_with("urn:uuid:") || ref.starts_with("urn:oid:")) {
          auto it = map.find(ref);
          if (it == map.end()) {
            if (unresolved.empty()) unresolved = ref;
          } else {
            m.value.SetString(it->second.data(),
                              static_cast<rapidjson::SizeType>(it->second.size()), a);
          }
        }
      } else {
        std::string u = RewriteReferences(m.value, map, a);
        if (unresolved.empty()) unresolved = std::move(u);
      }
    }
  } else if (v.IsArray()) {
    for (auto& e : v.GetArray()) {
      std::string u = RewriteReferences(e, map, a);
      if (unresolved.empty()) unresolved = std::move(u);
    }
  }
  return unresolved;
}

int MethodOrder(bhttp::verb m) {
  switch (m) {
    case bhttp::verb::delete_:
      return 0;
    case bhttp::verb::post:
      return 1;
    case bhttp::verb::put:
    case bhttp::verb::patch:
      return 2;
    default:
      return 3;
  }
}

Response EntryError(size_t index, int status, std::string_view code, std::string_view message,
                    std::string_view details = "HYGIE-BUNDLE-ENTRY") {
  return Outcome(status, code, "entry " + std::to_string(index) + ": " + std::string(message),
                 details);
}

}  // namespace

asio::awaitable<Response> FhirApi::Bundle(Call& call) {
  {
    auto ct = call.req.find(bhttp::field::content_type);
    std::string_view mime = ct == call.req.end() ? "" : ct->value();
    mime = mime.substr(0, mime.find(';'));
    while (!mime.empty() && mime.back() == ' ') mime.remove_suffix(1);
    if (!mime.empty() && mime != "application/fhir+json" && mime != "application/json") {
      co_return Outcome(415, "not-supported", "content type must be application/fhir+json",
                        "HYGIE-MEDIA-TYPE");
    }
  }
  auto parsed = fhir::Resource::Parse(call.req.body(), options_.parse_limits);
  if (!parsed.ok()) {
    co_return Outcome(400, "structure", parsed.status().message(), "HYGIE-BODY-INVALID");
  }
  fhir::Resource bundle = std::move(parsed).value();
  if (bundle.resource_type() != "Bundle") {
    co_return Outcome(400, "invalid", "POST on the base takes a batch or transaction Bundle",
                      "HYGIE-BUNDLE-TYPE");
  }
  rapidjson::Document& doc = bundle.doc();
  std::string_view type = MemberString(doc, "type");
  const bool transaction = type == "transaction";
  if (transaction || type == "batch") call.interaction = std::string(type);
  if (!transaction && type != "batch") {
    co_return Outcome(400, "invalid", "Bundle.type must be batch or transaction",
                      "HYGIE-BUNDLE-TYPE");
  }
  std::vector<EntryInput> entries;
  auto entry_member = doc.FindMember("entry");
  if (entry_member != doc.MemberEnd()) {
    if (!entry_member->value.IsArray()) {
      co_return Outcome(400, "structure", "Bundle.entry must be an array", "HYGIE-BUNDLE-ENTRY");
    }
    if (entry_member->value.Size() > options_.max_bundle_entries) {
      co_return Outcome(
          413, "too-costly",
          "a bundle holds at most " + std::to_string(options_.max_bundle_entries) + " entries",
          "HYGIE-BUNDLE-TOO-LARGE");
    }
    size_t index = 0;
    for (auto& e : entry_member->value.GetArray()) {
      EntryInput in;
      in.index = index++;
      if (!e.IsObject()) {
        co_return EntryError(in.index, 400, "structure", "an entry must be an object");
      }
      auto req = e.FindMember("request");
      if (req == e.MemberEnd() || !req->value.IsObject()) {
        co_return EntryError(in.index, 400, "required", "entry.request is required");
      }
      std::string_view method = MemberString(req->value, "method");
      in.method = bhttp::string_to_verb(method);
      if (in.method != bhttp::verb::get && in.method != bhttp::verb::head &&
          in.method != bhttp::verb::post && in.method != bhttp::verb::put &&
          in.method != bhttp::verb::delete_ && in.method != bhttp::verb::patch) {
        co_return EntryError(in.index, 400, "value", "entry.request.method is not valid");
      }
      std::string url(MemberString(req->value, "url"));
      // An absolute URL on this server's base is taken as relative.
      if (url.starts_with(call.base + "/")) url = url.substr(call.base.size() + 1);
      while (url.starts_with("/")) url.erase(0, 1);
      if (url.empty() || url.find("://") != std::string::npos) {
        co_return EntryError(in.index, 400, "value",
                             "entry.request.url must be relative to this server's base");
      }
      in.url = std::move(url);
      in.full_url = std::string(MemberString(e, "fullUrl"));
      in.if_none_exist = std::string(MemberString(req->value, "ifNoneExist"));
      in.if_match = std::string(MemberString(req->value, "ifMatch"));
      in.if_none_match = std::string(MemberString(req->value, "ifNoneMatch"));
      auto res = e.FindMember("resource");
      if (res != e.MemberEnd()) in.resource = &res->value;
      bool needs_body = in.method == bhttp::verb::post || in.method == bhttp::verb::put ||
                        in.method == bhttp::verb::patch;
      if (needs_body && in.resource == nullptr) {
        co_return EntryError(in.index, 400, "required",
                             "entry.resource is required for " + std::string(method));
      }
      entries.push_back(std::move(in));
    }
  }

  // Runs one entry through the router as if it were a request of its own.
  auto run = [&](EntryInput& in, storage::WriteBatch* collect) -> asio::awaitable<Response> {
    Request req{in.method, "/fhir/" + call.tenant + "/" + in.url, 11};
    if (in.resource != nullptr) {
      if (in.method == bhttp::verb::patch) {
        // A Binary with a JSON Patch, as FHIR transports patches in bundles.
        std::string_view data = MemberString(*in.resource, "data");
        auto decoded = crypto::Base64Decode(data);
        if (!decoded.ok()) {
          co_return EntryError(in.index, 400, "invalid",
                               "a PATCH entry carries a Binary whose data is a JSON Patch");
        }
        req.body().assign(decoded->begin(), decoded->end());
        req.set(bhttp::field::content_type, "application/json-patch+json");
      } else {
        // The entry's resource is handed over parsed (Call::body_value), not as text.
        req.set(bhttp::field::content_type, "application/fhir+json");
      }
    }
    if (!in.if_none_exist.empty()) req.set("If-None-Exist", in.if_none_exist);
    if (!in.if_match.empty()) req.set(bhttp::field::if_match, in.if_match);
    if (!in.if_none_match.empty()) req.set(bhttp::field::if_none_match, in.if_none_match);
    // The bundle's own Prefer (return=minimal, return=OperationOutcome) applies to its entries.
    auto prefer = call.req.find("Prefer");
    req.set("Prefer", prefer != call.req.end() ? std::string(prefer->value())
                                               : std::string("return=representation"));
    Call child{req, call.ctx, call.base, call.tenant};
    if (!ParseTarget(req.target(), &child.segments, &child.params)) {
      co_return EntryError(in.index, 400, "value", "entry.request.url is not a valid URL");
    }
    child.segments.erase(child.segments.begin(), child.segments.begin() + 2);
    if (!child.segments.empty() && child.segments.back().empty()) child.segments.pop_back();
    child.claims = call.claims;
    child.scopes = call.scopes;
    child.keys = call.keys;
    child.hasher = call.hasher;
    child.store = call.store;
    child.collect = collect;
    child.audit = call.audit;
    child.assigned_id = in.assigned_id;
    if (in.resource != nullptr && in.method != bhttp::verb::patch) child.body_value = in.resource;
    if (child.segments.empty()) {
      co_return EntryError(in.index, 400, "not-supported", "a bundle cannot hold a bundle");
    }
    co_return co_await Route(child);
  };

  auto entry_out = [&](const Response& res) {
    fhir::BundleWriter::Entry out;
    out.response_status = StatusLine(res);
    auto etag = res.find(bhttp::field::etag);
    if (etag != res.end()) out.response_etag = std::string(etag->value());
    auto loc = res.find(bhttp::field::location);
    if (loc != res.end()) out.response_location = std::string(loc->value());
    const std::string& body = res.body();
    if (!body.empty()) {
      if (IsError(res) || body.find("\"resourceType\":\"OperationOutcome\"") == 1) {
        if (IsError(res)) {
          out.response_outcome_json = body;
        } else {
          out.resource_json = body;
        }
      } else {
        out.resource_json = body;
      }
    }
    // The entry's full URL: from the Location of a write, else from the resource read.
    if (!out.response_location.empty()) {
      std::string_view loc = out.response_location;
      out.full_url = std::string(loc.substr(0, loc.find("/_history/")));
    } else if (!out.resource_json.empty()) {
      auto parsed = fhir::Resource::Parse(out.resource_json);
      if (parsed.ok() && parsed->id()) {
        out.full_url = call.base + "/" + std::string(parsed->resource_type()) + "/" +
                       std::string(*parsed->id());
      }
    }
    return out;
  };

  if (!transaction) {
    fhir::BundleWriter writer("batch-response", crypto::RandomId(),
                              FormatInstant(clock_.NowMicros()));
    for (EntryInput& in : entries) {
      Response res = co_await run(in, nullptr);
      writer.AddEntry(entry_out(res));
    }
    co_return MakeResponse(200, writer.Finish());
  }

  // Transaction. 1. Ids for creates, and the urn:uuid map.
  std::unordered_map<std::string, std::string> map;
  for (EntryInput& in : entries) {
    bool create = in.method == bhttp::verb::post;
    bool put = in.method == bhttp::verb::put;
    std::string type = in.url.substr(0, in.url.find_first_of("/?"));
    if (create) {
      if (!fhir::IsResourceType(type) || in.url != type) {
        co_return EntryError(in.index, 400, "value", "a POST entry's url is a resource type");
      }
      if (!in.if_none_exist.empty()) {
        std::string_view q = in.if_none_exist;
        if (size_t p = q.find('?'); p != std::string_view::npos) q = q.substr(p + 1);
        if (!call.scopes.Allows(type, auth::Permission::kSearch)) {
          co_return EntryError(in.index, 403, "forbidden",
                               "ifNoneExist needs the search permission on " + type,
                               "HYGIE-SCOPE-DENIED");
        }
        auto ids = MatchIds(call, type, q, 1);
        if (!ids.ok()) {
          co_return EntryError(in.index, 400, "invalid", ids.status().message(), "HYGIE-CONDITION");
        }
        if (ids->size() > 1) {
          co_return EntryError(in.index, 412, "duplicate",
                               "ifNoneExist matches more than one resource",
                               "HYGIE-CONDITION-MULTIPLE");
        }
        if (ids->size() == 1) {
          in.assigned_id = (*ids)[0];
          in.skip_create = true;
        }
      }
      if (in.assigned_id.empty()) in.assigned_id = crypto::TimeOrderedId(clock_.NowMicros());
      if (!in.full_url.empty()) map[in.full_url] = type + "/" + in.assigned_id;
    } else if (put && !in.full_url.empty() && in.full_url.starts_with("urn:")) {
      if (in.url.find('?') == std::string::npos) {
        map[in.full_url] = in.url;
      } else {
        // A conditional update: the search decides the id.
        std::string_view q = std::string_view(in.url).substr(in.url.find('?') + 1);
        auto ids = MatchIds(call, type, q, 1);
        if (!ids.ok()) {
          co_return EntryError(in.index, 400, "invalid", ids.status().message(), "HYGIE-CONDITION");
        }
        if (ids->size() > 1) {
          co_return EntryError(in.index, 412, "multiple-matches",
                               "the condition matches more than one resource",
                               "HYGIE-CONDITION-MULTIPLE");
        }
        in.assigned_id = ids->empty() ? crypto::TimeOrderedId(clock_.NowMicros()) : (*ids)[0];
        map[in.full_url] = type + "/" + in.assigned_id;
      }
    }
  }
  // 2. Rewrite references.
  for (EntryInput& in : entries) {
    if (in.resource == nullptr) continue;
    std::string unresolved =
        RewriteReferences(*const_cast<rapidjson::Value*>(in.resource), map, doc.GetAllocator());
    if (!unresolved.empty()) {
      co_return EntryError(in.index, 400, "not-found",
                           "the reference '" + unresolved + "' names no entry of the transaction",
                           "HYGIE-BUNDLE-REFERENCE");
    }
  }
  // 3. Run the writes in FHIR's order, gathering them.
  std::vector<size_t> order(entries.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return MethodOrder(entries[a].method) < MethodOrder(entries[b].method);
  });
  storage::WriteBatch batch;
  for (size_t i : order) {
    EntryInput& in = entries[i];
    if (MethodOrder(in.method) == 3) continue;  // reads run after the commit
    if (in.skip_create) {
      // A conditional create that matched: the entry answers with the existing resource.
      EntryInput read = in;
      read.method = bhttp::verb::get;
      read.url = in.url + "/" + in.assigned_id;
      read.resource = nullptr;
      read.if_none_exist.clear();
      in.response = co_await run(read, nullptr);
      in.response.result(bhttp::status::ok);
    } else {
      in.response = co_await run(in, &batch);
    }
    if (IsError(in.response)) {
      Response res = MakeResponse(in.response.result_int(), in.response.body());
      co_return res;
    }
  }
  // 4. Commit, all or nothing; the entries' records are durable first.
  if (!batch.versions.empty()) {
    Status recorded = co_await FlushAudit(call);
    if (!recorded.ok()) co_return FromStatus(recorded);
    Status s = co_await AsyncCommit(*call.store, std::move(batch), asio::use_awaitable);
    if (s.code() == Code::kConflict) {
      co_return Outcome(409, "conflict",
                        "a resource of the transaction changed meanwhile (or the transaction "
                        "writes one resource twice); nothing was written",
                        "HYGIE-TRANSACTION-CONFLICT");
    }
    if (!s.ok()) co_return FromStatus(s);
  }
  // 5. Reads.
  for (EntryInput& in : entries) {
    if (MethodOrder(in.method) != 3) continue;
    in.response = co_await run(in, nullptr);
  }
  fhir::BundleWriter writer("transaction-response", crypto::RandomId(),
                            FormatInstant(clock_.NowMicros()));
  for (const EntryInput& in : entries) writer.AddEntry(entry_out(in.response));
  co_return MakeResponse(200, writer.Finish());
}

}  // namespace hygie::api
