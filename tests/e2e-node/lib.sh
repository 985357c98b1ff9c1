# shellcheck shell=bash disable=SC2034  # APP, LABEL, LEASE, SEL, SVC are for the scripts that source this
# Shared by tests/e2e-node/*.sh and hack/demo-real.sh: the chart installed on the real node of
# tests/node/up. Source it after setting NS (namespace), REL (release) and E2E_TAG (log prefix);
# it only defines things. Needs KLE_CLUSTER_DIR set (tests/node/lib.sh reads it).
E2E_NODE_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../node/lib.sh
. "$E2E_NODE_HERE/../node/lib.sh"
APP="$REL-leader-elector"
LABEL=leader-elector/leader=true

log() { printf '[%s %s] %s\n' "$E2E_TAG" "$(date -u +%H:%M:%S)" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
X() { "$KLE_REPO/tests/node/exec" "$@"; }    # any command inside the node's namespaces
k() { X kubectl -n "$NS" "$@"; }
now_ms() { date +%s%3N; }

# e2e_chart_facts: after helm install, what the chart made of its values: LEASE (the Lease's
# name), SEL (the pods' selector, k=v,...) and SVC (the leader Service's ClusterIP:port).
e2e_chart_facts() {
  LEASE="$(k get deploy "$APP" -o json | jq -r '.spec.template.spec.containers[]
    | select(.name == "leader-elector") | .args[] | select(startswith("--lease-name=")) | sub("--lease-name="; "")')"
  SEL="$(k get deploy "$APP" -o json | jq -r '.spec.selector.matchLabels | to_entries | map("\(.key)=\(.value)") | join(",")')"
  SVC="$(k get svc "$APP-leader" -o jsonpath='{.spec.clusterIP}'):$(k get svc "$APP-leader" -o jsonpath='{.spec.ports[0].port}')"
}
holder() { k get lease "$LEASE" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
# The pods (not being deleted) that carry the leader label, space-separated.
labelled() {
  k get pods -l "$SEL,$LABEL" -o json |
    jq -r '[.items[] | select(.metadata.deletionTimestamp == null) | .metadata.name] | join(" ")'
}
# e2e_leader_at <host:port>: the identity a /leader endpoint reports if it leads, else "".
e2e_leader_at() {
  X python3 -c 'import json,sys,urllib.request as u; d=json.load(u.urlopen(sys.argv[1], timeout=1)); print(d["identity"] if d["isLeader"] else "")' \
    "http://$1/leader" 2>/dev/null
}
# A TERM or INT (CI's timeout, ^C) exits through the script's EXIT trap, which stops the node.
trap 'exit 143' TERM
trap 'exit 130' INT
