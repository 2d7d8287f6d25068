# syntax=docker/dockerfile:1
# annals: a static binary on a small non-root image.

FROM golang:1.26-alpine AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/annals ./cmd/annals

FROM alpine:3.22
RUN addgroup -S annals && adduser -S -G annals -h /data annals
COPY --from=build /out/annals /usr/local/bin/annals
USER annals
WORKDIR /data
ENV ANNALS_ADDR=0.0.0.0:8080 \
    ANNALS_STORE=file:/data/annals.db \
    ANNALS_LOG_FORMAT=json
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD wget -q -O /dev/null http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["annals"]
CMD ["serve"]
