// The running engine: store, I/O threads and listeners, the router with its route workers, and one
// delivery worker per destination. Embeddable, so a test can run a whole pipeline in-process.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "engine/plan.h"

namespace sb::engine {

// A wake-up signal with a timeout, for workers that poll the store as a fallback (the CLI may
// change the store from another process).
class Signal {
 public:
  void notify();
  // Returns when notified or after `timeout`; clears the notification.
  void wait(std::chrono::milliseconds timeout);

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool notified_ = false;
};

// Batches of outcomes handed to the store without waiting for their commit. A worker goes on
// with its next batch meanwhile (reading only past what it submitted) and waits only when too
// many are in flight, or when it needs the store to reflect everything (a retry's new attempt
// count, stopping).
class InFlight {
 public:
  using Submit = std::function<void(store::MessageStore::DoneCallback)>;
  // Waits until fewer than `limit` batches are in flight, then calls `submit` with the callback
  // for the store: it logs a failed commit under `category` as "<failure>: <error>", runs
  // `then` (committed or not) and counts the batch finished. A submit that throws counts its
  // batch finished (once, whether or not it called back first) and the exception goes on.
  void submit(int limit, const Submit& submit, const char* category, std::string failure,
              std::function<void()> then = {});
  void waitBelow(int count);
  bool none();
  // Whether a commit failed since the last call (the worker then pauses before going on).
  bool takeFailure();

 private:
  void finished(bool failed);

  std::mutex mutex_;
  std::condition_variable cv_;
  int count_ = 0;
  bool failed_ = false;
};

class DeliveryWorker {
 public:
  DeliveryWorker(DestinationPlan& destination, store::MessageStore& store);
  ~DeliveryWorker();
  void start();
  void stop();
  void wake() { signal_.notify(); }

 private:
  void run();
  DestinationPlan& destination_;
  store::MessageStore& store_;
  Signal signal_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// A parallel map for the router: run(count, fn) calls fn(worker, item) once for every item in
// [0, count), spread over the calling thread (worker 0) and `helpers` threads named sb-route-N
// (worker N), and returns when all calls have returned. Items are handed out one at a time from
// a shared counter, so a slow item does not hold up the others. The first exception thrown by fn
// stops the handing out and is rethrown by run. With no helpers, run is a plain loop.
class RouteWorkers {
 public:
  using Fn = std::function<void(std::size_t worker, std::size_t item)>;
  explicit RouteWorkers(std::size_t helpers);
  ~RouteWorkers();
  RouteWorkers(const RouteWorkers&) = delete;
  RouteWorkers& operator=(const RouteWorkers&) = delete;

  std::size_t workers() const { return threads_.size() + 1; }
  void run(std::size_t count, const Fn& fn);

 private:
  void helper(std::size_t worker);
  void work(std::size_t worker);

  std::mutex mutex_;
  std::condition_variable start_;  // helpers wait here for a new round
  std::condition_variable done_;   // run() waits here for the helpers of the round
  std::uint64_t round_ = 0;
  bool stopping_ = false;
  std::size_t joining_ = 0;   // helpers taking part in this round (workers 1..joining_)
  std::size_t finished_ = 0;  // of them, how many are done
  // The current round; written by run() under mutex_ before the round starts.
  const Fn* fn_ = nullptr;
  std::size_t count_ = 0;
  std::atomic<std::size_t> next_{0};
  std::exception_ptr error_;
  std::vector<std::thread> threads_;
};

class Engine final : public channels::IngestSink {
 public:
  // Opens the store and builds every connector; throws std::runtime_error with all config
  // errors (file:line each) when the plan is invalid.
  Engine(const std::filesystem::path& configFile, const Overrides& overrides);
  ~Engine() override;

  void start();  // binds listeners, starts workers
  void stop();   // stops input first, then workers, then flushes the store

  // Loads the config file again and swaps in its routes and scripts (SIGHUP). Listeners,
  // connections and queues are untouched. On any error the running routes stay; returns false.
  bool reloadRoutes();

  store::MessageStore& store() override { return *store_; }
  void committed() override { routerSignal_.notify(); }
  const Plan& plan() const { return plan_; }

 private:
  // The route table and the pipelines that run it, one per route worker (each with its own Lua
  // state): owned together so the pipelines' reference to the table stays valid. Pipeline i is
  // used by route worker i only, and only while a batch is being routed.
  struct Routing {
    routes::RouteTable table;
    std::vector<std::unique_ptr<routes::Pipeline>> pipelines;
  };
  std::unique_ptr<Routing> buildRouting(const Plan& plan, std::size_t workers,
                                        std::vector<std::string>& errors);
  void routeLoop();
  void routeBatch(std::vector<store::StoredMessage>& batch);
  InFlight routed_;  // routing outcomes submitted to the store and not committed yet

  Plan plan_;
  std::unique_ptr<store::MessageStore> store_;
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::vector<std::thread> ioThreads_;
  std::vector<std::unique_ptr<DeliveryWorker>> workers_;
  Signal routerSignal_;
  // The route workers besides the router thread (route_workers - 1 threads, none for 1).
  std::unique_ptr<RouteWorkers> routeWorkers_;
  std::unique_ptr<Routing> routing_;
  std::mutex reloadMutex_;
  std::unique_ptr<Routing> reloaded_;  // handed to the router between batches
  std::atomic<bool> stopping_{false};
  std::thread router_;
  bool started_ = false;
};

}  // namespace sb::engine
