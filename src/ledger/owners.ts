import { hostname } from "node:os";
import type { Ledger } from "./ledger.ts";

/**
 * Lease owners are named `portside@<host>#<pid>#<nonce>`, so a starting process can tell which leases
 * were held by processes on its own host that no longer exist (a crash, a kill -9, an OOM kill) and
 * take their work back at once instead of waiting for the leases to run out. Leases of other hosts'
 * processes are left to expire: they may be alive.
 */
export function processOwner(): string {
  return `portside@${hostname()}#${process.pid}#${crypto.randomUUID().slice(0, 8)}`;
}

const pattern = /^portside@(.+)#(\d+)#([0-9a-f]+)$/;

export function deadLocalOwners(owners: string[], self: string): string[] {
  const host = hostname();
  return owners.filter((owner) => {
    const match = pattern.exec(owner);
    if (!match || match[1] !== host || owner === self) return false;
    const pid = Number(match[2]);
    // Same pid as ours but another nonce: an earlier process (containers restart as pid 1 every time).
    if (pid === process.pid) return true;
    return !isAlive(pid);
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Frees the leases of dead local processes; returns what was freed. */
export async function recoverDeadOwners(ledger: Ledger, self: string, now: number): Promise<{ owners: string[]; work: number; reports: number }> {
  const dead = deadLocalOwners(await ledger.leaseHolders(), self);
  if (dead.length === 0) return { owners: [], work: 0, reports: 0 };
  return { owners: dead, ...(await ledger.expireLeases(dead, now)) };
}
