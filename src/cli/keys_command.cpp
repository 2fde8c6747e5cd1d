// `basin keys create|list|delete|deactivate|activate`: the access keys that sign requests to the
// AWS-compatible endpoint (`basin serve --aws-port`). They live in the catalog (basin.db), so a
// key made here while a server runs works at once: the server looks keys up in the catalog.
#include <cstdio>

#include "base/logging.h"
#include "base/time_format.h"
#include "catalog/catalog.h"
#include "cli/commands.h"

namespace basin::cli {
namespace {

struct KeysOptions {
  std::string data_dir = "./basin-data";
  std::string user;
  std::string access_key_id;
};

Result<std::unique_ptr<catalog::Catalog>> OpenCatalog(const KeysOptions& opts) {
  SetLogLevel(LogLevel::kError);
  return catalog::Catalog::Open(opts.data_dir + "/basin.db");
}

int Fail(const char* command, const Status& status) {
  std::fprintf(stderr, "basin keys %s: %s\n", command, status.ToString().c_str());
  return 1;
}

// Prints "ACCESS_KEY_ID SECRET_ACCESS_KEY" on one line, nothing else, for scripts.
int Create(const KeysOptions& opts) {
  auto catalog = OpenCatalog(opts);
  if (!catalog.ok()) return Fail("create", catalog.status());
  auto key = (*catalog)->CreateAccessKey(opts.user);
  if (!key.ok()) return Fail("create", key.status());
  std::printf("%s %s\n", key->access_key_id.c_str(), key->secret.c_str());
  return 0;
}

int List(const KeysOptions& opts) {
  auto catalog = OpenCatalog(opts);
  if (!catalog.ok()) return Fail("list", catalog.status());
  auto keys = (*catalog)->ListAccessKeys();
  if (!keys.ok()) return Fail("list", keys.status());
  std::printf("%-20s %-24s %-8s %s\n", "ACCESS_KEY_ID", "USER", "STATUS", "CREATED");
  for (const catalog::AccessKey& k : *keys) {
    std::printf("%-20s %-24s %-8s %s\n", k.access_key_id.c_str(), k.user_name.c_str(),
                k.active ? "active" : "inactive", FormatIso8601Millis(k.created_time_us).c_str());
  }
  return 0;
}

int Delete(const KeysOptions& opts) {
  auto catalog = OpenCatalog(opts);
  if (!catalog.ok()) return Fail("delete", catalog.status());
  Status deleted = (*catalog)->DeleteAccessKey(opts.access_key_id);
  if (!deleted.ok()) return Fail("delete", deleted);
  std::printf("deleted %s\n", opts.access_key_id.c_str());
  return 0;
}

int SetActive(const KeysOptions& opts, bool active) {
  const char* command = active ? "activate" : "deactivate";
  auto catalog = OpenCatalog(opts);
  if (!catalog.ok()) return Fail(command, catalog.status());
  Status changed = (*catalog)->SetAccessKeyActive(opts.access_key_id, active);
  if (!changed.ok()) return Fail(command, changed);
  std::printf("%s %s\n", active ? "activated" : "deactivated", opts.access_key_id.c_str());
  return 0;
}

}  // namespace

CommandRunner AddKeysCommand(CLI::App& app) {
  auto opts = std::make_shared<KeysOptions>();
  CLI::App* sub =
      app.add_subcommand("keys", "Manage access keys for the AWS-compatible endpoint (SigV4)");
  sub->require_subcommand(1);
  CLI::App* create =
      sub->add_subcommand("create", "Create a key for a user; prints ACCESS_KEY_ID SECRET");
  create->add_option("--user", opts->user, "The user the key acts for")->required();
  CLI::App* list = sub->add_subcommand("list", "List the keys (secrets are not shown)");
  CLI::App* remove = sub->add_subcommand("delete", "Delete a key for good");
  CLI::App* deactivate = sub->add_subcommand("deactivate", "Stop a key from signing requests");
  CLI::App* activate = sub->add_subcommand("activate", "Let a deactivated key sign again");
  for (CLI::App* s : {remove, deactivate, activate}) {
    s->add_option("access_key_id", opts->access_key_id, "The key id (AKIA...)")->required();
  }
  for (CLI::App* s : {create, list, remove, deactivate, activate}) {
    s->add_option("--data-dir", opts->data_dir, "Data directory")->capture_default_str();
  }
  return [opts, create, list, remove, activate]() -> int {
    if (create->parsed()) return Create(*opts);
    if (list->parsed()) return List(*opts);
    if (remove->parsed()) return Delete(*opts);
    return SetActive(*opts, activate->parsed());
  };
}

}  // namespace basin::cli
