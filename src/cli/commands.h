// The `sluice` subcommands. Each Register* adds one subcommand (and its flags) to the
// app; the callback runs it and sets the process exit code through `*exit_code`.
#pragma once

#include <CLI/CLI.hpp>

namespace sluice::cli {

void RegisterBench(CLI::App* app, int* exit_code);
void RegisterWorker(CLI::App* app, int* exit_code);
void RegisterUp(CLI::App* app, int* exit_code);
void RegisterClientCommands(CLI::App* app, int* exit_code);  // ls, stat, cat, status
void RegisterCp(CLI::App* app, int* exit_code);
void RegisterMount(CLI::App* app, int* exit_code);  // mount, umount
void RegisterDataset(CLI::App* app, int* exit_code);  // load, free, pin, unpin

}  // namespace sluice::cli
