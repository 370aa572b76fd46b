// rdb-sink-postgres: keeps a PostgreSQL table up to date from an RDeeBee subscription — the query
// side fed by the command side (CONTRACT.md "rdb-sink-postgres", docs/sink-postgres.md).
//
//   rdb-sink-postgres --dsn postgresql://app@127.0.0.1/app --table accounts --prefix account/
//
// Exit codes: 0 stopped by SIGTERM/SIGINT; 1 stopped at a change it cannot apply (a payload that
// does not fit the value type, a key that is not text); 2 anything else (usage, bad DSN, database
// unreachable at start, wrong table shape, a subscription the server refuses, a change the audit
// table says was applied already).
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <thread>

#include "client/client.h"
#include "tools/rdb-sink-postgres/sink.h"
#include "tools/rdb-sink-postgres/store.h"

namespace rdb::sink {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitStoppedAtChange = 1;
constexpr int kExitError = 2;

constexpr char kFooter[] = R"(Table: key text primary key, value <type>, version bigint, seq bigint,
updated_at timestamptz; the position lives in rdeebee_sink_positions(sink, seq), committed in the
same transaction as the changes, so every change is applied exactly once across crashes.
Server: --server HOST:PORT, else SERVER_IP / SERVER_PORT, else 127.0.0.1:2048.
Exit codes: 0 stopped by SIGTERM/SIGINT; 1 stopped at a change that does not fit; 2 other errors.
Example:
  rdb-sink-postgres --dsn "postgresql://postgres@127.0.0.1:5432/app" --table accounts \
    --prefix account/ --value-type jsonb
)";

int Fail(const std::string& message, int code) {
  spdlog::error("{}", message);
  return code;
}

int Main(int argc, char** argv) {
  CLI::App app{
      "rdb-sink-postgres: keeps a PostgreSQL table up to date from RDeeBee's change stream.",
      "rdb-sink-postgres"};
  app.footer(kFooter);
  std::string server, dsn, table, name, value_type = "text", audit_table, trace_level = "info";
  SinkOptions so;
  app.add_option("--server", server, "HOST:PORT of the RDeeBee server");
  app.add_option("--dsn", dsn,
                 "PostgreSQL connection string (libpq keyword or postgresql:// URI form)")
      ->required();
  app.add_option("--table", table, "The table to maintain (created if missing)")->required();
  app.add_option("--name", name,
                 "The sink's name, its row in rdeebee_sink_positions (default: "
                 "the table name)");
  app.add_option("--prefix", so.prefixes, "Only keys with this prefix (repeatable, OR'ed)");
  app.add_option("--type", so.types, "Only events of this type (repeatable, OR'ed)");
  app.add_option("--value-type", value_type, "Type of the value column (default text)")
      ->check(CLI::IsMember({"text", "jsonb", "bytea"}));
  app.add_option("--audit-table", audit_table,
                 "Also insert every applied seq into this table (seq bigint primary key, key "
                 "text): a change applied twice fails loudly");
  app.add_option("--batch-max", so.batch_max, "At most N changes per transaction (default 1000)")
      ->check(CLI::Range(size_t{1}, size_t{100000}));
  app.add_option("--batch-ms", so.batch_ms,
                 "Commit a received change within this many ms (default 50)")
      ->check(CLI::Range(0, 60000));
  app.add_option("--trace-level", trace_level,
                 "trace, debug, info (default), warn, error or off (any case)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitError;
  }
  std::transform(trace_level.begin(), trace_level.end(), trace_level.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto level = spdlog::level::from_str(trace_level);
  if (level == spdlog::level::off && trace_level != "off") {
    std::cerr
        << "rdb-sink-postgres: --trace-level must be trace, debug, info, warn, error or off\n";
    return kExitError;
  }
  spdlog::set_default_logger(spdlog::stderr_color_mt("rdb-sink-postgres"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ rdb-sink-postgres: %v");
  spdlog::set_level(level);

  so.server = server.empty() ? client::DefaultServerAddress() : server;
  StoreOptions st;
  st.table = table;
  st.sink_name = name.empty() ? table : name;
  st.value_type = ParseValueType(value_type).value();
  st.audit_table = audit_table;

  // Block the stop signals before any thread starts; one thread waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // libpq otherwise waits for an unreachable host as long as TCP does.
  setenv("PGCONNECT_TIMEOUT", "10", /*overwrite=*/0);
  auto store = PgStore::Open(dsn, st);
  if (!store.ok()) return Fail(store.status().message(), kExitError);
  spdlog::info("table {} ({}), sink {} at position {}; following {}", st.table, value_type,
               st.sink_name, (*store)->position(), so.server);

  Sink sink(so, std::move(store).value());
  std::atomic<bool> done{false};
  std::thread signals([&] {
    timespec tick{0, 200 * 1000 * 1000};
    while (!done.load()) {
      int sig = sigtimedwait(&stop_signals, nullptr, &tick);
      if (sig > 0) {
        spdlog::info("signal {}: committing and stopping", sig);
        sink.Stop();
        return;
      }
    }
  });
  ApplyError stopped_at;
  Status s = sink.Run(&stopped_at);
  done = true;
  signals.join();
  if (s.ok()) {
    spdlog::info("stopped at position {}", sink.store().position());
    return kExitOk;
  }
  return Fail(s.message(), s.code() == Code::kInvalidArgument && stopped_at.seq != 0
                               ? kExitStoppedAtChange
                               : kExitError);
}

}  // namespace
}  // namespace rdb::sink

int main(int argc, char** argv) { return rdb::sink::Main(argc, argv); }
