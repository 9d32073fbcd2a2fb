# caseops: one static binary on a distroless base. Build with `docker compose build` or
# `docker build -t caseops .`; the image runs `caseops serve` unless given another command.

# Go is pinned to an exact release. distroless publishes no version tags: static-debian12:nonroot follows
# Debian 12's security updates. Pin both by digest in your registry for reproducible builds.
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
# Modules first, in their own layer, so a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download && go mod verify
COPY . .
# Static (no cgo) so it runs on distroless/static; -trimpath keeps build paths out of the binary.
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /caseops ./cmd/caseops

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /caseops /caseops
# distroless's nonroot user (65532); named again so the image never runs as root by accident.
USER nonroot:nonroot
# Every interface of the container: development mode's loopback default is unreachable through a port mapping.
ENV CASEOPS_ADDR=:8080
EXPOSE 8080
ENTRYPOINT ["/caseops"]
CMD ["serve"]
