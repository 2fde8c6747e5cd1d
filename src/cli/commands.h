#pragma once

#include <CLI/CLI.hpp>

namespace basin::cli {

// Each subcommand registers its options on the app and returns the function that runs it; the
// function's return value is the process exit status.
using CommandRunner = std::function<int()>;

CommandRunner AddServeCommand(CLI::App& app);
CommandRunner AddSqlCommand(CLI::App& app);
CommandRunner AddIngestCommand(CLI::App& app);
// `basin ingest object`, registered by AddIngestCommand on its subcommand.
CommandRunner AddIngestObjectCommand(CLI::App& ingest);
CommandRunner AddPipelineCommand(CLI::App& app);
CommandRunner AddQuarantineCommand(CLI::App& app);
// `basin keys`: access keys of the AWS-compatible endpoint.
CommandRunner AddKeysCommand(CLI::App& app);
// `basin workflow run`: an ASL definition run once, locally.
CommandRunner AddWorkflowCommand(CLI::App& app);

}  // namespace basin::cli
