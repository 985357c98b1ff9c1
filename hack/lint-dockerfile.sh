#!/usr/bin/env bash
# A careful Dockerfile linter for this repository (hadolint is not packaged in Debian).
# Usage: hack/lint-dockerfile.sh [Dockerfile]   Exit 1 and one line per finding when it fails.
# Checks: base images pinned by an explicit non-latest tag (or digest); a multi-stage build
# whose final stage runs as a numeric non-root USER with an exec-form ENTRYPOINT; apt-get
# install -y --no-install-recommends with the lists removed in the same RUN; no upgrade, sudo,
# ADD of URLs or curl|sh; COPY --from names a stage; the build stage installs only packages
# hack/deps.sh knows, the runtime stage no compilers or -dev packages; a .dockerignore that
# keeps build trees and .git out of the context.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
file="${1:-$repo/Dockerfile}"
[ -f "$file" ] || { echo "lint-dockerfile: no such file: $file" >&2; exit 2; }
findings=0
finding() { echo "lint-dockerfile: $file: $*"; findings=$((findings + 1)); }

# One instruction per line: continuation lines joined, comments and blank lines dropped.
instructions="$(sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' "$file" | grep -v -E '^[[:space:]]*(#|$)' | sed -E 's/[[:space:]]+/ /g')"

stages=()       # stage names, in order
stage=-1
declare -A user_of=() entry_of=() pkgs_of=()
while IFS= read -r line; do
  instr="${line%% *}"; instr="${instr^^}"; args="${line#* }"
  case "$instr" in
    FROM)
      stage=$((stage + 1))
      read -r image _as name <<<"$args"
      stages+=("${name:-}")
      image_ref="${image#--platform=* }"
      if grep -qx -- "$image_ref" <<<"$(printf '%s\n' "${stages[@]:0:$stage}")" 2>/dev/null; then :   # FROM an earlier stage
      elif [[ "$image_ref" == *@sha256:* ]]; then :
      elif [[ "$image_ref" != *:* || "${image_ref##*/}" != *:* ]]; then finding "FROM $image_ref: no tag; pin the base image (e.g. debian:12.15-slim)"
      elif [[ "${image_ref##*:}" == latest ]]; then finding "FROM $image_ref: 'latest' is not a pin"
      fi
      ;;
    USER) user_of[$stage]="$args" ;;
    ENTRYPOINT) entry_of[$stage]="$args" ;;
    ADD) [[ "$args" =~ (https?|ftp):// ]] && finding "ADD $args: fetch with a checked RUN or COPY a vetted file instead" ;;
    COPY)
      if [[ "$args" =~ --from=([^ ]+) ]]; then
        src="${BASH_REMATCH[1]}"
        grep -qx -- "$src" <<<"$(printf '%s\n' "${stages[@]}")" || [[ "$src" =~ ^[0-9]+$ ]] \
          || finding "COPY --from=$src: no earlier stage of that name"
      fi
      ;;
    RUN)
      [[ "$args" =~ (^|[^a-z])sudo([^a-z]|$) ]] && finding "RUN uses sudo: the build already runs as root"
      pipe_re='(curl|wget)[^|]*[|] *(ba)?sh'
      [[ "$args" =~ $pipe_re ]] && finding "RUN pipes a download into a shell"
      if [[ "$args" == *"apt-get"* ]]; then
        upgrade_re='apt-get( -[^ ]+)* (upgrade|dist-upgrade|full-upgrade)'
        [[ "$args" =~ $upgrade_re ]] && finding "RUN apt-get upgrade: pin the base image instead"
        if [[ "$args" == *"apt-get update"* && "$args" != *"apt-get install"* ]]; then
          finding "RUN apt-get update alone: a cached layer would serve stale lists to a later install"
        fi
        if [[ "$args" == *"apt-get install"* ]]; then
          [[ "$args" == *"--no-install-recommends"* ]] || finding "apt-get install without --no-install-recommends"
          yes_re='apt-get install [^&]*(-y|--yes|--assume-yes)( |$)'
          [[ "$args" =~ $yes_re ]] || finding "apt-get install without -y"
          [[ "$args" == *"rm -rf /var/lib/apt/lists/*"* ]] || finding "apt-get install without 'rm -rf /var/lib/apt/lists/*' in the same RUN"
          # The package list: words after `install` that are not options, up to the next &&, ; or |.
          pkgs="$(sed -E 's/.*apt-get install//; s/(&&|;|\|).*//' <<<"$args" | tr ' ' '\n' | grep -v -e '^-' -e '^$' || true)"
          pkgs_of[$stage]="${pkgs_of[$stage]:-} $(tr '\n' ' ' <<<"$pkgs")"
        fi
      fi
      ;;
  esac
done <<<"$instructions"

last=$stage
if [ "$last" -lt 1 ]; then finding "not a multi-stage build (build and runtime stages expected)"; fi
[ -n "${stages[0]:-}" ] || finding "the build stage has no name (FROM ... AS build)"
user="${user_of[$last]:-}"
if [ -z "$user" ]; then finding "the final stage sets no USER: it would run as root"
else
  uid="${user%%:*}"
  if [[ ! "$uid" =~ ^[0-9]+$ ]]; then finding "USER $user: use a numeric UID so the kubelet can verify runAsNonRoot"
  elif [ "$uid" -eq 0 ]; then finding "USER $user: runs as root"
  fi
  [[ "$user" == *:* && "${user##*:}" == 0 ]] && finding "USER $user: group 0 (root)"
fi
entry="${entry_of[$last]:-}"
if [ -z "$entry" ]; then finding "the final stage has no ENTRYPOINT"
elif [[ "$entry" != \[* ]]; then finding "ENTRYPOINT $entry: use the exec (JSON) form so signals reach the binary"
fi

# The build stage installs only what hack/deps.sh installs, so the two cannot drift apart.
deps="$(sed -n '/^packages=(/,/^)/p' "$repo/hack/deps.sh" | tr ' ()' '[\n*]' | grep -E '^[a-z0-9][a-z0-9.+-]+$' | grep -vx packages= || true)"
for p in ${pkgs_of[0]:-}; do
  grep -qx -- "$p" <<<"$deps" || finding "build stage installs $p, which hack/deps.sh does not"
done
for p in ${pkgs_of[$last]:-}; do
  [[ "$p" == *-dev || "$p" =~ ^(g\+\+|gcc|clang|cmake|make|ninja-build)$ ]] && finding "runtime stage installs build tool or headers: $p"
done

ignore="$(dirname "$file")/.dockerignore"
if [ ! -f "$ignore" ]; then finding "no .dockerignore next to it"
else
  # Either the context is an allow-list ('*' first) or build/ and .git are excluded explicitly.
  if ! grep -qx '\*' "$ignore"; then
    grep -qE '^(\*\*/)?build/?$' "$ignore" || finding ".dockerignore does not exclude build/"
    grep -qE '^(\*\*/)?\.git/?$' "$ignore" || finding ".dockerignore does not exclude .git"
  fi
fi

if [ "$findings" -gt 0 ]; then echo "lint-dockerfile: $findings finding(s)"; exit 1; fi
echo "lint-dockerfile: $file: OK ($((last + 1)) stages; runtime packages:${pkgs_of[$last]:-})"
