# syntax=docker/dockerfile:1
# One image for every `ivr` command: serve, authserver, demo, call, replay.
#
#   docker build -t ivr .
#   docker run --rm ivr serve -h

FROM golang:1.26 AS build
WORKDIR /src
# Modules first: this layer is rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
	CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /ivr ./cmd/ivr

# distroless/static: CA certificates (rediss://, the AS over https), tzdata,
# /etc/passwd with nonroot (65532), and no shell.
FROM gcr.io/distroless/static:nonroot
COPY --from=build /ivr /ivr
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/ivr"]
CMD ["serve"]
