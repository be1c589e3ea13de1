/**
 * How the person at the keyboard runs portside's command line, for the commands portside suggests: `npx
 * portside` where it came as an npm package (bin/portside.mjs says so in PORTSIDE_COMMAND), `npm run -s cli --`
 * in a checkout of its repository.
 */
export function cliCommand(env: Record<string, string | undefined> = globalThis.process?.env ?? {}): string {
  return env.PORTSIDE_COMMAND === "npx portside" ? "npx portside" : "npm run -s cli --";
}
