# portside on the official Bun image. Build from the repository root:
#   docker build -f connectors/docker/portside.Dockerfile -t portside .
FROM oven/bun:1.4.5 AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# The image has Bun: the `bun` npm package (a dependency, for `npx portside` on Node.js) and its platform
# binary are left out (--omit=optional --ignore-scripts; no other production dependency has an install script).
RUN bun install --production --omit=optional --ignore-scripts --frozen-lockfile || bun install --production --omit=optional --ignore-scripts

FROM oven/bun:1.4.5
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000 LEDGER=sqlite:/data/ledger.sqlite
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json bunfig.toml ./
COPY src ./src
COPY connectors ./connectors
RUN mkdir -p /data && chown bun:bun /data
USER bun
VOLUME /data
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s CMD bun -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# SIGTERM → stop taking requests, let running handlers finish (SHUTDOWN_GRACE_MS), keep the rest in the ledger.
STOPSIGNAL SIGTERM
CMD ["bun", "src/entry/main.ts"]
