#!/usr/bin/env bash
# hack/lint-dockerfile.sh passes on the repository's Dockerfile, and rejects each of a set of
# broken variants with the expected finding (so a linter that passes everything fails here).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
lint="$KLE_REPO/hack/lint-dockerfile.sh"
echo "Dockerfile lint"

if out="$("$lint" "$KLE_REPO/Dockerfile" 2>&1)"; then ok "Dockerfile passes: ${out#*: OK }"; else not_ok "Dockerfile:"$'\n'"$out"; fi

# mutant "expected finding" sed-expression: the linter must fail on the edited copy with that text.
mutant() {
  local want="$1" expr="$2" dir
  dir="$(mktemp -d -p "$tmp")"
  sed -e "$expr" "$KLE_REPO/Dockerfile" >"$dir/Dockerfile"
  cp "$KLE_REPO/.dockerignore" "$dir/"
  if cmp -s "$KLE_REPO/Dockerfile" "$dir/Dockerfile"; then not_ok "mutation '$expr' changed nothing"; return; fi
  local out
  if out="$("$lint" "$dir/Dockerfile" 2>&1)"; then not_ok "accepted a Dockerfile with: $expr"
  elif grep -qF -- "$want" <<<"$out"; then ok "rejects ($want)"
  else not_ok "rejected '$expr' but without \"$want\": $out"; fi
}
mutant "USER 0:0: runs as root" 's/^USER .*/USER 0:0/'
mutant "USER nobody: use a numeric UID" 's/^USER .*/USER nobody/'
mutant "the final stage sets no USER" '/^USER /d'
mutant "'latest' is not a pin" 's/^FROM gcr.io\/distroless\/cc-debian12:nonroot/FROM gcr.io\/distroless\/cc-debian12:latest/'
mutant "FROM debian: no tag" 's/^FROM debian:12.15 AS build/FROM debian AS build/'
mutant "apt-get install without --no-install-recommends" '0,/--no-install-recommends/s/ --no-install-recommends//'
mutant "without 'rm -rf /var/lib/apt/lists/*'" '$!N;s/ \\\n && rm -rf \/var\/lib\/apt\/lists\/\*//;P;D'
mutant "apt-get install without -y" '0,/install -y/s/install -y/install/'
mutant "use the exec (JSON) form" 's/^ENTRYPOINT .*/ENTRYPOINT \/usr\/local\/bin\/leader-elector/'
mutant "COPY --from=builder: no earlier stage" 's/--from=build /--from=builder /'
mutant "RUN apt-get upgrade" 's/^RUN apt-get update \\/RUN apt-get update \&\& apt-get upgrade -y \\/'
mutant "build stage installs git-lfs, which hack/deps.sh does not" 's/g++ cmake ninja-build/g++ git-lfs cmake ninja-build/'
mutant "FROM gcr.io/distroless/cc-debian12: no tag" 's/^FROM gcr.io\/distroless\/cc-debian12:nonroot/FROM gcr.io\/distroless\/cc-debian12/'
mutant "ADD https://example.com/x" 's|^COPY cmake/ cmake/|ADD https://example.com/x /x|'
mutant "pipes a download into a shell" 's|^RUN cmake --preset release|RUN curl -fsSL https://example.com/i.sh \| sh \&\& cmake --preset release|'
t_finish
