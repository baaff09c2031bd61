# cc-relay container image. Build: docker build -t cc-relay .
# Run:   docker run -p 8787:8787 -v "$PWD/config.yaml:/etc/cc-relay/config.yaml:ro" -e ANTHROPIC_API_KEY cc-relay
#
# Debian (glibc), not Alpine: the uWebSockets.js binaries are built against glibc, for Node 20's ABI only.

FROM node:20-bookworm-slim AS build
WORKDIR /app
# `npm ci` runs `prepare` (= `npm run build`, tsc from devDependencies), so the sources must be here
# first and the dev tools pruned only after it.
COPY package.json package-lock.json tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY plugins ./plugins
RUN npm ci && npm prune --omit=dev
# Built-in plugins now live compiled in dist/plugins; what stays in plugins/ is READMEs and any dropped-in
# JavaScript plugin (index.js / index.mjs), which the relay discovers there at runtime.
RUN find plugins -name '*.ts' -delete

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
# Read-only for the relay: root owns the files, the process runs as `node`.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/plugins ./plugins
USER node
EXPOSE 8787
# /health answers 200 once the relay listens. Plain HTTP first; with server.tls set, HTTPS without
# verifying the certificate (this probes liveness, not identity).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "const u='127.0.0.1:8787/health'; fetch('http://'+u).catch(() => new Promise((ok, no) => require('node:https').get('https://'+u, { rejectUnauthorized: false }, ok).on('error', no))).then((r) => process.exit((r.status ?? r.statusCode) === 200 ? 0 : 1), () => process.exit(1))"]
CMD ["node", "bin/cc-relay.js", "serve", "--config", "/etc/cc-relay/config.yaml", "--listen", "0.0.0.0:8787"]
