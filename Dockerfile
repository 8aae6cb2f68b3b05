# syntax=docker/dockerfile:1
#
# Panda's images, one target per binary:
#   docker build -t panda-app .                       (the default, last target: app)
#   docker build --target worker -t panda-worker .
# Both run as an unprivileged user. The worker needs git (it clones the commit it
# deploys) and a Docker engine reached through DOCKER_HOST or a mounted socket.

ARG GO_VERSION=1.26
ARG ALPINE_VERSION=3.22
ARG NODE_VERSION=22

FROM golang:${GO_VERSION}-alpine AS build
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# Static binaries: the runtime image has no C library to match.
ENV CGO_ENABLED=0
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags='-s -w' -o /out/app ./cmd/app && \
    go build -trimpath -ldflags='-s -w' -o /out/worker ./cmd/worker

# Swagger UI's static files (swagger-ui-dist, pinned in api/swaggerui), served
# by the app at /swagger-ui/.
FROM node:${NODE_VERSION}-alpine AS swaggerui
WORKDIR /ui
COPY api/swaggerui/package.json api/swaggerui/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

FROM alpine:${ALPINE_VERSION} AS runtime
# ca-certificates: TLS to GitHub, AWS and registries. git: the worker's clones.
RUN apk add --no-cache ca-certificates git && \
    addgroup -S -g 10001 panda && \
    adduser -S -D -H -u 10001 -G panda -h /home/panda panda && \
    mkdir -p /home/panda && chown panda:panda /home/panda
ENV HOME=/home/panda
WORKDIR /home/panda
# Not root: a compromised process should not own the container, let alone, through
# a mounted Docker socket, hand that to the host more easily than it must.
USER 10001:10001

FROM runtime AS worker
COPY --from=build /out/worker /usr/local/bin/panda-worker
ENTRYPOINT ["/usr/local/bin/panda-worker"]

FROM runtime AS app
COPY --from=build /out/app /usr/local/bin/panda-app
COPY --from=swaggerui /ui/node_modules/swagger-ui-dist /usr/share/panda/swagger-ui
ENV PANDA_ADDR=:8080 PANDA_SWAGGER_UI_DIR=/usr/share/panda/swagger-ui
EXPOSE 8080
# busybox wget is in alpine; the port follows PANDA_ADDR (":8080" -> 8080).
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD wget -q -O /dev/null "http://127.0.0.1:${PANDA_ADDR##*:}/healthz" || exit 1
ENTRYPOINT ["/usr/local/bin/panda-app"]
