/**
 * A Chromium for browser tests: `CHROMIUM` when set, else `chromium` (Debian's package, which
 * `npm test`'s prerequisites install) or another Chrome on PATH. Throws (never skips) when none is found.
 */
export function chromiumPath(): string {
  const path = process.env.CHROMIUM ?? ["chromium", "chromium-browser", "google-chrome"].map((name) => Bun.which(name)).find(Boolean);
  if (!path) throw new Error("NO BROWSER FOR THE CONSOLE TEST: install chromium (apt-get install -y chromium) or set CHROMIUM to a Chrome binary.");
  return path;
}
