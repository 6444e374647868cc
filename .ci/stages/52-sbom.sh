#!/usr/bin/env bash
# Supply-chain stage: a CycloneDX SBOM of the image pulled back in stage 50 (the binary's crates,
# checked against the crate source paths inside the binary, and the Debian packages whose
# libraries the image carries), the binary's crates checked offline against the RustSec
# snapshot with cargo-audit, and the SBOM stored with the image in the registry: an OCI artifact
# whose `subject` is the image manifest, tagged sha256-<image digest>.sbom (the referrers tag
# schema, which registries without the referrers API serve, Debian's docker-registry among them).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../../scripts/lib.sh"
source "$OXICAM_ROOT/scripts/docker-lib.sh"
cd "$OXICAM_ROOT"
ensure_dockerd
apt_install python3-venv curl
tools_venv="$OXICAM_ROOT/target/ci-venvs/cargo-tools"
python_venv "$tools_venv" .ci/requirements-cargo-tools.txt --require-hashes
export PATH="$tools_venv/bin:$PATH"

[ -s "$CI_STATE/pulled-image-ref" ] || die "no pulled image: run .ci/stages/50-registry.sh first"
image="$(cat "$CI_STATE/pulled-image-ref")" # REGISTRY/oxicam@sha256:...
image_exists "$image" || die "$image is not present locally: run .ci/stages/50-registry.sh again"
snapshot="$OXICAM_ROOT/../shared/data/rustsec-advisory-db"
[ -d "$snapshot/crates" ] || die "RustSec snapshot not found at $snapshot"
out="$CI_STATE/sbom"
rm -rf "$out"
mkdir -p "$out"

cid="$(docker create --label oxicam.ci=1 "$image")"
docker cp "$cid:/usr/local/bin/oxicam" "$out/oxicam" && docker cp "$cid:/var/lib/dpkg/status.d" "$out/dpkg-status"
docker rm "$cid" >/dev/null
log "SBOM and advisory check of the binary in $image"
python3 scripts/sbom.py --binary "$out/oxicam" --dpkg-status "$out/dpkg-status" --image "$image" \
  --db "$snapshot" --out "$out/sbom.cdx.json"

log "negative controls: a crate in the binary missing from the SBOM, a vulnerable crate in the binary"
cp "$out/oxicam" "$out/oxicam-extra-crate"
printf 'vendor/not-in-the-lock-9.9.9/src/lib.rs' >>"$out/oxicam-extra-crate"
if python3 scripts/sbom.py --binary "$out/oxicam-extra-crate" --dpkg-status "$out/dpkg-status" \
  --image "$image" --db "$snapshot" --out "$out/control.json" >"$out/control.log" 2>&1; then
  die "sbom.py accepted a binary holding a crate the SBOM does not list"
fi
grep -q 'not-in-the-lock' "$out/control.log" || die "the missing-crate control failed for another reason: $(tail -n 3 "$out/control.log")"
# A copy of the snapshot with one more advisory: every axum version vulnerable.
mkdir -p "$out/db"
cp -r "$snapshot/crates" "$out/db/crates"
mkdir -p "$out/db/crates/axum"
cat >"$out/db/crates/axum/RUSTSEC-2099-0001.md" <<'MD'
```toml
[advisory]
id = "RUSTSEC-2099-0001"
package = "axum"
date = "2026-01-01"

[versions]
patched = []
```

# Control advisory (CI only)

Every version is affected.
MD
if python3 scripts/sbom.py --binary "$out/oxicam" --dpkg-status "$out/dpkg-status" --image "$image" \
  --db "$out/db" --out "$out/control.json" >"$out/control.log" 2>&1; then
  die "sbom.py passed a binary holding a crate with a vulnerability advisory"
fi
grep -q 'RUSTSEC-2099-0001' "$out/control.log" || die "the advisory control failed for another reason: $(tail -n 3 "$out/control.log")"
rm -rf "$out/db" "$out/oxicam-extra-crate" "$out/control.json"

registry="${image%%/*}"
digest="${image##*@}"
if [[ "$registry" != 127.0.0.1:* ]]; then
  # A remote registry (ECR on CircleCI) needs its own client and credentials for artifacts.
  log "registry $registry: the SBOM is kept as a CI artifact ($out/sbom.cdx.json), not pushed"
  exit 0
fi
api="http://$registry/v2/oxicam"
# push_blob FILE: uploads FILE as a blob (monolithic upload) and prints its digest.
push_blob() {
  local file="$1" blob_digest location
  blob_digest="sha256:$(sha256sum "$file" | cut -d' ' -f1)"
  location="$(curl -fsS -X POST -D - -o /dev/null "$api/blobs/uploads/" | tr -d '\r' |
    awk -F': ' 'tolower($1) == "location" {print $2}')"
  [ -n "$location" ] || die "the registry gave no upload location"
  case "$location" in http*) ;; *) location="http://$registry$location" ;; esac
  case "$location" in *\?*) location="$location&digest=$blob_digest" ;; *) location="$location?digest=$blob_digest" ;; esac
  curl -fsS -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$file" "$location" >/dev/null
  echo "$blob_digest"
}
image_manifest_size="$(curl -fsS -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
  "$api/manifests/$digest" | wc -c)"
printf '{}' >"$out/config.json"
config_digest="$(push_blob "$out/config.json")"
sbom_digest="$(push_blob "$out/sbom.cdx.json")"
cat >"$out/manifest.json" <<JSON
{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
 "artifactType": "application/vnd.cyclonedx+json",
 "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": "$config_digest", "size": 2},
 "layers": [{"mediaType": "application/vnd.cyclonedx+json", "digest": "$sbom_digest",
             "size": $(stat -c %s "$out/sbom.cdx.json"),
             "annotations": {"org.opencontainers.image.title": "sbom.cdx.json"}}],
 "subject": {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": "$digest",
             "size": $image_manifest_size},
 "annotations": {"org.opencontainers.image.description": "CycloneDX SBOM of oxicam@$digest"}}
JSON
tag="sha256-${digest#sha256:}.sbom"
curl -fsS -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
  --data-binary "@$out/manifest.json" "$api/manifests/$tag" >/dev/null
# Read it back through the tag, as a consumer would find it from the image digest.
fetched_layer="$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' "$api/manifests/$tag" |
  python3 -c 'import json, sys; m = json.load(sys.stdin); print(m["subject"]["digest"], m["layers"][0]["digest"])')"
[ "$fetched_layer" = "$digest $sbom_digest" ] || die "the registry serves $tag as '$fetched_layer'"
curl -fsS "$api/blobs/$sbom_digest" | cmp -s - "$out/sbom.cdx.json" || die "the SBOM blob read back differs"
log "SBOM stored with the image: $registry/oxicam:$tag ($sbom_digest, subject $digest)"
