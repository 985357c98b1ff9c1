# Picks TCP ports for servers that tests start on 127.0.0.1. Source it; it only defines things.
# shellcheck shell=bash
#
# Why not bind(0) or any port in the ephemeral range: the kernel hands out port 0 from
# net.ipv4.ip_local_port_range, the same range every outgoing connect() draws its source port
# from. Between picking a port and a server binding it, a client can take it as its source
# port (kube-apiserver dials etcd hundreds of times while starting), and the server then dies
# with "bind: address already in use"; CI saw exactly that for kube-controller-manager.
# Ports below the ephemeral range are never handed out implicitly, so only another explicit
# listener can collide, and `ss` shows those.

# kle_free_ports N: prints N distinct ports (space-separated) that nothing uses now.
kle_free_ports() {
  local want="$1" eph_lo eph_hi lo hi used picked="" p n=0
  read -r eph_lo eph_hi </proc/sys/net/ipv4/ip_local_port_range
  lo=10000 hi=$eph_lo # [lo, hi)
  if ((hi - lo < 2000)); then lo=$((eph_hi + 1)) hi=65536; fi
  if ((hi - lo < 2000)); then
    echo "kle_free_ports: the ephemeral range $eph_lo-$eph_hi leaves no room for fixed ports" >&2
    return 1
  fi
  # Every local port in any state, listening or connected.
  used="$(ss -Htan | awk '{print $4}' | sed 's/.*://' | sort -u)"
  for _ in $(seq 1 1000); do
    p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo)))
    if ! grep -qx "$p" <<<"$used$picked"; then
      picked+=$'\n'"$p" n=$((n + 1))
      if ((n == want)); then
        picked="${picked//$'\n'/ }"
        echo "${picked# }"
        return 0
      fi
    fi
  done
  echo "kle_free_ports: no $want free TCP ports in $lo-$((hi - 1))" >&2
  return 1
}
