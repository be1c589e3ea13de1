import { type FSWatcher, watch } from "node:fs";
import { dirname, isAbsolute, relative, resolve, sep } from "node:path";
import type { Logger } from "../log.ts";
import type { Registry } from "../targets/registry.ts";
import { describe } from "./assemble.ts";

/**
 * `portside dev`'s handler module, loaded again when it changes, in the same process (the ledger, the
 * emulator and the server stay). The registry the service holds is one that can be swapped: a run takes its
 * handler from the registry when it starts, so runs in flight finish on the old code and the next run uses
 * the new. A module that fails to load (a syntax error, a bad export) leaves the old one in place, and the
 * error is logged (`dev.reload_failed`) with the file, line and column the compiler gave.
 *
 * What counts as a change: a module file (.ts, .js, .json, …) saved anywhere under the handler module's
 * directory, outside node_modules and hidden directories (the ledger's .portside among them). What is loaded
 * again: the handler module and every file under that directory it brought into the module cache (its own
 * helpers); packages (node_modules) and portside's own code already loaded stay as they are. Bun keeps a
 * module by its file, whatever query its URL carries (a cache-busting `?v=2` imports the cached one), so
 * the files are dropped from its module cache (`require.cache`, which Bun's ES modules share) before the
 * import.
 */
export interface Reloading {
  /** The registry to give the service: the current module's, swapped on each good reload. */
  registry: Registry;
  /** Loads the module again now; resolves true when the new one is in place. */
  reload(): Promise<boolean>;
  close(): void;
}

/** Files whose change reloads: modules and JSON (not the ledger's files, not editors' swap files). */
const MODULE_FILE = /\.(?:[cm]?[jt]sx?|json)$/;
/** How long saves are gathered before one reload (an editor's save is several file events). */
const SETTLE_MS = 150;

export async function reloadingRegistry(options: { path: string; load: () => Promise<Registry>; logger: Logger; settleMs?: number }): Promise<Reloading> {
  const file = resolve(options.path);
  const dir = dirname(file);
  const cache = require.cache as Record<string, unknown>;
  // The files the handler module brought into the module cache, from its directory down.
  const owned = new Set<string>([file]);
  const inside = (path: string) => {
    const rel = relative(dir, path);
    return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) && !rel.split(sep).some((part) => part === "node_modules" || part.startsWith("."));
  };
  const load = async () => {
    const before = new Set(Object.keys(cache));
    try {
      return await options.load();
    } finally {
      for (const key of Object.keys(cache)) if (!before.has(key) && inside(key)) owned.add(key);
    }
  };

  const registry = swappable(await load());
  const reload = async (): Promise<boolean> => {
    for (const key of owned) delete cache[key];
    try {
      const next = await load();
      registry.swap(next);
      options.logger.info("dev.reloaded", {
        handlers: options.path,
        actions: next.actions,
        message: "handler module loaded again: the next run uses the new code, runs in flight finish on the old",
      });
      return true;
    } catch (error) {
      options.logger.error("dev.reload_failed", {
        handlers: options.path,
        error: describe(error),
        message: "the handler module did not load, so the one loaded before stays; fix it and save again",
      });
      return false;
    }
  };

  // One reload at a time; changes saved meanwhile make one more.
  let running: Promise<unknown> | null = null;
  let pending = false;
  const next = () => {
    if (running) {
      pending = true;
      return;
    }
    running = reload().finally(() => {
      running = null;
      if (pending) {
        pending = false;
        next();
      }
    });
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  let watcher: FSWatcher | null = null;
  try {
    watcher = watch(dir, { recursive: true }, (_event, name) => {
      if (name === null || !MODULE_FILE.test(String(name)) || !inside(resolve(dir, String(name)))) return;
      clearTimeout(timer);
      timer = setTimeout(next, options.settleMs ?? SETTLE_MS);
    });
  } catch (error) {
    options.logger.warn("dev.not_watching", {
      dir,
      error: describe(error),
      message: "changes to the handler module will not be loaded again; restart to load them",
    });
  }
  return {
    registry,
    reload,
    close() {
      clearTimeout(timer);
      watcher?.close();
    },
  };
}

/** A registry whose module can be replaced; its `actions` is one array, updated in place (the console holds it). */
function swappable(initial: Registry): Registry & { swap(next: Registry): void } {
  let current = initial;
  const actions = [...initial.actions];
  return {
    get source() {
      return current.source;
    },
    get changesOnlyToTargets() {
      return current.changesOnlyToTargets;
    },
    actions,
    forRun: (action, run) => current.forRun(action, run),
    forChange: (change) => current.forChange(change),
    swap(next) {
      current = next;
      actions.splice(0, actions.length, ...next.actions);
    },
  };
}
