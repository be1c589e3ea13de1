import { afterAll } from "bun:test";
import { stopSharedServers } from "./shared-servers.ts";

// Hooks in a preload file are global to the run: the shared broker and worker stop once, after the
// last test file, and before `bun test` exits. Enable with `[test] preload = ["./test/support/preload.ts"]`
// in bunfig.toml or `bun test --preload ./test/support/preload.ts`.
afterAll(stopSharedServers, 60_000);
