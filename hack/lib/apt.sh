# shellcheck shell=bash
# ensure_debian_packages TAG PACKAGE...: installs the packages that are missing, and runs no
# apt-get at all when every one is already installed (so a warm machine pays nothing).
# Waits for the dpkg lock rather than failing when another install holds it.
ensure_debian_packages() {
  local tag=$1; shift
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "$tag: all $# Debian packages present"
    return 0
  fi
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "$tag: installing ${missing[*]}"
  $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${missing[@]}"
}
