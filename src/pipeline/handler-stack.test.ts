import { expect, test } from "bun:test";
import { createRedactor } from "../messages/redact.ts";
import { handlerStack } from "./handler-stack.ts";

const work = new URL("./work.ts", import.meta.url).pathname;

test("the frames above portside's call, the message line left out, the run's secret inputs redacted", () => {
  const error = new Error("login failed for hunter2-secret-value");
  error.stack = [
    "Error: login failed for hunter2-secret-value",
    "    at login (https://hunter2-secret-value@git.example.com/deploy.ts:4:9)",
    "    at deploy (/srv/handlers.ts:12:5)",
    `    at <anonymous> (${work}:171:51)`,
    "    at processTicksAndRejections (native:7:39)",
  ].join("\n");
  expect(handlerStack(error, createRedactor({ token: "hunter2-secret-value" }))).toBe(
    "at login (https://[secret input token]@git.example.com/deploy.ts:4:9)\nat deploy (/srv/handlers.ts:12:5)",
  );
});

test("nothing thrown with a stack: none", () => {
  const redact = createRedactor({});
  expect(handlerStack("a string", redact)).toBeNull();
  expect(handlerStack({ stack: 42 }, redact)).toBeNull();
  expect(handlerStack(Object.assign(new Error("x"), { stack: "Error: x" }), redact)).toBeNull();
});

test("frames under the working directory are relative to it; others are left as they are", () => {
  const error = new Error("no");
  error.stack = ["Error: no", "    at deploy (/srv/app/handlers.ts:12:5)", "    at /srv/app/lib/call.ts:3:1", "    at other (/opt/lib.ts:1:1)"].join("\n");
  expect(handlerStack(error, createRedactor({}), "/srv/app/")).toBe("at deploy (handlers.ts:12:5)\nat lib/call.ts:3:1\nat other (/opt/lib.ts:1:1)");
  expect(handlerStack(error, createRedactor({}), null)).toBe("at deploy (/srv/app/handlers.ts:12:5)\nat /srv/app/lib/call.ts:3:1\nat other (/opt/lib.ts:1:1)");
});
