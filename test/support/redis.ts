import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";

/**
 * A Redis for tests, found in this order:
 *   1. `REDIS_URL` when set (CI services, a developer's own Redis);
 *   2. `redis-server` from PATH, started on a free loopback port with persistence off, in a temp dir;
 *   3. a `redis:7` container through testcontainers, when a container runtime answers;
 *   4. otherwise an Error that says how to get one. Tests that need Redis fail; they are never skipped.
 * One Redis per test process (the promise is shared); a spawned server is killed when the process exits.
 */
export interface TestRedis {
  url: string;
  via: "env" | "local" | "testcontainers";
}

let shared: Promise<TestRedis> | undefined;

export function getRedis(): Promise<TestRedis> {
  shared ??= find();
  return shared;
}

async function find(): Promise<TestRedis> {
  const fromEnv = process.env.REDIS_URL;
  if (fromEnv) return { url: fromEnv, via: "env" };
  const binary = Bun.which("redis-server");
  if (binary) return { url: await startLocal(binary), via: "local" };
  const container = await startContainer();
  if (container) return { url: container, via: "testcontainers" };
  throw new Error(
    "NO REDIS FOR THE REDIS TESTS: REDIS_URL is not set, redis-server is not on PATH, and no container runtime " +
      "(Docker/Podman) answered for testcontainers. Fix: install Redis (`apt-get install -y redis-server`, " +
      "`brew install redis`) so the tests can start their own, or set REDIS_URL=redis://127.0.0.1:6379 to use one you run.",
  );
}

/**
 * redis-server runs under a small shell watchdog that holds the read end of a pipe from this process:
 * however this process ends (bun test runs no exit handlers; a crash or SIGKILL runs nothing at all),
 * the pipe closes and the watchdog stops the server and removes its directory. The shell exits when
 * the server does.
 */
const watchdog = `exec 3<&0
"$0" "$@" </dev/null &
pid=$!
(read _ <&3; kill $pid 2>/dev/null; rm -rf "$REDIS_TEST_DIR") &
wait $pid`;

async function startLocal(binary: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "portside-redis-"));
  let lastError = "";
  // A free port can be taken between probing and binding; try a few.
  for (let tries = 0; tries < 5; tries++) {
    const port = await freePort();
    const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir];
    const child = spawn("/bin/sh", ["-c", watchdog, binary, ...args], {
      stdio: ["pipe", "ignore", "pipe"],
      env: { ...process.env, REDIS_TEST_DIR: dir },
    });
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const url = `redis://127.0.0.1:${port}`;
    if (await ready(url, child)) {
      child.stderr?.destroy();
      // Neither the watchdog nor its pipe may keep the test process alive.
      (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
      child.unref();
      return url;
    }
    child.stdin?.end();
    lastError = stderr.trim();
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`redis-server (${binary}) would not start on a loopback port: ${lastError || "no output"}`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** Pings until the server answers, it exits, or 10 s pass. */
async function ready(url: string, child: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && child.exitCode === null) {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on("error", () => {});
    try {
      await probe.connect();
      if ((await probe.ping()) === "PONG") return true;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      probe.disconnect();
    }
  }
  return false;
}

async function startContainer(): Promise<string | undefined> {
  const { GenericContainer, getContainerRuntimeClient } = await import("testcontainers");
  try {
    await getContainerRuntimeClient();
  } catch {
    return undefined;
  }
  const container = await new GenericContainer("redis:7").withExposedPorts(6379).withCommand(["redis-server", "--save", "", "--appendonly", "no"]).start();
  // The testcontainers reaper removes the container when this process ends.
  return `redis://${container.getHost()}:${container.getMappedPort(6379)}`;
}
