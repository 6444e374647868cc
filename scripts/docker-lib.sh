#!/usr/bin/env bash
# Docker helpers for CI stages and deploy scripts: start the engine, build the local base, builder
# and application images without pulling anything. Source after scripts/lib.sh; all idempotent.
#
#   ensure_dockerd        docker.io installed and a daemon answering `docker info`
#   ensure_base_image     oxicam/debian-base:bookworm (debootstrap minbase + docker import)
#   ensure_builder_image  oxicam/rust-builder:<rust major.minor> (base + C toolchain, nasm and
#                         dpkg-dev for FFmpeg's source, clang for bindgen, the host's Rust toolchain)
#   ensure_app_image      oxicam:<git sha> from deploy/docker/Dockerfile; echoes the image ref
#                         on stdout (logs go to stderr) and writes it to $CI_STATE/image-ref
#   ffmpeg_debian_version the newest Debian bookworm(-security) ffmpeg source version: the
#                         image's statically linked FFmpeg is built from it
#
# Nothing here pulls from Docker Hub: the production Dockerfile's public defaults
# (rust:1.95-bookworm, debian:bookworm-slim) are replaced by the local images via build args.
# OXICAM_BASE_IMAGES=public (CircleCI, where Docker Hub is reachable) builds on those defaults.


OXICAM_BASE_IMAGE="${OXICAM_BASE_IMAGE:-oxicam/debian-base:bookworm}"
OXICAM_IMAGE_REPO="${OXICAM_IMAGE_REPO:-oxicam}"
# The classic builder works with both the docker.io 20.10 client and newer clients that lack the
# buildx plugin; the Dockerfile needs nothing BuildKit-specific.
export DOCKER_BUILDKIT="${DOCKER_BUILDKIT:-0}"

# rust_minor_version: "1.95" for the host toolchain the builder image is made from.
rust_minor_version() {
  rustc --version | sed -E 's/^rustc ([0-9]+\.[0-9]+).*/\1/'
}

builder_image_ref() {
  echo "${OXICAM_BUILDER_IMAGE:-oxicam/rust-builder:$(rust_minor_version)}"
}

# git_sha: the commit the image is built from (a dirty tree still uses HEAD's sha).
git_sha() {
  git -C "$OXICAM_ROOT" rev-parse HEAD
}

app_image_ref() {
  echo "$OXICAM_IMAGE_REPO:$(git_sha)"
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

ensure_dockerd() {
  # An engine that answers is used as it is: on a CircleCI machine executor that is Docker's own
  # docker-ce, which Debian/Ubuntu's docker.io package would conflict with.
  if docker info >/dev/null 2>&1; then return 0; fi
  apt_install docker.io
  if docker info >/dev/null 2>&1; then return 0; fi
  mkdir -p "$CI_STATE/pids" "$CI_STATE/logs"
  log "starting dockerd (log: $CI_STATE/logs/dockerd.log)"
  # dockerd writes its own PID file, so .ci/cleanup.sh stops the daemon itself.
  # Started as a plain command, not through the as_root function: a backgrounded function is a
  # bash subshell that keeps the caller's open pipes, so `ref="$(ensure_app_image)"` would
  # wait for the daemon to exit, forever.
  local -a dockerd_cmd=(dockerd)
  [ "$(id -u)" -eq 0 ] || dockerd_cmd=(sudo dockerd)
  "${dockerd_cmd[@]}" --pidfile "$CI_STATE/pids/dockerd.pid" \
    >"$CI_STATE/logs/dockerd.log" 2>&1 </dev/null &
  local _
  for _ in $(seq 1 120); do
    if docker info >/dev/null 2>&1; then
      log "dockerd is up ($(docker version --format '{{.Server.Version}}'))"
      return 0
    fi
    sleep 0.5
  done
  tail -n 30 "$CI_STATE/logs/dockerd.log" >&2 || true
  die "dockerd did not answer 'docker info' within 60 s"
}

# debian_mirror: the Debian archive apt on this host uses, so debootstrap goes the same way.
debian_mirror() {
  local uri
  uri="$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
      /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -n 1 | tr -d ' ')"
  echo "${uri:-http://deb.debian.org/debian}"
}

ensure_base_image() {
  ensure_dockerd
  image_exists "$OXICAM_BASE_IMAGE" && return 0
  apt_install debootstrap
  local mirror rootfs
  mirror="$(debian_mirror)"
  mirror="${mirror%/}"
  rootfs="$(mktemp -d "${TMPDIR:-/tmp}/oxicam-rootfs.XXXXXX")"
  log "debootstrap --variant=minbase bookworm from $mirror (about 1-2 min)"
  if ! as_root debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1; then
    tail -n 30 "$rootfs.log" >&2
    as_root rm -rf "$rootfs" "$rootfs.log"
    die "debootstrap failed"
  fi
  # Same trimming as Docker's debian:*-slim images: no docs, man pages or locales in any layer
  # built on top, no package caches left behind.
  as_root tee "$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" >/dev/null <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
  as_root tee "$rootfs/etc/apt/apt.conf.d/docker-clean" >/dev/null <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::GzipIndexes "true";
Acquire::CompressionTypes::Order:: "gz";
EOF
  as_root tee "$rootfs/etc/apt/sources.list" >/dev/null <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror}-security bookworm-security main
EOF
  as_root find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  as_root rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/var/log/*.log "$rootfs"/tmp/*
  log "docker import -> $OXICAM_BASE_IMAGE"
  as_root tar -C "$rootfs" --numeric-owner -c . |
    docker import --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' - "$OXICAM_BASE_IMAGE" >/dev/null
  as_root rm -rf "$rootfs" "$rootfs.log"
  log "$OXICAM_BASE_IMAGE: $(docker image inspect -f '{{.Size}}' "$OXICAM_BASE_IMAGE" | numfmt --to=si)B"
}

ensure_builder_image() {
  local ref sysroot ctx
  ref="$(builder_image_ref)"
  ensure_base_image
  image_exists "$ref" && return 0
  sysroot="$(rustc --print sysroot)"
  mkdir -p "$OXICAM_ROOT/target"
  ctx="$(mktemp -d "$OXICAM_ROOT/target/builder-ctx.XXXXXX")"
  # Hard links keep staging instant; docs (share/, ~800 MB) stay out of the image.
  mkdir -p "$ctx/rust"
  local part
  for part in bin lib libexec etc; do
    [ -e "$sysroot/$part" ] || continue
    # Hard links when the toolchain is on the same filesystem, a copy otherwise.
    cp -al "$sysroot/$part" "$ctx/rust/$part" 2>/dev/null ||
      { rm -rf "${ctx:?}/rust/$part" && cp -a "$sysroot/$part" "$ctx/rust/$part"; }
  done
  cat >"$ctx/Dockerfile" <<EOF
FROM $OXICAM_BASE_IMAGE
RUN apt-get update \\
 && apt-get install -y --no-install-recommends gcc libc6-dev pkg-config clang libclang-dev \\
      dpkg-dev nasm make \\
 && rm -rf /var/lib/apt/lists/*
COPY rust/ /usr/local/rust/
ENV CARGO_HOME=/usr/local/cargo PATH=/usr/local/cargo/bin:/usr/local/rust/bin:\$PATH
RUN rustc --version && cargo --version
EOF
  log "building $ref from $OXICAM_BASE_IMAGE + $(rustc --version | cut -d' ' -f1-2) (about 2-3 min)"
  if ! docker build -q -t "$ref" "$ctx" >&2; then
    rm -rf "$ctx"
    die "building $ref failed"
  fi
  rm -rf "$ctx"
}

# vendor_sources: `cargo vendor` into the gitignored vendor/ so the image builds offline, with
# no registry access (and no TLS trust) needed inside the container.
vendor_sources() {
  local stamp="$OXICAM_ROOT/vendor/.cargo-lock-sha"
  local want
  want="$(sha256sum "$OXICAM_ROOT/Cargo.lock" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$OXICAM_ROOT/vendor/config.toml" ]; then
    return 0
  fi
  log "cargo vendor -> vendor/"
  (cd "$OXICAM_ROOT" && cargo vendor --locked --versioned-dirs vendor >vendor.config.tmp) >&2
  mv "$OXICAM_ROOT/vendor.config.tmp" "$OXICAM_ROOT/vendor/config.toml"
  echo "$want" >"$stamp"
}

# ffmpeg_debian_version: the newest ffmpeg source version in bookworm and bookworm-security.
# Asked of the host's apt when the host is bookworm (the base images come from the same
# archive), else of a builder container. OXICAM_FFMPEG_DEBIAN_VERSION overrides it.
ffmpeg_debian_version() {
  if [ -n "${OXICAM_FFMPEG_DEBIAN_VERSION:-}" ]; then
    echo "$OXICAM_FFMPEG_DEBIAN_VERSION"
    return 0
  fi
  local version=""
  if grep -qs '^VERSION_CODENAME=bookworm' /etc/os-release; then
    if [ "$apt_updated" -eq 0 ]; then
      as_root apt-get update -qq >&2 && apt_updated=1
    fi
    # The binary package's version is the source's, less a binNMU suffix.
    version="$(apt-cache policy ffmpeg 2>/dev/null | awk '$1 == "Candidate:" {print $2}')"
    version="${version%+b[0-9]*}"
  fi
  if [ -z "$version" ] || [ "$version" = "(none)" ]; then
    version="$(docker run --rm --label oxicam.ci=1 \
      -v "$OXICAM_ROOT/deploy/docker/ffmpeg.sh:/oxicam-ffmpeg.sh:ro" \
      "${1:-$(builder_image_ref)}" bash /oxicam-ffmpeg.sh version)"
  fi
  [ -n "$version" ] || die "cannot tell which ffmpeg source version Debian has"
  echo "$version"
}

ensure_app_image() {
  local ref sha version ffmpeg_version
  ref="$(app_image_ref)"
  sha="$(git_sha)"
  local base_args=()
  if [ "${OXICAM_BASE_IMAGES:-local}" = public ]; then
    ensure_dockerd >&2
  else
    ensure_builder_image >&2
    base_args=(--build-arg "BUILDER_IMAGE=$(builder_image_ref)" --build-arg "RUNTIME_IMAGE=$OXICAM_BASE_IMAGE")
  fi
  mkdir -p "$CI_STATE"
  if image_exists "$ref" && [ -z "${OXICAM_REBUILD:-}" ]; then
    echo "$ref" >"$CI_STATE/image-ref"
    echo "$ref"
    return 0
  fi
  vendor_sources
  version="$(cd "$OXICAM_ROOT" && cargo metadata --no-deps --format-version 1 --offline |
    python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="oxicam"))')"
  if [ "${OXICAM_BASE_IMAGES:-local}" = public ]; then
    ffmpeg_version="$(ffmpeg_debian_version rust:1.95-bookworm)"
  else
    ffmpeg_version="$(ffmpeg_debian_version)"
  fi
  log "docker build $ref (version $version, FFmpeg from Debian source $ffmpeg_version) from deploy/docker/Dockerfile"
  docker build \
    -f "$OXICAM_ROOT/deploy/docker/Dockerfile" \
    "${base_args[@]}" \
    --build-arg "VERSION=$version" \
    --build-arg "GIT_SHA=$sha" \
    --build-arg "FFMPEG_DEBIAN_VERSION=$ffmpeg_version" \
    --label oxicam.built-by=ci \
    -t "$ref" "$OXICAM_ROOT" >&2 || die "docker build of $ref failed"
  echo "$ref" >"$CI_STATE/image-ref"
  echo "$ref"
}
