/**
 * `npm test` runs this first. The end-to-end tests need a JDK and Maven (a real Kafka broker and Connect
 * worker run on the JVM from Maven Central jars), redis-server (the Redis ledger) and Chromium (the
 * console's browser test), unless
 * KAFKA_BROKERS + KAFKA_CONNECT_URL and REDIS_URL point at running ones. Missing tools are installed
 * with apt-get when that is possible (root on Debian/Ubuntu); otherwise this says what to install.
 */
import { spawnSync } from "node:child_process";

const has = (command: string) => spawnSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" }).status === 0;
const needs: Array<{ command: string; pkg: string; unless?: string }> = [
  { command: "javac", pkg: "openjdk-17-jdk-headless", unless: "KAFKA_CONNECT_URL" },
  { command: "mvn", pkg: "maven", unless: "KAFKA_CONNECT_URL" },
  { command: "redis-server", pkg: "redis-server", unless: "REDIS_URL" },
  // The operator console's test drives a real browser (playwright-core needs one installed).
  { command: "chromium", pkg: "chromium", unless: "CHROMIUM" },
];
const missing = needs.filter((n) => !(n.unless && process.env[n.unless]) && !has(n.command));
if (missing.length === 0) process.exit(0);

const packages = missing.map((m) => m.pkg);
const root = process.getuid?.() === 0;
if (root && has("apt-get")) {
  console.log(`[prerequisites] installing ${packages.join(", ")} with apt-get (needed by the end-to-end tests)`);
  const run = (args: string[]) => spawnSync("apt-get", args, { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } }).status === 0;
  if (run(["update", "-qq"]) && run(["install", "-y", "-qq", ...packages])) process.exit(0);
}
console.error(
  `[prerequisites] missing: ${missing.map((m) => m.command).join(", ")}.\n` +
    `Install ${packages.join(" ")} (e.g. sudo apt-get install -y ${packages.join(" ")}), or point KAFKA_BROKERS and\n` +
    "KAFKA_CONNECT_URL at a running Kafka and Connect worker and REDIS_URL at a Redis server.",
);
process.exit(1);
