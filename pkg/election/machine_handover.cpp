// Planned handover (docs/HANDOVER.md): a leader steps down, stays stepped down for a short
// drain (routing drops it while the record still names it, so nobody else can lead yet),
// then releases the record naming its successor in one conditional write. The named pod
// takes it within one round trip; our other followers hold back a bounded grace (decide()).
#include <algorithm>

#include <kle/election/machine.hpp>

namespace kle::election {

api::Lease handover_record(const api::Lease& held, api::MicroTime wall_now, const HandoverHint& hint) {
  api::Lease out = release_record(held, wall_now);
  api::set_lease_annotation(out, kPreferredHolderAnnotation,
                            hint.successor.empty() ? std::nullopt : std::optional<std::string>(hint.successor));
  if (!hint.newest_revision.empty()) {
    api::set_lease_annotation(out, kNewestRevisionAnnotation, hint.newest_revision);
  }
  return out;
}

bool Machine::hand_over(Clock::time_point now, HandoverHint hint) {
  if (!leader_ || stopping_ || handover_) return false;
  cfg_.log.info("handing over", {{"successor", hint.successor}, {"newest_revision", hint.newest_revision},
                             {"drain_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                              cfg_.handover_drain).count()}});
  const Clock::time_point due = now + cfg_.handover_drain;
  handover_ = Handover{std::move(hint), due, due + cfg_.timings.renew_deadline};
  step_down("handing over to \"" + handover_->hint.successor + "\"");
  return true;
}

void Machine::resign() {
  resigned_ = true;
  step_down("resigning before the release");
}

// The handover's loop step: wait out the drain, read after a conflict, then release. The
// record must still name us; anything else (someone took it, it was deleted) ends it.
LoopStep Machine::handover_step(Clock::time_point now, api::MicroTime wall_now) {
  LoopStep step;
  if (now < handover_->due) {
    step.kind = LoopStep::Kind::sleep;
    step.until = handover_->due;
    return step;
  }
  if (now >= handover_->give_up) {
    cfg_.log.warn("gave up the handover within the renew deadline; followers take over at expiry", {});
    handover_.reset();
    return next(now, wall_now);
  }
  if (need_get_) {
    read_renewing_ = false;
    step.kind = LoopStep::Kind::read;
    return step;
  }
  if (!exists_ || observed_holder() != cfg_.identity) {
    cfg_.log.info("nothing to hand over", {{"holder", observed_holder()}});
    handover_.reset();
    return next(now, wall_now);
  }
  step.kind = LoopStep::Kind::write;
  step.decision.action = Action::update;
  step.decision.reason = Reason::released;
  step.decision.record = handover_record(*observed_, wall_now, handover_->hint);
  in_flight_ = Sent{step.decision.record.spec, Action::update, Reason::released, now, step_downs_, false};
  handover_writing_ = true;
  return step;
}

void Machine::on_handover_write(Clock::time_point now, const api::Result<api::Lease>& result) {
  handover_writing_ = false;
  in_flight_.reset();
  if (result) {
    uncertain_.reset();
    observe(now, std::make_shared<const api::Lease>(result.value()));
    cfg_.log.info("lease handed over", {{"successor", handover_->hint.successor}});
    handover_.reset();
    return;
  }
  if (result.error().is(api::ErrorKind::not_found)) {
    observe_deleted("");
    handover_.reset();
    return;
  }
  need_get_ = true;  // conflict (or a failure): re-read; the step retries while it still names us
  if (!result.error().is(api::ErrorKind::conflict)) {
    cfg_.log.warn("handing over failed", {{"error", result.error().describe()}});
    pause_ = now + retry_soon();
  }
}

}  // namespace kle::election
