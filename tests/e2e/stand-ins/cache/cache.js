// Stand-in for actions/cache (restore in main, save in post), actions/cache/restore and
// actions/cache/save: a folder per key under STANDIN_CACHE_DIR. No dependencies (node20).
"use strict";
const { execFileSync } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");

function input(name) {
  const upper = name.toUpperCase();
  const value = process.env[`INPUT_${upper}`] ?? process.env[`INPUT_${upper.replace(/-/g, "_")}`] ?? "";
  return value.trim();
}

function lines(text) {
  return text.split("\n").map((line) => line.trim()).filter(Boolean);
}

function expand(p) {
  if (p === "~" || p.startsWith("~/")) return path.join(os.homedir(), p.slice(1));
  return path.resolve(process.env.GITHUB_WORKSPACE || process.cwd(), p);
}

function store() {
  const dir = process.env.STANDIN_CACHE_DIR;
  if (!dir) throw new Error("cache stand-in: STANDIN_CACHE_DIR is not set");
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

function slot(key) {
  return path.join(store(), encodeURIComponent(key));
}

function setOutput(name, value) {
  if (process.env.GITHUB_OUTPUT) fs.appendFileSync(process.env.GITHUB_OUTPUT, `${name}=${value}\n`);
}

function restore() {
  const key = input("key");
  if (!key) throw new Error("cache stand-in: input key is required");
  let matched = fs.existsSync(slot(key)) ? key : "";
  for (const prefix of lines(input("restore-keys"))) {
    if (matched) break;
    const candidates = fs
      .readdirSync(store())
      .map((name) => ({ key: decodeURIComponent(name), mtime: fs.statSync(path.join(store(), name)).mtimeMs }))
      .filter((entry) => entry.key.startsWith(prefix))
      .sort((a, b) => b.mtime - a.mtime);
    if (candidates.length) matched = candidates[0].key;
  }
  if (matched) {
    lines(input("path")).forEach((p, i) => {
      const archive = path.join(slot(matched), `${i}.tar`);
      if (!fs.existsSync(archive)) return;
      const target = expand(p);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      // Like the real action: extract the archive over whatever is there. Under act's host mode
      // parallel jobs (a matrix) share one tool cache, so one extraction at a time (flock).
      const lock = path.join(path.dirname(target), ".cache-stand-in.lock");
      execFileSync("flock", [lock, "tar", "-xf", archive, "-C", path.dirname(target)]);
    });
    console.log(`cache stand-in: restored ${matched}${matched === key ? "" : ` (prefix match for ${key})`}`);
  } else {
    console.log(`cache stand-in: no cache for ${key}`);
  }
  setOutput("cache-hit", matched === key ? "true" : "false");
  setOutput("cache-primary-key", key);
  setOutput("cache-matched-key", matched);
}

function save() {
  const key = input("key");
  if (!key) throw new Error("cache stand-in: input key is required");
  if (fs.existsSync(slot(key))) {
    console.log(`cache stand-in: ${key} exists; cache keys are immutable, not saving`);
    return;
  }
  const staging = fs.mkdtempSync(path.join(store(), ".staging-"));
  let saved = 0;
  lines(input("path")).forEach((p, i) => {
    const source = expand(p);
    if (fs.existsSync(source)) {
      const archive = path.join(staging, `${i}.tar`);
      execFileSync("tar", ["-cf", archive, "-C", path.dirname(source), path.basename(source)]);
      saved += 1;
    }
  });
  if (!saved) {
    fs.rmSync(staging, { recursive: true, force: true });
    console.log(`::warning::cache stand-in: path does not exist, nothing saved for ${key}`);
    return;
  }
  fs.renameSync(staging, slot(key));
  console.log(`cache stand-in: saved ${key}`);
}

module.exports = { restore, save };

if (require.main === module) {
  try {
    (process.argv[2] === "save" ? save : restore)();
  } catch (error) {
    console.log(`::error::${error.message}`);
    process.exitCode = 1;
  }
}
