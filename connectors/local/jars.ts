import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { sleep } from "./jvm.ts";

/**
 * Kafka 3.9.x for broker and Connect alike. Why not 4.x:
 * - the Camel Kafka connectors (4.14.x LTS, 4.10.x) are built and tested against Kafka 3.9.1 / 3.7.1,
 *   so a worker meant to host them in production should stay on 3.9;
 * - one version for both keeps a single classpath (kafka_2.13 and connect-runtime share kafka-clients);
 * - 3.9 still runs KRaft single-node exactly like 4.x for our purposes.
 * 3.9.2 is the newest 3.9 patch the Maven mirror serves (connect-runtime 3.9.1 is not served).
 * slf4j-reload4j 1.7.36 matches the slf4j-api 1.7.36 that Kafka 3.9 pulls in; the Kafka POMs bring
 * reload4j itself but no binding, and without one every log line would be lost.
 */
export const KAFKA_VERSION = "3.9.2";
const SLF4J_VERSION = "1.7.36";

/** Class of the stand-in HTTP sink compiled from ./http-sink (see connectors/README.md for why). */
export const HTTP_SINK_CONNECTOR_CLASS = "portside.connect.httpsink.HttpSinkConnector";

export interface Jars {
  /** Broker and Connect runtime jars: the JVM classpath. */
  libDir: string;
  /** Connect plugin.path: one sub-directory per plugin, never on the classpath. */
  pluginPath: string;
}

export function cacheRoot(): string {
  const base = process.env.PORTSIDE_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "portside");
  return join(base, `kafka-${KAFKA_VERSION}`);
}

/** Makes sure the jars are cached (downloading and compiling once) and returns where they are. */
export async function ensureJars(): Promise<Jars> {
  const root = cacheRoot();
  const libDir = join(root, "lib");
  await ensureDir(libDir, "fetching Kafka jars from Maven Central", fetchKafkaJars);
  const sourceDir = fileURLToPath(new URL("./http-sink/src", import.meta.url));
  const pluginPath = join(root, `plugins-${sourceDigest(sourceDir)}`);
  await ensureDir(pluginPath, "compiling the stand-in HTTP sink plugin", (dir) => buildHttpSinkPlugin(sourceDir, libDir, dir));
  return { libDir, pluginPath };
}

function pom(): string {
  const dep = (g: string, a: string, v: string) => `<dependency><groupId>${g}</groupId><artifactId>${a}</artifactId><version>${v}</version></dependency>`;
  return `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.portside</groupId><artifactId>kafka-jars</artifactId><version>0</version><packaging>pom</packaging>
  <dependencies>
    ${dep("org.apache.kafka", "kafka_2.13", KAFKA_VERSION)}
    ${dep("org.apache.kafka", "connect-runtime", KAFKA_VERSION)}
    ${dep("org.apache.kafka", "connect-json", KAFKA_VERSION)}
    ${dep("org.slf4j", "slf4j-reload4j", SLF4J_VERSION)}
  </dependencies>
</project>
`;
}

async function fetchKafkaJars(target: string): Promise<void> {
  const work = `${target}.pom`;
  mkdirSync(work, { recursive: true });
  writeFileSync(join(work, "pom.xml"), pom());
  await run("mvn", ["-q", "-B", "-f", join(work, "pom.xml"), "dependency:copy-dependencies", "-DincludeScope=runtime", `-DoutputDirectory=${target}`]);
  rmSync(work, { recursive: true, force: true });
}

async function buildHttpSinkPlugin(sourceDir: string, libDir: string, target: string): Promise<void> {
  const classes = `${target}.classes`;
  mkdirSync(classes, { recursive: true });
  const sources = listFiles(sourceDir).filter((f) => f.endsWith(".java"));
  await run("javac", ["--release", "17", "-nowarn", "-d", classes, "-cp", join(libDir, "*"), ...sources]);
  cpSync(join(sourceDir, "META-INF"), join(classes, "META-INF"), { recursive: true });
  mkdirSync(join(target, "portside-http-sink"), { recursive: true });
  await run("jar", ["cf", join(target, "portside-http-sink", "portside-http-sink.jar"), "-C", classes, "."]);
  rmSync(classes, { recursive: true, force: true });
}

/**
 * Builds `dir` once. Another process building the same dir waits on the lock file instead of
 * downloading twice; the build happens in a scratch dir renamed into place, so a crash half-way
 * never leaves a dir that looks complete.
 */
async function ensureDir(dir: string, what: string, build: (scratch: string) => Promise<void>): Promise<void> {
  if (existsSync(dir)) return;
  mkdirSync(dirname(dir), { recursive: true });
  const lock = `${dir}.lock`;
  while (!tryLock(lock)) {
    if (existsSync(dir)) return;
    await sleep(500);
  }
  try {
    if (existsSync(dir)) return;
    console.error(`portside: ${what} into ${dir} (once per version)`);
    const scratch = `${dir}.tmp-${process.pid}`;
    rmSync(scratch, { recursive: true, force: true });
    try {
      await build(scratch);
      renameSync(scratch, dir);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  } finally {
    rmSync(lock, { force: true });
  }
}

const STALE_LOCK_MS = 10 * 60_000;

function tryLock(path: string): boolean {
  try {
    closeSync(openSync(path, "wx"));
    return true;
  } catch {
    // A holder killed mid-download never removes its lock; past any sane download time it is stale.
    try {
      if (Date.now() - statSync(path).mtimeMs > STALE_LOCK_MS) rmSync(path, { force: true });
    } catch {
      // Removed by its holder in the meantime: the next round takes it.
    }
    return false;
  }
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const path = join(dir, entry.name);
      return entry.isDirectory() ? listFiles(path) : [path];
    })
    .sort();
}

function sourceDigest(dir: string): string {
  const hash = createHash("sha256").update(KAFKA_VERSION);
  for (const file of listFiles(dir)) hash.update(relative(dir, file)).update(readFileSync(file));
  return hash.digest("hex").slice(0, 12);
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", (error) => reject(new Error(`cannot run ${command} (a JDK 17+ and Maven must be on PATH): ${error.message}`)));
    child.once("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.slice(0, 4).join(" ")} … failed (exit ${code}):\n${output.slice(-4000)}`)),
    );
  });
}

if (import.meta.main) {
  const jars = await ensureJars();
  console.log(`lib: ${jars.libDir}\nplugin.path: ${jars.pluginPath}`);
}
