// The running engine: store, I/O threads and listeners, the routing worker, and one delivery
// worker per destination. Embeddable, so a test can run a whole pipeline in-process.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
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
  // The route table and the pipeline that runs it (with its Lua state): owned together so the
  // pipeline's reference to the table stays valid, and used by the router thread only.
  struct Routing {
    routes::RouteTable table;
    std::unique_ptr<routes::Pipeline> pipeline;
  };
  std::unique_ptr<Routing> buildRouting(const Plan& plan, std::vector<std::string>& errors);
  void routeLoop();
  void routeBatch(std::vector<store::StoredMessage>& batch);

  Plan plan_;
  std::unique_ptr<store::MessageStore> store_;
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::vector<std::thread> ioThreads_;
  std::vector<std::unique_ptr<DeliveryWorker>> workers_;
  Signal routerSignal_;
  std::unique_ptr<Routing> routing_;
  std::mutex reloadMutex_;
  std::unique_ptr<Routing> reloaded_;  // handed to the router between batches
  std::atomic<bool> stopping_{false};
  std::thread router_;
  bool started_ = false;
};

}  // namespace sb::engine
