import { readFileSync, writeFileSync } from "node:fs";

/**
 * Memory of another process, read from Linux's /proc: tests measure portside in a child process, where the
 * test process's own allocations (request bodies it built, answers it read) do not blur the figure.
 */
export interface Resident {
  /** Resident set size now, in MB. */
  rssMb: number;
  /** The highest resident set size since start or since `resetPeak`, in MB. */
  peakMb: number;
}

export function resident(pid: number): Resident {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  return { rssMb: kb("VmRSS") / 1024, peakMb: kb("VmHWM") / 1024 };
}

/** Starts a new peak measurement: the peak becomes the current resident size (`clear_refs` 5). */
export function resetPeak(pid: number): Resident {
  writeFileSync(`/proc/${pid}/clear_refs`, "5");
  return resident(pid);
}

/** The peak reached while `work` ran, above the resident size when it began (MB). */
export async function peakGrowth(pid: number, work: () => Promise<unknown>): Promise<{ before: number; peak: number; growth: number }> {
  const before = resetPeak(pid).rssMb;
  await work();
  const peak = resident(pid).peakMb;
  return { before, peak, growth: peak - before };
}
