// Process-wide worker pool. Workers spin briefly after a job (back-to-back
// kernel calls are common) and then sleep on a condition variable, so an idle
// pool costs no CPU.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "common.h"
#include "pool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void cpu_relax() { _mm_pause(); }
#else
static inline void cpu_relax() { std::this_thread::yield(); }
#endif

namespace {

thread_local bool tl_in_task = false;

struct Pool {
  std::mutex mu;                 // guards job publication and sleeping
  std::condition_variable cv;
  std::mutex callerMu;           // one parallel job at a time (other callers run inline)
  std::atomic<uint64_t> gen{0};  // bumped once per job
  std::atomic<long> next{0}, finished{0};
  std::atomic<int> inJob{0};
  trax::TaskFn fn = nullptr;
  void* ctx = nullptr;
  long ntasks = 0;
  int participants = 0;          // workers allowed to join the current job
  int sleepers = 0;
  std::vector<std::thread> workers;
  std::atomic<int> threads{1};   // configured size including the caller

  void worker(int idx) {
    tl_in_task = true;
    uint64_t seen = gen.load(std::memory_order_acquire);
    for (;;) {
      // Spin ~50us for the next job, then block.
      auto t0 = std::chrono::steady_clock::now();
      int spins = 0;
      while (gen.load(std::memory_order_acquire) == seen) {
        cpu_relax();
        if ((++spins & 63) != 0 || std::chrono::steady_clock::now() - t0 < std::chrono::microseconds(50)) continue;
        std::unique_lock<std::mutex> lk(mu);
        ++sleepers;
        cv.wait(lk, [&] { return gen.load(std::memory_order_relaxed) != seen; });
        --sleepers;
        break;
      }
      trax::TaskFn f;
      void* c;
      long nt;
      {
        std::lock_guard<std::mutex> lk(mu);
        uint64_t g = gen.load(std::memory_order_relaxed);
        if (g == seen) continue;
        seen = g;
        if (idx >= participants) continue;
        f = fn; c = ctx; nt = ntasks;
        inJob.fetch_add(1, std::memory_order_relaxed);
      }
      long t;
      while ((t = next.fetch_add(1, std::memory_order_relaxed)) < nt) {
        f(c, t);
        finished.fetch_add(1, std::memory_order_release);
      }
      inJob.fetch_sub(1, std::memory_order_release);
    }
  }

  void ensure_workers(int n) {
    while ((int)workers.size() < n) {
      int idx = (int)workers.size();
      workers.emplace_back([this, idx] { worker(idx); });
      workers.back().detach();
    }
  }

  void run(long n, trax::TaskFn f, void* c) {
    int T = threads.load(std::memory_order_relaxed);
    if (T <= 1 || n <= 1 || tl_in_task || !callerMu.try_lock()) {
      for (long t = 0; t < n; ++t) f(c, t);
      return;
    }
    int helpers = (int)(n - 1 < T - 1 ? n - 1 : T - 1);
    {
      std::unique_lock<std::mutex> lk(mu);
      ensure_workers(helpers);
      // A worker that joined the previous job late may still be inside it.
      while (inJob.load(std::memory_order_acquire) != 0) { lk.unlock(); cpu_relax(); lk.lock(); }
      fn = f; ctx = c; ntasks = n; participants = helpers;
      next.store(0, std::memory_order_relaxed);
      finished.store(0, std::memory_order_relaxed);
      gen.fetch_add(1, std::memory_order_release);
      if (sleepers > 0) cv.notify_all();
    }
    tl_in_task = true;
    long t;
    long done = 0;
    while ((t = next.fetch_add(1, std::memory_order_relaxed)) < n) { f(c, t); ++done; }
    tl_in_task = false;
    finished.fetch_add(done, std::memory_order_release);
    // Tasks are balanced, so the wait is short; yield soon in case a helper
    // was descheduled (oversubscribed machine) rather than burn its core.
    int spins = 0;
    while (finished.load(std::memory_order_acquire) < n) {
      if (++spins < 2000) cpu_relax(); else std::this_thread::yield();
    }
    callerMu.unlock();
  }
};

// Never destroyed: detached workers may still be blocked on its members at exit.
Pool* pool() {
  static Pool* p = [] {
    Pool* q = new Pool();
    int n = (int)std::thread::hardware_concurrency();
    if (n < 1) n = 1;
    if (const char* e = std::getenv("TRAX_NUM_THREADS")) {
      int v = std::atoi(e);
      if (v >= 1) n = v;
    }
    q->threads.store(n > 256 ? 256 : n);
    return q;
  }();
  return p;
}

}  // namespace

extern "C" void trax_parallel_for(long ntasks, trax::TaskFn fn, void* ctx) { pool()->run(ntasks, fn, ctx); }

extern "C" int trax_num_threads(void) { return tl_in_task ? 1 : pool()->threads.load(std::memory_order_relaxed); }

namespace trax {
int pool_threads() { return pool()->threads.load(); }
void pool_set_threads(int n) { pool()->threads.store(n < 1 ? 1 : (n > 256 ? 256 : n)); }
}  // namespace trax
