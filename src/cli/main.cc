// sluice: one binary for the worker, the local cluster and every client command.
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "common/logging.h"

int main(int argc, char** argv) {
  CLI::App app{"Sluice: a distributed read-through cache for AI data pipelines"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("sluice 0.1.0"));
  std::string log_level = "warn";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off")
      ->default_val("warn");
  app.parse_complete_callback([&] {
    if (!sluice::SetLogLevel(log_level)) {
      throw CLI::ValidationError("--log-level", "unknown level '" + log_level + "'");
    }
  });
  int exit_code = 0;
  sluice::cli::RegisterWorker(&app, &exit_code);
  sluice::cli::RegisterUp(&app, &exit_code);
  sluice::cli::RegisterClientCommands(&app, &exit_code);
  sluice::cli::RegisterCp(&app, &exit_code);
  sluice::cli::RegisterMount(&app, &exit_code);
  sluice::cli::RegisterDataset(&app, &exit_code);
  sluice::cli::RegisterBench(&app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 prints the help, the version or the error; its own exit codes (100-114) are
    // not ours: bad arguments exit 2, as documented (docs/cluster.md).
    return app.exit(e) == 0 ? 0 : 2;
  }
  return exit_code;
}
