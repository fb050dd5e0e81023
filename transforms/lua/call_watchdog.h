// Interrupts long calls without slowing down short ones.
//
// Lua's instruction-count hook is the only way to stop a runaway script, but while any count
// hook is installed the interpreter calls into its debug layer before every instruction — about
// 14% of a typical transform's time, spent on calls that finish in microseconds. A CallWatch
// lets a call run without the hook: one process-wide watchdog thread notices a call that has been
// running longer than its delay and sends the calling thread a real-time signal; the handler,
// running on that thread, installs the hook (lua_sethook is documented as safe to call from a
// signal handler; lua.c does the same for Ctrl-C). From then on the call's instructions are
// counted and the usual limits apply.
#pragma once

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>

namespace sb::transforms {

class CallWatch {
 public:
  // Runs in the signal handler, on the thread that is making the call: only async-signal-safe
  // work (such as lua_sethook) belongs here.
  using Arm = void (*)(void* context);

  CallWatch(Arm arm, void* context);
  ~CallWatch();
  CallWatch(const CallWatch&) = delete;
  CallWatch& operator=(const CallWatch&) = delete;

  // The calling thread starts a call: `arm` runs on it once the call has lasted `delay` (give or
  // take the watchdog's tick, which is the delay itself, at least 200 µs and at most 10 ms), and
  // again at every tick until confirmCounting() says that what it armed has taken effect (a
  // signal can be refused when the queue of real-time signals is full, or land at a moment the
  // interpreter undoes it). A call nested in a watched call on the same watch is part of it.
  void begin(std::chrono::microseconds delay);
  // The call is over; `arm` will not run for it any more.
  void end();
  // Called on the calling thread by what `arm` installed (the count hook) when it runs.
  void confirmCounting() { counting_.store(true, std::memory_order_relaxed); }

  // The signal the watchdog sends (a real-time signal, installed with SA_RESTART).
  static int signalNumber();

 private:
  friend class CallWatchdog;
  friend void onWatchSignal(int);

  Arm arm_;
  void* context_;
  std::mutex mutex_;  // guards the fields below against the watchdog thread
  bool running_ = false;
  pthread_t thread_{};
  std::chrono::steady_clock::time_point deadline_;
  std::chrono::microseconds delay_{0};
  // Read by the signal handler, which takes no lock.
  std::atomic<bool> armable_{false};
  std::atomic<bool> counting_{false};  // confirmCounting() since begin()
  // Owner thread only.
  int depth_ = 0;                  // nested begin() on this watch
  CallWatch* previous_ = nullptr;  // the watch of an enclosing call of another runtime
};

}  // namespace sb::transforms
