#!/usr/bin/env node
// Runs the independent Amazon States Language linter `asl-validator` (npm, pinned by
// package-lock.json next to this file, installed by scripts/setup.sh) over every *.asl.json file
// under the repository root. ctest runs it as `lint.asl_validator`.
//
//   node tests/lint/lint_asl.js [--root DIR] [--self-check FILE] [FILE...]
//
// With no FILE arguments it walks --root (default: the repository holding this script) and fails
// when it finds no *.asl.json file at all, so an empty or moved workflows/ folder cannot pass in
// silence. --self-check FILE first runs the cases in FILE (a JSON array of {name, expect:
// "valid"|"invalid", definition}) and fails unless the linter gives each its expected verdict:
// proof that the linter really runs and really rejects bad definitions.
//
// Why the library and not its CLI: asl-validator 4.0.0's CLI exits 0 on a --json-definition that
// is not JSON, and ignores --no-arn-check (commander names the option `arnCheck`, the CLI reads
// `noArnCheck`). The library call below runs every check, ARN and path checks included.
//
// Basin-native task resources (`arn:basin:states:::landing:sweep`, ...) are Basin's documented
// extension and not AWS ARNs; the linter's ARN pattern accepts only the aws, aws-cn and
// aws-us-gov partitions. They are checked as if their partition were `aws` (same syntax rules),
// and the output says how many were.
"use strict";

const fs = require("fs");
const path = require("path");

const LINT_DIR = __dirname;
const SKIPPED_DIRS = new Set([".git", "node_modules", "third_party", "basin-data"]);

function fail(message) {
  console.error(`lint_asl: ${message}`);
  process.exit(2);
}

function loadValidator() {
  const modules = path.join(LINT_DIR, "node_modules");
  let validator;
  let version;
  try {
    validator = require(path.join(modules, "asl-validator"));
    version = require(path.join(modules, "asl-validator", "package.json")).version;
  } catch (err) {
    fail(`asl-validator is not installed in ${modules} (run scripts/setup.sh): ${err.message}`);
  }
  const pinned = require(path.join(LINT_DIR, "package.json")).devDependencies["asl-validator"];
  if (version !== pinned) {
    fail(`asl-validator ${version} is installed, package.json pins ${pinned}: run scripts/setup.sh`);
  }
  return { validator, version };
}

// Every *.asl.json below root, skipping dependencies, VCS data and build trees (build*/).
function findAslFiles(root) {
  const found = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (SKIPPED_DIRS.has(entry.name) || /^build([-_.].*)?$/.test(entry.name)) continue;
        walk(full);
      } else if (entry.isFile() && entry.name.endsWith(".asl.json")) {
        found.push(full);
      }
    }
  };
  walk(root);
  return found.sort();
}

// A copy of the definition with every `arn:basin:` Resource given the `aws` partition.
function withBasinResourcesAsAws(value, counter) {
  if (Array.isArray(value)) return value.map((v) => withBasinResourcesAsAws(v, counter));
  if (value === null || typeof value !== "object") return value;
  const copy = {};
  for (const [key, v] of Object.entries(value)) {
    if (key === "Resource" && typeof v === "string" && v.startsWith("arn:basin:")) {
      counter.count += 1;
      copy[key] = "arn:aws:" + v.slice("arn:basin:".length);
    } else {
      copy[key] = withBasinResourcesAsAws(v, counter);
    }
  }
  return copy;
}

// {valid, errors: [text], basinResources}
function lint(validator, definition) {
  if (definition === null || typeof definition !== "object" || Array.isArray(definition)) {
    return { valid: false, errors: ["the definition is not a JSON object"], basinResources: 0 };
  }
  const counter = { count: 0 };
  const prepared = withBasinResourcesAsAws(definition, counter);
  const result = validator(prepared, { checkPaths: true, checkArn: true });
  const errors = result.isValid ? [] : result.errors.map((e) => `${e["Error code"]}: ${e.Message}`);
  return { valid: result.isValid, errors, basinResources: counter.count };
}

function lintFile(validator, file) {
  let definition;
  try {
    definition = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    return { valid: false, errors: [`not valid JSON: ${err.message}`], basinResources: 0 };
  }
  return lint(validator, definition);
}

function runSelfCheck(validator, file) {
  const cases = JSON.parse(fs.readFileSync(file, "utf8"));
  if (!Array.isArray(cases) || cases.length === 0) fail(`${file}: expected a non-empty array`);
  let wrong = 0;
  for (const c of cases) {
    const r = lint(validator, c.definition);
    const verdict = r.valid ? "valid" : "invalid";
    const ok = verdict === c.expect;
    if (!ok) wrong += 1;
    const detail = r.errors.length ? ` (${r.errors[0]})` : "";
    console.log(`${ok ? "ok  " : "FAIL"} self-check "${c.name}": ${verdict}, expected ${c.expect}${detail}`);
  }
  return wrong;
}

function main() {
  const args = process.argv.slice(2);
  let root = path.resolve(LINT_DIR, "..", "..");
  let selfCheck = null;
  const files = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--root") root = path.resolve(args[++i]);
    else if (args[i] === "--self-check") selfCheck = path.resolve(args[++i]);
    else if (args[i].startsWith("--")) fail(`unknown option ${args[i]}`);
    else files.push(path.resolve(args[i]));
  }
  const { validator, version } = loadValidator();
  console.log(`asl-validator ${version} (JSON schema + path/JSONata syntax, ARNs, transitions)`);

  let failures = 0;
  if (selfCheck) failures += runSelfCheck(validator, selfCheck);

  const targets = files.length ? files : findAslFiles(root);
  if (targets.length === 0) {
    console.error(`FAIL no *.asl.json file under ${root}`);
    process.exit(1);
  }
  let basinResources = 0;
  for (const file of targets) {
    const r = lintFile(validator, file);
    basinResources += r.basinResources;
    const name = path.relative(root, file) || file;
    if (r.valid) {
      console.log(`ok   ${name}`);
    } else {
      failures += 1;
      console.log(`FAIL ${name}`);
      for (const e of r.errors) console.log(`       ${e}`);
    }
  }
  console.log(
    `${targets.length} ASL file(s) linted, ${basinResources} arn:basin: resource(s) checked ` +
      `as arn:aws:; ${failures} failure(s)`
  );
  process.exit(failures ? 1 : 0);
}

main();
