#!/usr/bin/env node
// `portside`: runs portside's command line (src/entry/cli.ts) on the Bun that was installed with this package
// (the `bun` npm package, a dependency of portside), never one found on PATH. Arguments, standard streams,
// SIGINT/SIGTERM/SIGHUP and the exit code pass through; a run that Bun ends by a signal ends this process
// by the same signal. Plain Node.js, no dependencies.
import { spawn } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { constants } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, "..", "src", "entry", "cli.ts");

/** A file big enough to be Bun itself: before Bun's postinstall runs, bun/bin/bun.exe is a 450-byte placeholder script. */
const isBinary = (path) => {
  try {
    return statSync(path).size > 1_000_000;
  } catch {
    return false;
  }
};

/** libc of this Linux: musl when Node was built without glibc (Alpine). */
const isMusl = () => {
  try {
    return !process.report.getReport().header.glibcVersionRuntime;
  } catch {
    return existsSync("/etc/alpine-release");
  }
};

/**
 * Bun's binary, resolved from portside's own location: the `bun` package's bin/bun.exe once its postinstall
 * has put the binary there, else the binary in its platform package (@oven/bun-<os>-<arch>, installed as an
 * optional dependency; still in place when scripts were not run, `npm install --ignore-scripts`).
 */
function findBun() {
  const fromPortside = createRequire(join(here, "..", "package.json"));
  let bunPackage;
  try {
    bunPackage = fromPortside.resolve("bun/package.json");
  } catch {
    return { error: "the `bun` package is not installed beside portside (it is a dependency of portside); run `npm install` again" };
  }
  const installed = join(dirname(bunPackage), "bin", "bun.exe");
  if (isBinary(installed)) return { path: installed };

  const os = { win32: "windows", darwin: "darwin", linux: "linux", freebsd: "freebsd", android: "linux" }[process.platform];
  const arch = { x64: "x64", arm64: "aarch64" }[process.arch];
  const exe = process.platform === "win32" ? "bun.exe" : "bun";
  const suffixes = process.platform === "android" ? ["-android"] : process.platform === "linux" ? (isMusl() ? ["-musl", ""] : ["", "-musl"]) : [""];
  const fromBun = createRequire(bunPackage);
  for (const suffix of suffixes) {
    try {
      const candidate = join(dirname(fromBun.resolve(`@oven/bun-${os}-${arch}${suffix}/package.json`)), "bin", exe);
      if (isBinary(candidate)) return { path: candidate };
    } catch {
      // not installed for this platform; try the next
    }
  }
  return {
    error:
      `Bun's binary is not installed for ${process.platform}-${process.arch} (${installed} is a placeholder and no @oven/bun-${os ?? process.platform}-${arch ?? process.arch} package has it); ` +
      "install without --ignore-scripts and without --omit=optional, or run `node node_modules/bun/install.js`",
  };
}

const bun = findBun();
if (bun.error) {
  console.error(`portside: ${bun.error}`);
  process.exit(1);
}

// PORTSIDE_COMMAND: the commands portside suggests read `npx portside …` (src/entry/cli-name.ts).
const child = spawn(bun.path, [cli, ...process.argv.slice(2)], { stdio: "inherit", env: { ...process.env, PORTSIDE_COMMAND: "npx portside" } });
const forwarded = ["SIGINT", "SIGTERM", "SIGHUP"];
const forward = (signal) => {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
};
for (const signal of forwarded) process.on(signal, forward);

child.on("error", (error) => {
  console.error(`portside: could not run Bun at ${bun.path}: ${error.message}`);
  process.exit(1);
});
child.on("exit", (code, signal) => {
  for (const s of forwarded) process.off(s, forward);
  if (signal) {
    // Ended by a signal: end the same way, so that whoever started portside sees what happened.
    process.kill(process.pid, signal);
    // A signal this process ignores or cannot take: the shell's convention instead.
    setTimeout(() => process.exit(128 + (constants.signals[signal] ?? 0)), 100);
    return;
  }
  process.exit(code ?? 1);
});
