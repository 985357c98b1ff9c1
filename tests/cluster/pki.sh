# shellcheck shell=bash
# PKI for a throw-away test cluster, generated with openssl into $KLE_CLUSTER_DIR/pki.
# Sourced by `up` after lib.sh. Keys are EC P-256 (fast to generate) except the
# service-account signing key, which is RSA because RS256 is what every client expects.

# cl_ca <name> <CN>: a self-signed CA, valid 2 days (a test cluster never lives longer;
# short validity limits what a leaked file is worth).
cl_ca() {
  local d="$KLE_CLUSTER_DIR/pki"
  openssl ecparam -genkey -name prime256v1 -noout -out "$d/$1.key" 2>/dev/null
  openssl req -x509 -new -key "$d/$1.key" -subj "/CN=$2" -days 2 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$d/$1.crt" 2>/dev/null
}

# cl_cert <ca> <name> <subject> <extensions>: a leaf signed by that CA, also valid 2 days.
cl_cert() {
  local d="$KLE_CLUSTER_DIR/pki" ca="$1" name="$2" subj="$3" ext="$4"
  openssl ecparam -genkey -name prime256v1 -noout -out "$d/$name.key" 2>/dev/null
  openssl req -new -key "$d/$name.key" -subj "$subj" -out "$d/$name.csr" 2>/dev/null
  printf '%s\n' "$ext" >"$d/$name.ext"
  openssl x509 -req -in "$d/$name.csr" -CA "$d/$ca.crt" -CAkey "$d/$ca.key" -CAcreateserial \
    -days 2 -sha256 -extfile "$d/$name.ext" -out "$d/$name.crt" 2>/dev/null
  rm -f "$d/$name.csr" "$d/$name.ext"
}

cl_make_pki() {
  local d="$KLE_CLUSTER_DIR/pki"
  mkdir -p "$d" && chmod 700 "$d"
  cl_ca ca kle-test-ca
  # The front-proxy (request-header) CA lets the apiserver authenticate aggregated-API proxying
  # and gives the controllers' delegated authentication a complete configmap (no error spam).
  cl_ca front-proxy-ca kle-test-front-proxy-ca
  local client="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
  # 10.0.0.1 is the `kubernetes` Service's ClusterIP (first address of the service range).
  cl_cert ca apiserver "/CN=kube-apiserver" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  # system:masters is the admin group; the two controllers get their built-in RBAC identities.
  cl_cert ca admin "/O=system:masters/CN=kle-admin" "$client"
  cl_cert ca kube-controller-manager "/CN=system:kube-controller-manager" "$client"
  cl_cert ca kube-scheduler "/CN=system:kube-scheduler" "$client"
  cl_cert front-proxy-ca front-proxy-client "/CN=front-proxy-client" "$client"
  openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
  openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
  cp "$d/ca.crt" "$KLE_CLUSTER_DIR/ca.crt"
}
