#!/usr/bin/env bash
# Prepares podman for the image builds and container tests on a Debian 12 machine that has no
# Docker engine and reaches no container registry (only the Debian mirror), idempotently:
#   - installs podman, runc, netavark + aardvark-dns + iptables (networking), catatonit (the pause image of
#     `podman kube play`) and debootstrap when missing
#   - writes /etc/mcp-podman.conf: runc, cgroupfs (no systemd manages cgroups here), no default
#     ulimits (a machine that is itself a container may not raise the limits podman would set)
#   - builds docker.io/library/debian:bookworm-slim locally (debootstrap minbase from the mirror
#     apt already uses, slimmed like the published image: no docs, man pages, locales or apt
#     lists) and imports it, so `FROM debian:bookworm-slim` builds with --pull=never
# Usage (as root, or with sudo):
#   scripts/podman-setup.sh
#   export CONTAINERS_CONF=/etc/mcp-podman.conf
#   podman --runtime runc build --network=host --pull=never -t localhost/NAME:TAG .
set -euo pipefail
source "$(dirname "$0")/lib.sh"

CONF=/etc/mcp-podman.conf
BASE_IMAGE=docker.io/library/debian:bookworm-slim
# Bumped whenever the recipe of the base image changes, so an older local image is rebuilt.
BASE_RECIPE=bookworm-minbase-slim-1
ROOTFS_CACHE=/var/cache/mcp-sidecar/$BASE_RECIPE.tar

missing=()
for p in podman runc netavark aardvark-dns iptables catatonit debootstrap; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt: installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

conf='[containers]
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
[network]
network_backend = "netavark"'
if [ "$(cat "$CONF" 2>/dev/null)" != "$conf" ]; then
  log "podman: writing $CONF"
  printf '%s\n' "$conf" | as_root tee "$CONF" >/dev/null
fi
export CONTAINERS_CONF=$CONF

# The Debian mirror of this machine's apt sources (deb822 first, then the one-line format).
debian_mirror() {
  local m=''
  [ -f /etc/apt/sources.list.d/debian.sources ] &&
    m=$(awk '$1 == "URIs:" {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  [ -n "$m" ] || m=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
  [ -n "$m" ] || die "no Debian mirror found in the apt sources"
  echo "$m"
}

# A minbase root file system, trimmed as the published slim image is: dpkg keeps docs (but the
# copyright files), man pages and locales out of every later install too.
make_rootfs() {
  local dir=$1
  log "base image: debootstrap bookworm minbase (a minute or two)"
  as_root debootstrap --variant=minbase bookworm "$dir" "$(debian_mirror)" >/dev/null
  # The image updates from the same sources as this machine (the security suite included).
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    as_root cp /etc/apt/sources.list.d/debian.sources "$dir/etc/apt/sources.list.d/"
    as_root rm -f "$dir/etc/apt/sources.list"
  fi
  as_root tee "$dir/etc/dpkg/dpkg.cfg.d/slim" >/dev/null <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
EOF
  as_root find "$dir/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  as_root find "$dir/usr/share/doc" -mindepth 1 -type d -empty -delete
  as_root rm -rf "$dir"/usr/share/{man,groff,info,lintian,locale}/* \
    "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/apt/archives/*.deb \
    "$dir"/var/log/*.log "$dir"/var/log/apt/*
}

recipe=$(as_root podman image inspect --format '{{index .Config.Labels "io.mcp-sidecar.base-recipe"}}' \
  "$BASE_IMAGE" 2>/dev/null || true)
if [ "$recipe" != "$BASE_RECIPE" ]; then
  if [ ! -s "$ROOTFS_CACHE" ]; then
    tmp=$(mktemp -d)
    trap 'as_root rm -rf "$tmp"' EXIT
    make_rootfs "$tmp/rootfs"
    as_root mkdir -p "$(dirname "$ROOTFS_CACHE")"
    as_root tar -C "$tmp/rootfs" -cf "$ROOTFS_CACHE.part" .
    as_root mv "$ROOTFS_CACHE.part" "$ROOTFS_CACHE"
  fi
  log "base image: importing $BASE_IMAGE"
  as_root podman import --quiet \
    --change 'ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD=["bash"]' \
    --change "LABEL=io.mcp-sidecar.base-recipe=$BASE_RECIPE" \
    "$ROOTFS_CACHE" "$BASE_IMAGE" >/dev/null
fi

as_root env CONTAINERS_CONF="$CONF" podman --runtime runc run --rm --network=host --pull=never "$BASE_IMAGE" true ||
  die "podman cannot run $BASE_IMAGE"
log "podman ready: CONTAINERS_CONF=$CONF podman --runtime runc {build --network=host --pull=never | run ...}"
