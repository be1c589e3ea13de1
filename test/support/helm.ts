import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { cacheRoot } from "../../connectors/local/jars.ts";

/**
 * The `helm` binary for the chart's tests: `HELM` when set, `helm` on PATH, or one built once from the Go
 * module proxy (`go install helm.sh/helm/v3/cmd/helm@HELM_VERSION`) into portside's cache, beside the
 * Kafka jars. Throws (never skips) when none is found and Go is missing.
 */
export const HELM_VERSION = "v3.22.0";

let found: string | undefined;

export function getHelm(): string {
  found ??= locate();
  return found;
}

function locate(): string {
  if (process.env.HELM) return process.env.HELM;
  const onPath = Bun.which("helm");
  if (onPath) return onPath;
  const bin = join(cacheRoot(), "helm", HELM_VERSION);
  const helm = join(bin, "helm");
  if (existsSync(helm)) return helm;
  const go = Bun.which("go");
  if (!go) throw new Error("NO HELM FOR THE CHART TESTS: helm is not on PATH and Go is not installed to build it. Install helm, or Go, or set HELM.");
  mkdirSync(bin, { recursive: true });
  console.log(`[helm] building helm ${HELM_VERSION} from the Go module proxy into ${bin} (once; it takes a few minutes)`);
  const built = spawnSync(go, ["install", `helm.sh/helm/v3/cmd/helm@${HELM_VERSION}`], {
    env: { ...process.env, GOBIN: bin },
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (built.status !== 0 || !existsSync(helm)) throw new Error(`NO HELM FOR THE CHART TESTS: go install helm.sh/helm/v3/cmd/helm@${HELM_VERSION} failed`);
  return helm;
}
