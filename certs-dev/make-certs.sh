#!/usr/bin/env bash
# Makes a development CA and a certificate per KYC workload, SPIFFE-style, plus the broken
# certificates the tests need. Development only: keys are unencrypted and long-lived.
#
#   certs-dev/make-certs.sh [OUT_DIR] [TRUST_DOMAIN] [NAMESPACE]
#     OUT_DIR       default certs-dev/out
#     TRUST_DOMAIN  default kyc.local
#     NAMESPACE     default kyc
#
# Output (PEM): ca.crt ca.key, <name>.crt <name>.key for orchestrator registry sanctions pep risk
# auditor (URI SAN spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/<name>; DNS SANs <name>,
# <name>.NAMESPACE.svc, <name>.NAMESPACE.svc.cluster.local, localhost; IP SAN 127.0.0.1), and
#   expired.crt/.key        the orchestrator's identity, signed by the dev CA, expired in 2020
#   not-yet-valid.crt/.key  the orchestrator's identity, valid only from 2099
#   foreign-ca.crt/.key     another CA, and foreign.crt/.key: the orchestrator's identity signed by it
# Idempotent: an existing OUT_DIR/ca.crt is kept (delete OUT_DIR to start over).
set -euo pipefail

out=${1:-"$(cd "$(dirname "$0")" && pwd)/out"}
domain=${2:-kyc.local}
ns=${3:-kyc}
workloads=(orchestrator registry sanctions pep risk auditor)
mkdir -p "$out"
cd "$out"

command -v openssl >/dev/null || { echo "make-certs: openssl is required" >&2; exit 1; }

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }

make_ca() {  # name subject
  [ -f "$1.crt" ] && return
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -sha256 -days 3650 -subj "/O=mcp-sidecar dev/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$1.crt" 2>/dev/null
}

# Signs <out>.key's CSR with the CA <ca>; dates as openssl ca -startdate/-enddate (YYMMDDHHMMSSZ),
# or a number of days.
sign() {  # out name ca start end
  local out_name=$1 name=$2 ca=$3 start=$4 end=$5
  local tmp; tmp=$(mktemp -d)
  key "$out_name.key"
  openssl req -new -key "$out_name.key" -subj "/O=mcp-sidecar dev/CN=$name" -out "$tmp/req.csr" 2>/dev/null
  cat >"$tmp/ca.cnf" <<CNF
[ca]
default_ca = dev
[dev]
dir = $tmp
database = $tmp/index.txt
new_certs_dir = $tmp
serial = $tmp/serial
default_md = sha256
policy = any
copy_extensions = none
unique_subject = no
[any]
organizationName = optional
commonName = supplied
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = URI:spiffe://$domain/ns/$ns/sa/$name,DNS:$name,DNS:$name.$ns.svc,DNS:$name.$ns.svc.cluster.local,DNS:localhost,IP:127.0.0.1
CNF
  : >"$tmp/index.txt"
  openssl rand -hex 16 >"$tmp/serial"
  openssl ca -batch -config "$tmp/ca.cnf" -extensions leaf -cert "$ca.crt" -keyfile "$ca.key" \
    -startdate "$start" -enddate "$end" -in "$tmp/req.csr" -out "$out_name.crt" -notext 2>/dev/null
  rm -rf "$tmp"
}

now=$(date -u +%y%m%d%H%M%SZ)
year=$(date -u -d '+365 days' +%y%m%d%H%M%SZ)

make_ca ca "mcp-sidecar dev CA"
for w in "${workloads[@]}"; do
  [ -f "$w.crt" ] || sign "$w" "$w" ca "$now" "$year"
done
[ -f expired.crt ] || sign expired orchestrator ca 200101000000Z 200201000000Z
[ -f not-yet-valid.crt ] || sign not-yet-valid orchestrator ca 20990101000000Z 20991231000000Z
make_ca foreign-ca "foreign CA (not trusted by the KYC system)"
[ -f foreign.crt ] || sign foreign orchestrator foreign-ca "$now" "$year"

echo "certificates in $out:"
for f in ca "${workloads[@]}" expired not-yet-valid foreign; do
  printf '  %-14s %s\n' "$f.crt" "$(openssl x509 -in "$f.crt" -noout -ext subjectAltName 2>/dev/null | sed -n 's/.*URI:\([^,]*\).*/\1/p' | head -n1)"
done
