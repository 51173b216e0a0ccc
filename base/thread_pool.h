// A persistent pool of worker threads for data-parallel kernels. run(fn) calls fn(i, n) on n
// threads (the caller is thread 0) and returns when all are done. Workers spin briefly before
// sleeping, so back-to-back kernels in a decode step don't pay for a wake-up each.
#pragma once
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace zip {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_; }
  void run(const std::function<void(int thread, int n_threads)>& fn);

  // Splits [0, total) into n contiguous parts; part i is [begin, end).
  static void split(size_t total, int i, int n, size_t* begin, size_t* end) {
    size_t chunk = total / size_t(n), rem = total % size_t(n), ui = size_t(i);
    *begin = ui * chunk + (ui < rem ? ui : rem);
    *end = *begin + chunk + (ui < rem ? 1 : 0);
  }

 private:
  void worker(int index);
  int n_;
  std::vector<std::thread> threads_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace zip
