#include "cli/cli_support.h"

#include <iostream>

#include "crypto/primitives.h"

namespace hygie::cli {

int Fail(const Status& s) {
  std::cerr << "hygie: " << s.message() << "\n";
  return 1;
}

int Usage(const std::string& message) {
  std::cerr << "hygie: " << message << "\n";
  return 2;
}

int HttpStatusOf(const Status& s) {
  switch (s.code()) {
    case Code::kInvalidArgument:
      return 400;
    case Code::kNotFound:
      return 404;
    case Code::kAlreadyExists:
      return 409;
    case Code::kFailedPrecondition:
      return 412;
    default:
      return 500;
  }
}

int Recorded(const Installation& inst, audit::Record record, const std::function<Status()>& act) {
  record.request_id = crypto::RandomId();
  if (record.status == 0) record.status = 200;
  if (Status s = RecordCliAct(inst, record); !s.ok()) {
    std::cerr << "hygie: the audit journal cannot record this act, so it was not done: "
              << s.message() << "\n";
    return 1;
  }
  const Status done = act();
  if (!done.ok()) {
    record.status = HttpStatusOf(done);
    record.detail = "the act recorded above failed";
    if (Status again = RecordCliAct(inst, record); !again.ok()) {
      std::cerr << "hygie: audit journal: " << again.message() << "\n";
    }
    return done.code() == Code::kInvalidArgument ? Usage(done.message()) : Fail(done);
  }
  return 0;
}

}  // namespace hygie::cli
