#!/usr/bin/env bash
# values.schema.json and values.yaml in step: every key of values.yaml is described in the
# schema, every schema property exists in values.yaml (except under a map that is empty by
# default), every values.yaml key carries a comment (itself or the block it belongs to), and
# helm really enforces the schema.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
values="$KLE_CHART/values.yaml"
schema="$KLE_CHART/values.schema.json"
echo "values.yaml <-> values.schema.json"

check "schema is valid JSON" quiet jq -e "type == \"object\"" "$schema"
yaml2json <"$values" >"$tmp/values.json"
check "values.yaml converts to one JSON document" test "$(wc -l <"$tmp/values.json")" -eq 1

# Walks values and schema together; prints one line per problem.
cat >"$tmp/walk.jq" <<'JQ'
def forward($v; $s; $path):
  if ($v | type) == "object" then
    if $s.properties != null then
      ($v | keys[]) as $k
      | if ($s.properties | has($k)) then forward($v[$k]; $s.properties[$k]; "\($path).\($k)")
        else "values.yaml key not in the schema: \($path).\($k)" end
    elif ($s.additionalProperties // false) != false then empty
    elif ($v | length) > 0 then "schema describes no keys for the non-empty object \($path)"
    else empty end
  elif ($v | type) == "array" then
    ($v | to_entries[]) as $e | forward($e.value; ($s.items // {}); "\($path)[\($e.key)]")
  else empty end;
def backward($v; $s; $path):
  if $s.properties != null and ($v | type) == "object" and ($v | length) > 0 then
    ($s.properties | keys[]) as $k
    | if ($v | has($k)) then backward($v[$k]; $s.properties[$k]; "\($path).\($k)")
      elif $path == "" and $k == "global" then empty   # helm's own, never in values.yaml
      else "schema property missing from values.yaml: \($path).\($k)" end
  else empty end;
def undescribed($s; $path):
  ($s.properties // {} | to_entries[]) as $e
  | (if ($e.value.description // "") == "" then "schema property without description: \($path).\($e.key)" else empty end),
    undescribed($e.value; "\($path).\($e.key)");
$values[0] as $v | $schema[0] as $s | forward($v; $s; ""), backward($v; $s; ""), undescribed($s; "")
JQ
problems="$(jq -n -r --slurpfile values "$tmp/values.json" --slurpfile schema "$schema" -f "$tmp/walk.jq")"
if [ -z "$problems" ]; then
  ok "every values.yaml key is in the schema, every schema property in values.yaml, all described"
else
  while IFS= read -r p; do not_ok "$p"; done <<<"$problems"
fi
check "the walk sees all $(jq '[paths(scalars)] | length' "$tmp/values.json") scalar values" \
  test "$(jq '[paths(scalars)] | length' "$tmp/values.json")" -gt 50

# A key is documented when a comment sits right above it or above an enclosing key.
undocumented="$(awk '
  /^[[:space:]]*#/ { commented = 1; next }
  /^[[:space:]]*$/ { commented = 0; next }
  match($0, /^ *[A-Za-z0-9_]+:/) {
    indent = index($0, substr($0, match($0, /[^ ]/), 1)) - 1
    while (depth > 0 && ind[depth] >= indent) depth--
    documented = commented
    for (i = 1; i <= depth; i++) if (doc[i]) documented = 1
    if (!documented) print NR ": " $0
    depth++; ind[depth] = indent; doc[depth] = commented
  }
  { commented = 0 }' "$values")"
if [ -z "$undocumented" ]; then ok "every values.yaml key is commented"; else not_ok "keys without a comment:"$'\n'"$undocumented"; fi

# The schema is enforced by helm itself (additionalProperties: false, types).
out="$(helm template x "$KLE_CHART" --set notAValue=1 2>&1 || true)"
check "helm rejects a key the schema does not know" grep -q "additional properties 'notAValue' not allowed" <<<"$out"
out="$(helm template x "$KLE_CHART" --set-string replicaCount=three 2>&1 || true)"
check "helm rejects a value of the wrong type" grep -q "'/replicaCount': got string, want integer" <<<"$out"
t_finish
