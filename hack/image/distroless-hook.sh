#!/bin/sh
# mmdebstrap --extract-hook for the distroless/cc-debian12:nonroot stand-in. $1 = the root.
# Does what distroless's own build adds on top of the packages: the users (nonroot = 65532),
# /tmp, home dirs and the CA bundle; and drops docs. No shell, no apt, no dpkg remain.
# (--variant=extract runs only extract hooks, never --customize-hook; and /etc/apt must stay,
# mmdebstrap removes its own file from it afterwards.)
set -eu
r="$1"
cat >"$r/etc/passwd" <<P
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
P
cat >"$r/etc/group" <<G
root:x:0:
tty:x:5:
staff:x:50:
nogroup:x:65534:
nonroot:x:65532:
G
mkdir -p "$r/home/nonroot" "$r/tmp" "$r/root" "$r/etc/ssl/certs"
chown 65532:65532 "$r/home/nonroot"; chmod 700 "$r/home/nonroot"
chmod 1777 "$r/tmp"; chmod 700 "$r/root"
# The host's bundle is from the same Debian release; the ca-certificates package would pull
# in openssl, debconf and perl-base.
cp /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/ca-certificates.crt"
rm -rf "$r/usr/share/doc" "$r/usr/share/man" "$r/usr/share/info" "$r/usr/share/lintian"
rm -rf "$r"/var/log/* "$r/usr/bin/mawk"
