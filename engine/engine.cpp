#include "engine/engine.h"

#include <pthread.h>

#include <algorithm>
#include <random>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

namespace sb::engine {
namespace {

constexpr std::size_t kRoutingBatch = 512;
constexpr std::size_t kDeliveryBatch = 512;
// Batches of routing or delivery outcomes a worker may have submitted and not yet committed.
constexpr int kMaxInFlight = 2;
// Batches the router may read past the head of its inbox before it reads from the head again.
constexpr int kBatchesPastHead = 8;
// How often idle workers look at the store anyway: `switchboard reprocess` runs in another
// process and cannot wake them.
constexpr std::chrono::milliseconds kIdlePoll{250};
constexpr store::Millis kRetentionEveryMs = 3600 * 1000;
// Routing and delivery are off the ACK path, so they can wait a moment for company: a batch of
// hundreds costs about as many page writes as a batch of one. Only when the previous batch was
// small (light load) does the wait apply; under heavy load batches fill by themselves. The
// store folds its ingest journal together with the routing of what it folds, so this also sets
// how many messages a fold usually carries (measured when the router's reads forced the fold:
// 15 ms gave 5,500 msg/s on 8 MLLP connections, 50 ms 9,800, 100 ms no better than 50); the
// store's own fold delay (100 ms) is longer, so a routed message usually beats it.
constexpr std::chrono::milliseconds kLinger{50};

}  // namespace

void Signal::notify() {
  {
    std::lock_guard lock(mutex_);
    notified_ = true;
  }
  cv_.notify_one();
}

void Signal::wait(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, timeout, [this] { return notified_; });
  notified_ = false;
}

// ---------------------------------------------------------------------------------------------
DeliveryWorker::DeliveryWorker(DestinationPlan& destination, store::MessageStore& store)
    : destination_(destination), store_(store) {}

DeliveryWorker::~DeliveryWorker() {
  stop();
}

void DeliveryWorker::start() {
  thread_ = std::thread([this] {
    // Thread names show in top -H, perf and gdb; Linux allows 15 characters.
    pthread_setname_np(pthread_self(), ("sb-out-" + destination_.name).substr(0, 15).c_str());
    run();
  });
}

void DeliveryWorker::stop() {
  stopping_ = true;
  signal_.notify();
  if (thread_.joinable()) thread_.join();
}

void InFlight::submit(int limit, const Submit& submit, const char* category, std::string failure,
                      std::function<void()> then) {
  {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return count_ < limit; });
    ++count_;
  }
  // Counted finished once: by the callback, or here when submit throws without having called
  // it (a submit that calls back and then throws must not count the batch twice).
  auto counted = std::make_shared<std::atomic<bool>>(false);
  try {
    submit([this, counted, category, failure = std::move(failure),
            then = std::move(then)](std::exception_ptr error) {
      if (error) {
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          log::at(log::Level::kError, category, "{}: {}", failure, e.what());
        } catch (...) {
          log::at(log::Level::kError, category, "{}: a non-standard exception", failure);
        }
      }
      if (then) then();
      if (!counted->exchange(true)) finished(error != nullptr);
    });
  } catch (...) {
    if (!counted->exchange(true)) finished(true);
    throw;
  }
}

void InFlight::finished(bool failed) {
  // Notified under the lock: once a waiter sees the count drop, this object is not touched again.
  std::lock_guard lock(mutex_);
  --count_;
  failed_ = failed_ || failed;
  cv_.notify_all();
}

bool InFlight::takeFailure() {
  std::lock_guard lock(mutex_);
  return std::exchange(failed_, false);
}

void InFlight::waitBelow(int count) {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return count_ < count; });
}

bool InFlight::none() {
  std::lock_guard lock(mutex_);
  return count_ == 0;
}

void DeliveryWorker::run() {
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const RetryPolicy& policy = destination_.retry;
  std::vector<store::DeliveryOutcome> outcomes;
  // Outcomes are committed while the next batch is sent; reading resumes after the last queue
  // entry submitted until the store has committed them all (then from the head again, so an
  // outcome whose commit failed is sent again: at least once, never lost).
  InFlight inFlight;
  std::int64_t after = 0;
  const std::string& name = destination_.name;
  const std::string failure = fmt::format(
      "destination {}: recording delivery outcomes failed (they will be sent again)", name);
  const auto submit = [&] {
    if (outcomes.empty()) return;
    after = std::max(after, outcomes.back().queueId);
    inFlight.submit(
        kMaxInFlight,
        [&](store::MessageStore::DoneCallback done) {
          store_.submitDeliveries(std::move(outcomes), std::move(done));
        },
        "deliver", failure);
    outcomes.clear();
  };
  // Everything recorded before going on: the next read must see a retry's new attempt count.
  const auto flush = [&] {
    submit();
    inFlight.waitBelow(1);
    after = 0;
  };
  while (!stopping_) {
    std::vector<store::QueueItem> items;
    if (inFlight.takeFailure()) signal_.wait(std::chrono::seconds(1));
    if (inFlight.none()) after = 0;
    try {
      items = store_.pendingDeliveries(name, kDeliveryBatch, after);
    } catch (const std::exception& e) {
      log::at(log::Level::kError, "deliver", "destination {}: reading the queue failed: {}",
              destination_.name, e.what());
      signal_.wait(std::chrono::seconds(1));
      continue;
    }
    if (items.empty()) {
      signal_.wait(kIdlePoll);
      if (!stopping_) std::this_thread::sleep_for(kLinger);
      continue;
    }
    for (const auto& item : items) {
      if (stopping_) break;
      const store::Millis now = store::nowMillis();
      if (item.nextAttemptAt > now) {
        // FIFO: the head waits out its backoff and everything behind it waits too.
        flush();
        signal_.wait(std::min(kIdlePoll * 4, std::chrono::milliseconds(item.nextAttemptAt - now)));
        break;
      }
      channels::SendResult result;
      if (!item.unavailable.empty()) {
        // Retrying cannot bring the bytes back: dead-lettered at once, where people look.
        result = channels::SendResult::fail(item.unavailable);
      } else {
        try {
          result = destination_.sender->send(item);
        } catch (const std::exception& e) {
          result = channels::SendResult::retry(fmt::format("sender failed: {}", e.what()));
        }
      }
      store::DeliveryOutcome outcome;
      outcome.queueId = item.queueId;
      outcome.messageId = item.messageId;
      outcome.at = store::nowMillis();
      outcome.response = std::move(result.response);
      outcome.error = result.error;
      const int attempts = item.attempts + 1;
      if (result.status == channels::SendStatus::kOk) {
        outcome.result = store::DeliveryResult::kDelivered;
        outcomes.push_back(std::move(outcome));
        continue;
      }
      if (result.status == channels::SendStatus::kRetry && attempts < policy.maxAttempts) {
        outcome.result = store::DeliveryResult::kRetry;
        outcome.nextAttemptAt =
            outcome.at + (result.retryAfterMillis ? *result.retryAfterMillis
                                                  : policy.backoffMillis(attempts, unit(rng)));
        log::at(log::Level::kWarn, "deliver",
                "destination {}: message {} attempt {}/{} failed, retry in {} ms: {}",
                destination_.name, item.messageId, attempts, policy.maxAttempts,
                outcome.nextAttemptAt - outcome.at, result.error);
        outcomes.push_back(std::move(outcome));
        flush();
        break;
      }
      outcome.result = store::DeliveryResult::kDead;
      log::at(log::Level::kError, "deliver",
              "destination {}: message {} dead-lettered after {} attempt(s): {}", destination_.name,
              item.messageId, attempts, result.error);
      outcomes.push_back(std::move(outcome));
    }
    submit();
    if (items.size() < kDeliveryBatch / 2 && !stopping_) std::this_thread::sleep_for(kLinger);
  }
  flush();
}

// ---------------------------------------------------------------------------------------------
RouteWorkers::RouteWorkers(std::size_t helpers) {
  threads_.reserve(helpers);
  for (std::size_t worker = 1; worker <= helpers; ++worker) {
    threads_.emplace_back([this, worker] {
      pthread_setname_np(pthread_self(), fmt::format("sb-route-{}", worker).substr(0, 15).c_str());
      helper(worker);
    });
  }
}

RouteWorkers::~RouteWorkers() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  start_.notify_all();
  for (auto& t : threads_) t.join();
}

void RouteWorkers::run(std::size_t count, const Fn& fn) {
  if (threads_.empty() || count <= 1) {
    for (std::size_t i = 0; i < count; ++i) fn(0, i);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    fn_ = &fn;
    count_ = count;
    next_.store(0, std::memory_order_relaxed);
    error_ = nullptr;
    joining_ = std::min(threads_.size(), count - 1);
    finished_ = 0;
    ++round_;
  }
  start_.notify_all();
  work(0);
  std::exception_ptr error;
  {
    std::unique_lock lock(mutex_);
    done_.wait(lock, [this] { return finished_ == joining_; });
    fn_ = nullptr;
    error = std::exchange(error_, nullptr);
  }
  if (error) std::rethrow_exception(error);
}

void RouteWorkers::helper(std::size_t worker) {
  std::uint64_t seen = 0;
  std::unique_lock lock(mutex_);
  while (true) {
    start_.wait(lock, [&] { return stopping_ || round_ != seen; });
    if (stopping_) return;
    seen = round_;
    if (worker > joining_) continue;  // a small round: not needed
    lock.unlock();
    work(worker);
    lock.lock();
    if (++finished_ == joining_) done_.notify_one();
  }
}

void RouteWorkers::work(std::size_t worker) {
  // count_ and fn_ were written under mutex_ before the round started; helpers took mutex_
  // after that, the caller wrote them itself.
  while (true) {
    const std::size_t item = next_.fetch_add(1, std::memory_order_relaxed);
    if (item >= count_) return;
    try {
      (*fn_)(worker, item);
    } catch (...) {
      std::lock_guard lock(mutex_);
      if (!error_) error_ = std::current_exception();
      next_.store(count_, std::memory_order_relaxed);  // hand out nothing more
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
Engine::Engine(const std::filesystem::path& configFile, const Overrides& overrides) {
  config::Errors errors;
  auto plan = loadPlan(configFile, overrides, errors);
  if (!plan) throw std::runtime_error(errors.joined());
  plan_ = std::move(*plan);
  log::setThreshold(plan_.settings.logLevel);
  std::filesystem::create_directories(plan_.settings.dataDir);
  store::Options options;
  options.dataDir = plan_.settings.dataDir;
  options.durability = plan_.settings.durability;
  options.retentionDays = plan_.settings.retentionDays;
  store_ = store::openSqliteStore(options);
  Registry registry;
  registerAll(registry);
  channels::BuildContext ctx;
  ctx.configDir = plan_.settings.configFile.parent_path();
  ctx.dataDir = plan_.settings.dataDir;
  ctx.durability = plan_.settings.durability;
  ctx.io = &io_;
  ctx.sink = this;
  if (!buildPlan(plan_, registry, ctx, errors)) throw std::runtime_error(errors.joined());
  std::vector<std::string> scriptErrors;
  routing_ =
      buildRouting(plan_, static_cast<std::size_t>(plan_.settings.routeWorkers), scriptErrors);
  if (!routing_) {
    for (auto& e : scriptErrors) errors.add(std::move(e));
    throw std::runtime_error(errors.joined());
  }
  for (const auto& w : plan_.warnings) log::at(log::Level::kWarn, "config", "{}", w);
}

Engine::~Engine() {
  stop();
  // Listeners own sockets and timers on io_, and plan_ is declared before io_ (it would outlive
  // it): the channels go first, while io_ still exists.
  plan_.sources.clear();
}

void Engine::start() {
  if (started_) return;
  started_ = true;
  for (auto& d : plan_.destinations) {
    workers_.push_back(std::make_unique<DeliveryWorker>(d, *store_));
    workers_.back()->start();
  }
  // Route workers besides the router thread; none with route_workers = 1.
  routeWorkers_ =
      std::make_unique<RouteWorkers>(static_cast<std::size_t>(plan_.settings.routeWorkers - 1));
  router_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "sb-router");
    routeLoop();
  });
  work_.emplace(io_.get_executor());
  for (int i = 0; i < plan_.settings.ioThreads; ++i) {
    ioThreads_.emplace_back([this] {
      pthread_setname_np(pthread_self(), "sb-io");
      io_.run();
    });
  }
  for (auto& s : plan_.sources) {
    s.source->start();
    log::at(log::Level::kInfo, "engine", "channel {} listening: {}", s.name, s.source->describe());
  }
  log::at(log::Level::kInfo, "engine",
          "started: {} channel(s), {} destination(s), {} route(s), {} route worker(s), "
          "data in {}",
          plan_.sources.size(), plan_.destinations.size(), plan_.routes.routes().size(),
          plan_.settings.routeWorkers, plan_.settings.dataDir.string());
}

void Engine::stop() {
  if (!started_) {
    if (store_) store_->close();
    return;
  }
  started_ = false;
  for (auto& s : plan_.sources) s.source->stop();
  stopping_ = true;
  routerSignal_.notify();
  if (router_.joinable()) router_.join();
  routeWorkers_.reset();
  for (auto& w : workers_) w->stop();
  // Pending commits run their callbacks (ACKs) before the I/O threads go away.
  store_->close();
  work_.reset();
  io_.stop();
  for (auto& t : ioThreads_) t.join();
  ioThreads_.clear();
  log::at(log::Level::kInfo, "engine", "stopped");
}

void Engine::routeLoop() {
  store::Millis nextRetention = 0;
  std::vector<store::StoredMessage> batch;
  // As the delivery workers do: the next batch is routed while the previous one commits, read
  // from past the last message submitted until everything submitted is committed.
  store::MessageId after = 0;
  int batchesPastHead = 0;
  while (!stopping_) {
    if (routed_.takeFailure()) routerSignal_.wait(std::chrono::seconds(1));
    // Reprocessed messages come back into the inbox under their old, lower ids: under steady
    // load a batch is always in flight, so every few batches the router waits for its commits
    // and reads from the head again.
    if (++batchesPastHead >= kBatchesPastHead) {
      routed_.waitBelow(1);
      batchesPastHead = 0;
    }
    if (routed_.none()) {
      after = 0;
      batchesPastHead = 0;
    }
    try {
      const store::Millis now = store::nowMillis();
      if (now >= nextRetention) {
        const auto dropped = store_->applyRetention(now);
        if (dropped > 0) {
          log::at(log::Level::kInfo, "store", "retention dropped {} partition(s)", dropped);
        }
        nextRetention = now + kRetentionEveryMs;
      }
      batch = store_->takeForRouting(kRoutingBatch, after);
      if (batch.empty()) {
        routerSignal_.wait(kIdlePoll);
        if (!stopping_) std::this_thread::sleep_for(kLinger);
        continue;
      }
      routeBatch(batch);
      after = std::max(after, batch.back().summary.id);
      if (batch.size() < kRoutingBatch / 2) std::this_thread::sleep_for(kLinger);
    } catch (const std::exception& e) {
      log::at(log::Level::kError, "route", "routing failed: {}", e.what());
      routerSignal_.wait(std::chrono::seconds(1));
    }
  }
  // The commit callbacks wake delivery workers: they must have run before those stop.
  routed_.waitBelow(1);
}

void Engine::routeBatch(std::vector<store::StoredMessage>& batch) {
  {
    // A reload prepared by another thread takes effect between batches, so one batch is routed
    // entirely by one version of the routes.
    std::lock_guard lock(reloadMutex_);
    if (reloaded_) routing_ = std::move(reloaded_);
  }
  // Parallel map, ordered commit: the workers route the messages of the batch in any order,
  // each with its own pipeline, into their slots; the outcomes are then recorded in the batch's
  // order in one transaction, so every destination queue keeps the order of receipt.
  const Routing& routing = *routing_;
  std::vector<store::RoutingOutcome> outcomes(batch.size());
  routeWorkers_->run(batch.size(), [&](std::size_t worker, std::size_t i) {
    const store::StoredMessage& m = batch[i];
    store::RoutingOutcome& o = outcomes[i];
    o.messageId = m.summary.id;
    o.generation = m.summary.generation;
    routes::PipelineResult r = routing.pipelines.at(worker)->run(m.summary, m.raw);
    o.decisions = std::move(r.decisions);
    o.steps = std::move(r.steps);
    o.status = r.status;
    o.error = std::move(r.error);
    o.enqueue = std::move(r.enqueue);
  });
  std::vector<bool> wake(workers_.size(), false);
  for (const auto& o : outcomes) {
    if (o.status == store::MessageStatus::kError) {
      log::at(log::Level::kWarn, "route", "message {}: {}", o.messageId, o.error);
    }
    for (const auto& e : o.enqueue) {
      for (std::size_t i = 0; i < plan_.destinations.size(); ++i) {
        if (plan_.destinations[i].name == e.destination) wake[i] = true;
      }
    }
  }
  // The destinations hear of their new entries once they are committed.
  routed_.submit(
      kMaxInFlight,
      [&](store::MessageStore::DoneCallback done) {
        store_->submitRouting(std::move(outcomes), std::move(done));
      },
      "route", "recording routing outcomes failed (the messages will be routed again)",
      [this, wake = std::move(wake)] {
        for (std::size_t i = 0; i < workers_.size(); ++i) {
          if (wake[i]) workers_[i]->wake();
        }
      });
}

std::unique_ptr<Engine::Routing> Engine::buildRouting(const Plan& plan, std::size_t workers,
                                                      std::vector<std::string>& errors) {
  auto routing = std::make_unique<Routing>();
  routing->table = plan.routes;
  routes::PipelineOptions options = pipelineOptions(plan);
  // Outbound X12 control numbers come from the store: never reused, also across restarts.
  store::MessageStore* store = store_.get();
  options.controlNumbers = [store](std::string_view partner, std::string_view kind, int count) {
    return store->reserveControlNumbers(partner, kind, count);
  };
  // One pipeline (one Lua state) per route worker. The scripts are the same for all, so a load
  // error shows in the first and is reported once.
  for (std::size_t w = 0; w < std::max<std::size_t>(workers, 1); ++w) {
    routing->pipelines.push_back(std::make_unique<routes::Pipeline>(routing->table, options));
    if (!routing->pipelines.back()->load(errors)) return nullptr;
  }
  return routing;
}

bool Engine::reloadRoutes() {
  config::Errors errors;
  auto fresh = loadPlan(plan_.settings.configFile, {}, errors);
  if (fresh) {
    Registry registry;
    registerAll(registry);
    channels::BuildContext ctx;  // check mode: nothing binds, nothing opens
    ctx.configDir = fresh->settings.configFile.parent_path();
    ctx.dataDir = plan_.settings.dataDir;
    buildPlan(*fresh, registry, ctx, errors);
  }
  if (fresh && errors.empty()) {
    // Listeners and senders keep running as they are; only routes and scripts change here.
    for (const auto& d : fresh->destinations) {
      const bool known = std::any_of(plan_.destinations.begin(), plan_.destinations.end(),
                                     [&](const auto& p) { return p.name == d.name; });
      if (!known) {
        errors.add(
            fmt::format("destination '{}' is new: adding destinations needs a restart", d.name));
      }
    }
  }
  std::vector<std::string> scriptErrors;
  std::unique_ptr<Routing> routing;
  if (fresh && errors.empty()) {
    const std::size_t count = fresh->routes.routes().size();
    if (fresh->settings.routeWorkers != plan_.settings.routeWorkers) {
      log::at(log::Level::kWarn, "engine",
              "route_workers changed from {} to {}: takes effect at the next restart",
              plan_.settings.routeWorkers, fresh->settings.routeWorkers);
    }
    // As many pipelines as there are running route workers.
    routing =
        buildRouting(*fresh, static_cast<std::size_t>(plan_.settings.routeWorkers), scriptErrors);
    if (routing) {
      {
        std::lock_guard lock(reloadMutex_);
        reloaded_ = std::move(routing);
      }
      routerSignal_.notify();
      log::at(log::Level::kInfo, "engine", "routes reloaded from {}: {} route(s)",
              plan_.settings.configFile.string(), count);
      return true;
    }
  }
  for (const auto& e : scriptErrors) errors.add(e);
  log::at(log::Level::kError, "engine", "reload refused, the running routes stay:\n{}",
          errors.joined());
  return false;
}

}  // namespace sb::engine
