#include "frontend/solve_result.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "frontend/tensor_data.h"

namespace phijit {

namespace {
thread_local std::vector<SolveTape*> active_tapes;
}  // namespace

SolveTape::SolveTape(bool record_trajectories) : record_trajectories_(record_trajectories) {
  active_tapes.push_back(this);
}
SolveTape::~SolveTape() { std::erase(active_tapes, this); }
const SolveInfo& SolveTape::operator[](size_t i) const {
  if (i >= infos_.size()) {
    throw Error(
        fmt::format("SolveTape: index {} is out of range, the tape holds {} solves", i, infos_.size()));
  }
  return infos_[i];
}
size_t SolveTape::reserve() {
  infos_.emplace_back();
  infos_.back().message = "(still running)";
  return infos_.size() - 1;
}
void SolveTape::fill(size_t slot, const SolveInfo& info) { infos_.at(slot) = info; }

namespace detail {

bool trajectories_requested() {
  return std::any_of(active_tapes.begin(), active_tapes.end(),
                     [](const SolveTape* t) { return t->record_trajectories(); });
}

TapeSlots::TapeSlots() {
  for (SolveTape* tape : active_tapes) slots_.emplace_back(tape, tape->reserve());
}

void TapeSlots::fill(const SolveInfo& info) const {
  for (auto [tape, slot] : slots_) {
    // A tape that ended while the solve ran (made and dropped inside f) records nothing.
    if (std::find(active_tapes.begin(), active_tapes.end(), tape) != active_tapes.end())
      tape->fill(slot, info);
  }
}

Tensor finish_solve(const SolveInfo& info, const TapeSlots* slots) {
  if (slots != nullptr) {
    slots->fill(info);
  } else {
    for (SolveTape* tape : active_tapes) tape->add(info);
  }
  std::vector<double> diverged = info.diverged.to_vector(), converged = info.converged.to_vector();
  bool any_diverged = std::any_of(diverged.begin(), diverged.end(), [](double v) { return v != 0; });
  bool all_converged = std::all_of(converged.begin(), converged.end(), [](double v) { return v != 0; });
  auto suppressed = [&](Failure f) {
    return std::find(info.solve.suppress.begin(), info.solve.suppress.end(), f) != info.solve.suppress.end();
  };
  if (any_diverged && !suppressed(Failure::diverged)) throw Diverged(info, info.message);
  if (!any_diverged && !all_converged && !suppressed(Failure::not_converged))
    throw NotConverged(info, info.message);
  return info.x;
}

Tensor integers(const std::vector<int64_t>& v, const Shape& batch) {
  std::vector<double> d(v.begin(), v.end());
  return tensor(d, batch, DType::i64);
}
Tensor booleans(const std::vector<bool>& v, const Shape& batch) {
  std::vector<double> d;
  for (bool b : v) d.push_back(b ? 1 : 0);
  return tensor(d, batch, DType::boolean);
}

std::string describe(const Solve& s, const std::string& method) {
  return fmt::format("{} with rel_tol={}, abs_tol={}, max_iterations={}{}", method, s.rel_tol, s.abs_tol,
                     s.max_iterations,
                     s.preconditioner.empty() ? "" : ", preconditioner " + s.preconditioner);
}

Tensor trajectory_tensor(const std::vector<runtime::BufferPtr>& snapshots, DType dtype,
                         const std::vector<Dim>& order) {
  auto k = static_cast<int64_t>(snapshots.size());
  std::vector<Dim> traj_order{Dim{"trajectory", k, DimType::batch, {}}};  // outermost
  traj_order.insert(traj_order.end(), order.begin(), order.end());
  auto traj = std::make_shared<Buffer>(dtype, Shape(traj_order), Buffer::Uninitialized{});
  size_t bytes = k > 0 ? snapshots.front()->bytes() : 0;
  for (int64_t i = 0; i < k; ++i) {
    const Buffer& snap = *snapshots[static_cast<size_t>(i)];
    if (snap.dtype() != dtype || snap.bytes() != bytes) throw InternalError("trajectory: snapshots differ");
    std::memcpy(static_cast<char*>(traj->data()) + static_cast<size_t>(i) * bytes, snap.data(), bytes);
  }
  return tensor_in_order(traj, traj_order);
}

}  // namespace detail

}  // namespace phijit
