import ipaddr from "ipaddr.js";

/**
 * Networks as CIDRs, and whether an address is in one (IPv4, IPv6, and IPv4-mapped IPv6 such as
 * `::ffff:127.0.0.1`, which a dual-stack listener reports). Parsing and matching are ipaddr.js's.
 */
export type Network = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** A CIDR (`10.0.0.0/8`) or a lone address (a /32 or /128); null when it is neither. */
export function parseNetwork(text: string): Network | null {
  const value = text.trim();
  if (ipaddr.isValidCIDR(value)) return ipaddr.parseCIDR(value);
  if (!ipaddr.isValid(value)) return null;
  const address = ipaddr.parse(value);
  return [address, address.kind() === "ipv4" ? 32 : 128];
}

/** Whether `address` is in any of `networks`; an address that is not one is in none. */
export function inNetworks(address: string, networks: readonly Network[]): boolean {
  if (!ipaddr.isValid(address)) return false;
  const parsed = ipaddr.process(address);
  return networks.some(([base, bits]) => parsed.kind() === base.kind() && parsed.match(base, bits));
}
