#include "base/thread_pool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void cpu_relax() { _mm_pause(); }
#else
static inline void cpu_relax() {}
#endif

namespace zip {

// Waiting is spin (cheap when every thread has a core), then yield (when the machine is
// oversubscribed, a descheduled peer gets the core instead of us burning it), then sleep.
static constexpr int kSpinIters = 2000;   // ~ a few microseconds of pause loops
static constexpr int kYieldIters = 200;   // sched_yield calls before a worker sleeps

ThreadPool::ThreadPool(int n_threads) : n_(n_threads < 1 ? 1 : n_threads) {
  for (int i = 1; i < n_; i++) threads_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_.store(true);
    generation_.fetch_add(1);
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::run(const std::function<void(int, int)>& fn) {
  if (n_ == 1) {
    fn(0, 1);
    return;
  }
  job_ = &fn;
  pending_.store(n_ - 1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lk(mu_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  cv_.notify_all();
  fn(0, n_);
  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; spins++) {
    if (spins < kSpinIters)
      cpu_relax();
    else
      std::this_thread::yield();
  }
  job_ = nullptr;
}

void ThreadPool::worker(int index) {
  uint64_t seen = 0;
  for (;;) {
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && ++spins < kSpinIters) cpu_relax();
    for (int y = 0; y < kYieldIters && generation_.load(std::memory_order_acquire) == seen; y++)
      std::this_thread::yield();
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return generation_.load() != seen; });
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load()) return;
    (*job_)(index, n_);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace zip
