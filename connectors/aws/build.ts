/**
 * `HANDLERS=./handlers.ts [ROUTES=./routes.json] npm run build:lambda` — the AWS Lambda function:
 *
 *   dist/lambda/index.mjs   one ES module for Lambda's Node.js runtime (nodejs20.x or later), exporting
 *                           `handler`, with the handler module and the routes file bundled in;
 *   dist/lambda/portside-lambda.zip   the same file, ready for `aws lambda update-function-code --zip-file`
 *                           or the SAM template beside this script (connectors/aws/template.yaml).
 *
 * Everything else is read from the function's environment when it runs (ORG_ID, PORT_CLIENT_ID, …).
 * `--out <dir>` writes elsewhere. Exits 2 with one line when the handler module or the routes file is wrong.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { zipSync } from "fflate";
import { HandlerModuleError } from "../../src/targets/registry.ts";
import { checkRoutes } from "../../src/targets/routes.ts";

const root = resolve(import.meta.dir, "../..");
const { values } = parseArgs({ args: Bun.argv.slice(2), options: { out: { type: "string" } } });
const outDir = resolve(values.out ?? join(root, "dist/lambda"));

function fail(message: string): never {
  console.error(`build:lambda: ${message}`);
  process.exit(2);
}

const handlersPath = process.env.HANDLERS?.trim() || null;
const routesPath = process.env.ROUTES?.trim() || null;
if (!handlersPath && !routesPath) fail("set HANDLERS (your handler module) and/or ROUTES (an EventBridge routes file) to bundle, e.g. HANDLERS=./handlers.ts");

// The routes file is read and checked now, so a bad file fails the build rather than the function.
let routes: unknown;
if (routesPath) {
  let text: string;
  try {
    text = readFileSync(resolve(routesPath), "utf8");
  } catch (error) {
    fail(`ROUTES: could not read ${routesPath}: ${(error as Error).message}`);
  }
  try {
    routes = /\.ya?ml$/i.test(routesPath) ? Bun.YAML.parse(text) : JSON.parse(text);
    checkRoutes(routes, routesPath);
  } catch (error) {
    fail(error instanceof HandlerModuleError ? error.message : `ROUTES: ${routesPath} is not valid: ${(error as Error).message}`);
  }
}

const work = mkdtempSync(join(tmpdir(), "portside-lambda-"));
try {
  const entry = join(work, "entry.ts");
  const spec = (path: string) => JSON.stringify(isAbsolute(path) ? path : resolve(path));
  writeFileSync(
    entry,
    [
      `import { createLambdaHandler } from ${JSON.stringify(join(root, "src/entry/lambda.ts"))};`,
      handlersPath ? `import * as handlers from ${spec(handlersPath)};` : "",
      "export const handler = createLambdaHandler({",
      handlersPath ? `  handlers, handlersSource: ${JSON.stringify(relative(process.cwd(), resolve(handlersPath)))},` : "",
      routesPath ? `  routes: ${JSON.stringify(routes)}, routesSource: ${JSON.stringify(routesPath)},` : "",
      "});",
      "",
    ].join("\n"),
  );
  const result = await Bun.build({ entrypoints: [entry], target: "node", format: "esm", minify: { syntax: true, whitespace: true }, sourcemap: "none" });
  if (!result.success) fail(`could not bundle: ${result.logs.map((log) => String(log.message ?? log)).join("; ")}`);
  const output = result.outputs[0];
  if (!output || result.outputs.length !== 1) fail(`expected one bundle, got ${result.outputs.length} files`);
  const code = new Uint8Array(await output.arrayBuffer());
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, "index.mjs"), code);
  writeFileSync(join(outDir, "portside-lambda.zip"), zipSync({ "index.mjs": [code, { level: 9 }] }));
  console.log(
    `build:lambda: ${relative(process.cwd(), join(outDir, "index.mjs"))} (${(code.length / 1024).toFixed(0)} KiB) and portside-lambda.zip; handler "index.handler"`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
