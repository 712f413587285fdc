# forestd: a Gunicorn-style server for XGBoost models.
#
#   docker build -t forestd .
#   docker run --rm -p 8000:8000 -p 9091:9091 forestd                       # bundled default model
#   docker run --rm -p 8000:8000 -v "$PWD/model.json:/models/model.json:ro" \
#     -e MODEL_PATH=/models/model.json -e WORKERS=4 forestd                  # your model, any setting by env
#
# The base image is pinned to an exact Node.js 24 LTS release (the one .ci/run tests with, pinned in
# scripts/test-tools); pin its digest too (node:24.21.0-bookworm-slim@sha256:...) where your
# registry policy asks for it: docker build --build-arg NODE_IMAGE=node:24.21.0-bookworm-slim@sha256:...
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

# --- build: compile TypeScript with the dev dependencies -----------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: "prepare" builds, and the sources are not here yet.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY config ./config
COPY model ./model
COPY contract ./contract
COPY server ./server
COPY workers ./workers
COPY cli ./cli
RUN npm run build

# --- deps: production dependencies only -----------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# --- runtime ---------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# tini as PID 1: forwards SIGTERM/SIGHUP/SIGTTIN/SIGTTOU to the primary and reaps zombies.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production \
    BIND=0.0.0.0:8000 \
    METRICS_PORT=9091
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY model/default ./model/default
# The gRPC service's .proto files, read at start-up when GRPC_PORT is set (with their licences).
COPY third_party/open-inference-protocol/open_inference_grpc.proto third_party/open-inference-protocol/LICENSE ./third_party/open-inference-protocol/
COPY third_party/grpc-health ./third_party/grpc-health
# Mount your model here (read-only) and set MODEL_PATH=/models/model.json, or bake it in with
# a COPY in an image built FROM this one.
VOLUME ["/models"]
# The unprivileged user of the Node.js images (uid 1000); nothing under /app is writable by it.
USER node
EXPOSE 8000 9091
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "dist/cli/forestd.js", "healthcheck"]
ENTRYPOINT ["/usr/bin/tini", "--"]
# The same command as `npm start`, without npm in between (npm does not forward every signal).
CMD ["node", "dist/cli/forestd.js", "serve"]
