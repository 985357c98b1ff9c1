# Writes a kubeconfig for a ServiceAccount token on the test cluster. Source it; it only defines things.
# shellcheck shell=bash
# Needs KLE_SERVER and KLE_CA_FILE (from "$KLE_CLUSTER_DIR/env").

# kle_sa_kubeconfig FILE TOKEN NAMESPACE: the token's kubeconfig, its context in NAMESPACE, mode 600.
kle_sa_kubeconfig() {
  local file="$1" token="$2" ns="$3"
  (umask 077 && cat >"$file") <<YAML
apiVersion: v1
kind: Config
clusters: [{name: kle, cluster: {server: "$KLE_SERVER", certificate-authority: "$KLE_CA_FILE"}}]
users: [{name: sa, user: {token: "$token"}}]
contexts: [{name: sa, context: {cluster: kle, user: sa, namespace: "$ns"}}]
current-context: sa
YAML
}
