# calgate: build the TypeScript once, run the compiled JavaScript on Node 22.
FROM node:22-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
COPY migrations ./migrations
COPY docker/prune-native-build.sh ./docker/
# Production dependencies only, and of the native sqlite3 module only its compiled .node file
# (no object files, archives, makefiles or sources: the runtime image carries no build objects).
RUN npm run build && npm prune --omit=dev && sh docker/prune-native-build.sh node_modules

FROM node:22-bookworm-slim
WORKDIR /app
# 0.0.0.0: reachable through the published port. calgate warns at startup that this is plain HTTP;
# put a TLS reverse proxy in front and set server.trustProxy (docs/SELF-HOSTING.md).
ENV NODE_ENV=production CALGATE_HOST=0.0.0.0 CALGATE_PORT=5232
# Bounded memory (docs/SELF-HOSTING.md, "Memory"): node's default lets the heap grow far past what is
# live before it collects; glibc keeps freed memory in its arenas. With these a 100,000-event
# calendar under the bench's load stays under 150 MB RSS (the object cache follows the heap limit),
# and first syncs of 10,000 events from CalDAV, Google and Microsoft fit. Heavy concurrent reads
# cost more CPU in the garbage collector. Override with -e NODE_OPTIONS=...
ENV NODE_OPTIONS="--max-old-space-size=96 --max-semi-space-size=2" MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=65536 MALLOC_TRIM_THRESHOLD_=131072
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json config.example.yaml ./
# The data folder belongs to the image's "node" user (uid 1000); a bind-mounted host folder must be
# writable by that uid (docs/SELF-HOSTING.md, "Docker").
RUN mkdir -p /app/data && chown node:node /app/data
USER node
VOLUME ["/app/data"]
EXPOSE 5232
# Probes the port calgate listens on: CALGATE_PORT (which a calgate.yaml uses as
# port: ${CALGATE_PORT:-5232}); the start period covers migrations and the first listing.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.CALGATE_PORT||'5232')+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "dist/src/cli/index.js"]
CMD ["serve"]
