# shellcheck shell=bash
# Shared by tests/chart/*.sh: repository paths, the helm binary, a YAML->JSON converter and
# assertions that count. Source it; it defines functions and variables only.
KLE_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KLE_CHART="$KLE_REPO/charts/leader-elector"
KLE_CACHE="${KLE_CACHE:-$HOME/.cache/kube-leader-elector}"
t_pass=0
t_fail=0

t_log() { printf '  %s\n' "$*"; }
t_die() { printf 'FATAL: %s\n' "$*" >&2; exit 2; }
ok() { t_pass=$((t_pass + 1)); printf '  ok   %s\n' "$*"; }
not_ok() { t_fail=$((t_fail + 1)); printf '  FAIL %s\n' "$*"; }
# check "description" command...: passes when the command succeeds.
quiet() { "$@" >/dev/null 2>&1; }
check() { local what="$1"; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }
# Prints the tally and exits non-zero if anything failed (or nothing was checked at all).
t_finish() {
  printf '%s: %d checks passed, %d failed\n' "$(basename "$0")" "$t_pass" "$t_fail"
  [ "$t_fail" -eq 0 ] && [ "$t_pass" -gt 0 ]
}

# helm: $HELM, else the control-plane cache path (hack/controlplane builds it there).
find_helm() {
  local p
  if [ -n "${HELM:-}" ]; then p="$HELM"
  elif [ -x "$KLE_REPO/hack/controlplane/bin-path.sh" ]; then p="$("$KLE_REPO/hack/controlplane/bin-path.sh" helm 2>/dev/null || true)"
  fi
  [ -n "${p:-}" ] || p="$KLE_CACHE/bin/helm-v3.22.0/helm"
  [ -x "$p" ] || t_die "helm not found at $p: build it with hack/controlplane/build.sh helm (or set HELM)"
  echo "$p"
}
HELM_BIN="$(find_helm)"
helm() { "$HELM_BIN" "$@"; }

need() { command -v "$1" >/dev/null || t_die "$1 is required but not installed${2:+ ($2)}"; }
need jq "apt-get install jq"

# YAML (one or more documents) on stdin -> one JSON object per document on stdout. Uses helm's
# own YAML parser through a throw-away chart, so the tests need nothing beyond helm and jq.
yaml2json() {
  local dir
  dir="$(mktemp -d)"
  mkdir -p "$dir/templates"
  printf 'apiVersion: v2\nname: yaml2json\nversion: 0.0.0\n' >"$dir/Chart.yaml"
  cat >"$dir/input.yaml"
  cat >"$dir/templates/out.yaml" <<'TPL'
{{- range regexSplit "(?m)^---[ \t]*$" (.Files.Get "input.yaml") -1 }}
{{- $doc := fromYaml . }}
{{- if hasKey $doc "Error" }}{{ fail (printf "yaml2json: %s" $doc.Error) }}{{ end }}
{{- if $doc }}
{{ toJson $doc }}
{{- end }}
{{- end }}
TPL
  helm template y "$dir" | grep -v -e '^---' -e '^# Source:' -e '^$'
  local rc=${PIPESTATUS[0]}
  rm -rf "$dir"
  return "$rc"
}

# Renders the chart (release leader-elector, namespace default) with extra helm args, as JSON lines.
render_json() { helm template leader-elector "$KLE_CHART" --namespace default "$@" | yaml2json; }
