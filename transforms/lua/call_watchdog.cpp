#include "transforms/lua/call_watchdog.h"

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

namespace sb::transforms {

namespace {

// The watch of the call running on this thread, for the signal handler. Initial-exec TLS in the
// executable: reading it from a handler is async-signal-safe.
thread_local CallWatch* tActive = nullptr;

constexpr std::chrono::microseconds kMinTick{200};
constexpr std::chrono::microseconds kMaxTick{10'000};

}  // namespace

void onWatchSignal(int) {
  const int saved = errno;
  CallWatch* watch = tActive;
  if (watch != nullptr && watch->armable_.load(std::memory_order_acquire)) {
    watch->arm_(watch->context_);
  }
  errno = saved;
}

// One thread for the process. It runs only while some watch exists, and sleeps without a tick
// while none of them is in a call, so an idle engine is never woken by it.
class CallWatchdog {
 public:
  static CallWatchdog& instance() {
    // Never destroyed: runtimes that are themselves static objects unregister during exit.
    static CallWatchdog* const dog = new CallWatchdog;
    return *dog;
  }

  void add(CallWatch* watch) {
    std::lock_guard lock(mutex_);
    if (!runner_) {
      // Started before the watch is listed: if the thread cannot start, nothing has changed.
      auto runner = std::make_unique<Runner>();
      Runner* self = runner.get();
      runner->thread = std::thread([this, self] {
        pthread_setname_np(pthread_self(), "sb-lua-watch");
        run(*self);
      });
      runner_ = std::move(runner);
    }
    watches_.push_back(watch);
  }

  void remove(CallWatch* watch) {
    std::unique_ptr<Runner> finished;
    {
      std::lock_guard lock(mutex_);
      watches_.erase(std::remove(watches_.begin(), watches_.end(), watch), watches_.end());
      if (!watches_.empty() || !runner_) return;
      // Each thread has its own stop flag: a watch added while this one is stopping starts a
      // fresh thread instead of reviving the old one.
      runner_->stop = true;
      finished = std::move(runner_);
    }
    wake_.notify_all();
    finished->thread.join();
  }

  // A call began: make sure the watchdog is ticking.
  void callStarted() {
    if (!idle_.load()) return;
    {
      std::lock_guard lock(mutex_);
      wakeRequested_ = true;
    }
    wake_.notify_all();
  }

 private:
  CallWatchdog() {
    struct sigaction action;
    std::memset(&action, 0, sizeof action);
    action.sa_handler = onWatchSignal;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    if (sigaction(CallWatch::signalNumber(), &action, nullptr) != 0) {
      throw std::runtime_error("cannot install the Lua call watchdog's signal handler");
    }
  }

  struct Runner {
    std::thread thread;
    bool stop = false;  // guarded by mutex_
  };

  void run(Runner& self) {
    std::unique_lock lock(mutex_);
    while (!self.stop) {
      // Announced before looking: a call that starts after a watch is read below sees `idle_`
      // and wakes this thread (the watch's mutex orders the two).
      idle_.store(true);
      std::chrono::microseconds tick = kMaxTick;
      bool anyRunning = false;
      const auto now = std::chrono::steady_clock::now();
      for (CallWatch* w : watches_) {
        std::lock_guard watchLock(w->mutex_);
        if (!w->running_) continue;
        anyRunning = true;
        tick = std::min(tick, w->delay_);
        if (now >= w->deadline_ && !w->counting_.load(std::memory_order_relaxed)) {
          // Sent again each tick until the hook has run. The thread cannot leave the call (end()
          // takes this mutex) while it is signalled, so it still exists; the signal itself may
          // arrive after the call ended, where the handler finds nothing armable.
          pthread_kill(w->thread_, CallWatch::signalNumber());
        }
      }
      if (anyRunning) {
        idle_.store(false);
        wake_.wait_for(lock, std::max(tick, kMinTick), [&self] { return self.stop; });
      } else {
        wake_.wait(lock, [this, &self] { return self.stop || wakeRequested_; });
        // A stopping thread leaves the request to the thread that replaces it.
        if (self.stop) break;
        wakeRequested_ = false;
      }
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<CallWatch*> watches_;
  std::unique_ptr<Runner> runner_;
  bool wakeRequested_ = false;
  std::atomic<bool> idle_{true};
};

int CallWatch::signalNumber() {
  // SIGRTMIN is computed at run time by glibc (it reserves the first few for itself).
  return SIGRTMIN + 5;
}

CallWatch::CallWatch(Arm arm, void* context) : arm_(arm), context_(context) {
  CallWatchdog::instance().add(this);
}

CallWatch::~CallWatch() {
  CallWatchdog::instance().remove(this);
}

void CallWatch::begin(std::chrono::microseconds delay) {
  if (depth_++ > 0) return;  // nested in a call of this watch: part of that call
  counting_.store(false, std::memory_order_relaxed);
  // Armable before it is visible as running: a signal sent as soon as the watchdog sees the call
  // must find the handler ready. The fences keep these writes, which the handler reads, in order
  // with respect to it.
  previous_ = tActive;
  tActive = this;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  armable_.store(true, std::memory_order_release);
  {
    std::lock_guard lock(mutex_);
    running_ = true;
    thread_ = pthread_self();
    delay_ = std::clamp(delay, kMinTick, kMaxTick);
    deadline_ = std::chrono::steady_clock::now() + delay;
  }
  CallWatchdog::instance().callStarted();
}

void CallWatch::end() {
  if (--depth_ > 0) return;
  {
    std::lock_guard lock(mutex_);
    running_ = false;
  }
  armable_.store(false, std::memory_order_release);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  tActive = previous_;
}

}  // namespace sb::transforms
