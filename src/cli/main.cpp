// The `basin` binary: parses the command line and runs one subcommand. Wiring only.
#include <cstdio>
#include <map>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"Basin: the AWS e-commerce data platform in one binary", "basin"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "basin 0.1.0");
  app.set_config("--config", "",
                 "Read options from a TOML/INI file: a [serve] section with the long option names "
                 "(port = 8080, data-dir = \"./basin-data\")");
  std::map<CLI::App*, basin::cli::CommandRunner> runners;
  auto add = [&](basin::cli::CommandRunner (*adder)(CLI::App&)) {
    size_t before = app.get_subcommands({}).size();
    auto runner = adder(app);
    runners[app.get_subcommands({}).at(before)] = std::move(runner);
  };
  add(basin::cli::AddServeCommand);
  add(basin::cli::AddSqlCommand);
  add(basin::cli::AddIngestCommand);
  add(basin::cli::AddPipelineCommand);
  add(basin::cli::AddQuarantineCommand);
  add(basin::cli::AddKeysCommand);
  add(basin::cli::AddWorkflowCommand);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  for (auto& [sub, runner] : runners) {
    if (sub->parsed()) return runner();
  }
  return 2;
}
