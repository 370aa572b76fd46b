// rdb-dump: decodes RDeeBee's data directory for humans (docs/tools.md). Offline and read-only.
//
//   rdb-dump log FILE.log [--records] [--payloads] [--from-offset N]
//   rdb-dump sst FILE.sst [--entries]
//   rdb-dump manifest DIR_OR_FILE
//   rdb-dump dir DATA_DIR
#include <CLI/CLI.hpp>
#include <iostream>

#include "tools/rdb-dump/dump.h"

namespace rdb::dump {
namespace {

constexpr char kFooter[] = R"(Examples:
  rdb-dump dir ./data
  rdb-dump log ./data/log/0000000000000001.log --records
  rdb-dump sst ./data/index/000007.sst --entries
  rdb-dump manifest ./data
Exit codes: 0 the files decode cleanly; 1 they hold damage (bad frame, checksum mismatch, ...);
2 usage errors and files that cannot be read.
Formats: docs/formats/log.md, sstable.md, manifest.md; the tool: docs/tools.md.)";

int Main(int argc, char** argv) {
  CLI::App app{"rdb-dump: decodes RDeeBee's on-disk formats (offline, read-only).", "rdb-dump"};
  app.footer(kFooter);
  app.require_subcommand(1);

  std::string path;
  LogDumpOptions log;
  CLI::App* log_cmd = app.add_subcommand("log", "Decode an event log segment (<data>/log/*.log)");
  log_cmd->add_option("FILE", path, "The segment file")->required();
  log_cmd->add_flag("--records", log.records, "One line per record");
  log_cmd->add_flag("--payloads", log.payloads,
                    "Also one line per event with its payload, escaped (implies --records)");
  log_cmd->add_option("--from-offset", log.from_offset,
                      "Start at this byte offset instead of the first record (32)");
  log_cmd->add_option("--payload-bytes", log.payload_bytes,
                      "Shorten payloads to this many bytes (0 = never; default 64)");

  SstDumpOptions sst;
  CLI::App* sst_cmd = app.add_subcommand("sst", "Decode an SSTable (<data>/index/*.sst)");
  sst_cmd->add_option("FILE", path, "The table file")->required();
  sst_cmd->add_flag("--entries", sst.entries,
                    "Every entry, decoded through the engine's index layout (L / S / I keys)");

  CLI::App* manifest_cmd = app.add_subcommand(
      "manifest", "Decode the index manifest: every version edit, then the live tables");
  manifest_cmd
      ->add_option("PATH", path,
                   "A MANIFEST-* file, the index directory (follows CURRENT) or the data directory")
      ->required();

  CLI::App* dir_cmd = app.add_subcommand("dir", "Summarise a whole data directory");
  dir_cmd->add_option("DATA_DIR", path, "The server's --data-dir")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitError;
  }
  if (log_cmd->parsed()) return DumpLog(path, log, std::cout);
  if (sst_cmd->parsed()) return DumpSst(path, sst, std::cout);
  if (manifest_cmd->parsed()) return DumpManifest(path, std::cout);
  return DumpDir(path, std::cout);
}

}  // namespace
}  // namespace rdb::dump

int main(int argc, char** argv) { return rdb::dump::Main(argc, argv); }
