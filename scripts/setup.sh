#!/usr/bin/env bash
# Installs the Debian packages diffsim needs (Debian 12; run as root or with sudo).
# Does nothing when they are all present, so it is cheap to call before every build.
set -euo pipefail
pkgs=(build-essential cmake pkg-config luajit libluajit-5.1-dev lua-busted libopenblas-dev libpng-dev libsuitesparse-dev
      libplplot-dev plplot-driver-cairo libgif-dev libavcodec-dev libavformat-dev libswscale-dev luarocks python3
      libexpat1-dev libmujoco-dev)
pkgs+=(libtet1.5-dev)  # fem: TetGen meshing (fem.tetrahedralize)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
