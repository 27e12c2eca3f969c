// What every batched iteration shares (DESIGN decision 7): Krylov solvers, and later the
// minimizers and Newton, run `batch` independent problems of n unknowns side by side in flat
// buffers of batch × n values. BatchSpace splits that index space into blocks over the thread
// pool and holds the vector kernels; BatchStatus keeps each entry's state and counts.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "ir/buffer.h"
#include "runtime/thread_pool.h"

namespace phijit::runtime {

class BatchSpace {
 public:
  // Elements per block, and the size below which kernels stay on the calling thread.
  static constexpr int64_t kChunk = 32768;
  static constexpr int64_t kInline = 32768;

  BatchSpace(int64_t batch, int64_t n)
      : batch_(batch),
        n_(n),
        per_batch_(std::max<int64_t>(1, (n + kChunk - 1) / kChunk)),
        count_(batch * per_batch_) {}

  int64_t batch() const { return batch_; }
  int64_t n() const { return n_; }

  // fn(block, entry, begin, end) for every block; [begin, end) indexes within the entry.
  template <class Fn>
  void run(Fn fn) const {
    auto body = [&](int64_t k) {
      int64_t b = k / per_batch_, c = k % per_batch_;
      fn(k, b, c * kChunk, std::min(n_, (c + 1) * kChunk));
    };
    if (batch_ * n_ <= kInline || count_ == 1) {
      for (int64_t k = 0; k < count_; ++k) body(k);
    } else {
      ThreadPool::instance().parallel_for(count_, body);
    }
  }

  // fn(begin, end) over [0, count) in contiguous runs, over the pool when count · cost (about the
  // values each item touches) is large enough to pay for waking it.
  template <class Fn>
  static void for_ranges(int64_t count, int64_t cost, Fn fn) {
    if (count * std::max<int64_t>(cost, 1) <= kInline || count < 2) {
      fn(int64_t{0}, count);
      return;
    }
    int64_t blocks = std::min<int64_t>(count, 4 * ThreadPool::instance().size());
    ThreadPool::instance().parallel_for(blocks,
                                        [&](int64_t k) { fn(count * k / blocks, count * (k + 1) / blocks); });
  }

  // fn(entry) for every entry (fn of different entries must touch different data).
  template <class Fn>
  void for_entries(Fn fn) const {
    for_ranges(batch_, std::max<int64_t>(n_, 8), [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) fn(b);
    });
  }

  // Per-entry sums of K quantities; fn(entry, begin, end, acc) adds its block's into acc[0..K).
  // Blocks are summed in a fixed order, so results do not depend on the threads.
  template <int K, class Fn>
  std::array<std::vector<double>, K> reduce(Fn fn) const {
    std::vector<double> partial(static_cast<size_t>(count_ * K), 0.0);
    run([&](int64_t k, int64_t b, int64_t i0, int64_t i1) {
      fn(b, i0, i1, &partial[static_cast<size_t>(k * K)]);
    });
    std::array<std::vector<double>, K> out;
    for (auto& o : out) o.assign(static_cast<size_t>(batch_), 0.0);
    for (int64_t k = 0; k < count_; ++k) {
      for (int q = 0; q < K; ++q)
        out[q][static_cast<size_t>(k / per_batch_)] += partial[static_cast<size_t>(k * K + q)];
    }
    return out;
  }

  // a·c per entry, accumulated in double (also for f32).
  template <class T>
  std::vector<double> dot(const Buffer& a, const Buffer& c) const {
    const T* pa = a.as<T>();
    const T* pc = c.as<T>();
    return reduce<1>([&](int64_t b, int64_t i0, int64_t i1, double* acc) {
      // Four independent sums: one chain would wait on the adder's latency for every element.
      double s[4] = {0, 0, 0, 0};
      int64_t i = b * n_ + i0, end = b * n_ + i1;
      for (; i + 4 <= end; i += 4) {
        for (int q = 0; q < 4; ++q) s[q] += double(pa[i + q]) * double(pc[i + q]);
      }
      for (; i < end; ++i) s[0] += double(pa[i]) * double(pc[i]);
      acc[0] += (s[0] + s[1]) + (s[2] + s[3]);
    })[0];
  }

  // out = u + c_b·w per entry b. With c_b = 0, out is u even where w holds NaN (an entry that
  // diverged): 0·NaN must not reach out.
  template <class T>
  void combine(Buffer& out, const Buffer& u, const std::vector<double>& c, const Buffer& w) const {
    T* po = out.as<T>();
    const T* pu = u.as<T>();
    const T* pw = w.as<T>();
    run([&](int64_t, int64_t b, int64_t i0, int64_t i1) {
      auto cb = static_cast<T>(c[static_cast<size_t>(b)]);
      if (cb == T(0)) {
        if (po != pu) std::copy(pu + b * n_ + i0, pu + b * n_ + i1, po + b * n_ + i0);
        return;
      }
      for (int64_t i = b * n_ + i0; i < b * n_ + i1; ++i) po[i] = pu[i] + cb * pw[i];
    });
  }

 private:
  int64_t batch_, n_, per_batch_, count_;
};

// Each entry of a batched iteration: active until it converges or diverges, with its counts.
struct BatchStatus {
  explicit BatchStatus(int64_t batch)
      : active(static_cast<size_t>(batch), true),
        converged(static_cast<size_t>(batch), false),
        diverged(static_cast<size_t>(batch), false),
        iterations(static_cast<size_t>(batch), 0),
        function_evaluations(static_cast<size_t>(batch), 0) {}

  std::vector<bool> active, converged, diverged;
  std::vector<int64_t> iterations, function_evaluations;

  bool any_active() const { return std::find(active.begin(), active.end(), true) != active.end(); }
  void converge(int64_t b) {
    active[static_cast<size_t>(b)] = false;
    converged[static_cast<size_t>(b)] = true;
  }
  void diverge(int64_t b) {
    active[static_cast<size_t>(b)] = false;
    diverged[static_cast<size_t>(b)] = true;
  }
  // The state before the first iteration: diverged where the norm is not finite (a NaN in the
  // data), converged where it is within the tolerance, else active.
  void start(const std::vector<double>& norms, const std::vector<double>& tolerance) {
    for (size_t b = 0; b < norms.size(); ++b) {
      if (!std::isfinite(norms[b])) {
        diverge(static_cast<int64_t>(b));
      } else if (norms[b] <= tolerance[b]) {
        converge(static_cast<int64_t>(b));
      }
    }
  }
  // One evaluation of the operator (or the function) for every active entry.
  void count_evaluation() {
    for (size_t b = 0; b < active.size(); ++b) function_evaluations[b] += active[b] ? 1 : 0;
  }
};

}  // namespace phijit::runtime
