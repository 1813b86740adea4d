#!/usr/bin/env bash
# Renders the load balancer configuration for a set of replicas.
#   render_lb.sh nginx|haproxy PREFIX GRPC_LISTEN HTTP_LISTEN GRPC_BACKENDS HTTP_BACKENDS
# PREFIX: a directory (created) that will hold the config, pid, logs and
# temporary files; *_LISTEN: host:port; *_BACKENDS: comma-separated host:port.
# Prints the path of the rendered file. nginx: run it with
#   nginx -p PREFIX -e PREFIX/logs/error.log -c PREFIX/nginx.conf [-g 'daemon off;']
# haproxy: haproxy -f PREFIX/haproxy.cfg -p PREFIX/haproxy.pid -db
set -euo pipefail
die() { echo "render_lb: $*" >&2; exit 2; }
[[ $# -eq 6 ]] || die "usage: $0 nginx|haproxy PREFIX GRPC_LISTEN HTTP_LISTEN GRPC_BACKENDS HTTP_BACKENDS"
KIND=$1 PREFIX=$2 GRPC_LISTEN=$3 HTTP_LISTEN=$4 GRPC_BACKENDS=$5 HTTP_BACKENDS=$6
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
hostport='^[^[:space:],;{}]+:[0-9]{1,5}$'
for hp in "$GRPC_LISTEN" "$HTTP_LISTEN" ${GRPC_BACKENDS//,/ } ${HTTP_BACKENDS//,/ }; do
  [[ $hp =~ $hostport ]] || die "'$hp' is not host:port"
done
mkdir -p "$PREFIX"
PREFIX=$(cd "$PREFIX" && pwd)
[[ $PREFIX =~ ^[A-Za-z0-9_./-]+$ ]] || die "PREFIX '$PREFIX' has characters the config cannot hold"

servers() {  # KIND BACKENDS: one server line per backend
  local i=0 hp
  for hp in ${2//,/ }; do
    i=$((i + 1))
    case $1 in
    nginx) printf '    server %s max_fails=1 fail_timeout=2s;  # replica %d\n' "$hp" "$i" ;;
    haproxy-h2) printf '  server r%d %s proto h2 check inter 2s\n' "$i" "$hp" ;;
    haproxy) printf '  server r%d %s check inter 2s\n' "$i" "$hp" ;;
    esac
  done
}

case $KIND in
nginx)
  mkdir -p "$PREFIX/logs" "$PREFIX/tmp"
  user_line=""
  if [[ $(id -u) -eq 0 ]]; then
    # As root nginx would start its workers as nobody anyway; say so, and let
    # them reach the temporary directories (nginx chowns those it creates).
    user_line="user nobody nogroup;"
    chmod 0711 "$PREFIX" "$PREFIX/tmp"
  fi
  grpc_servers=$(servers nginx "$GRPC_BACKENDS")
  http_servers=$(servers nginx "$HTTP_BACKENDS")
  out="$PREFIX/nginx.conf"
  template="$HERE/nginx.conf.template"
  ;;
haproxy)
  user_line=""
  grpc_servers=$(servers haproxy-h2 "$GRPC_BACKENDS")
  http_servers=$(servers haproxy "$HTTP_BACKENDS")
  out="$PREFIX/haproxy.cfg"
  template="$HERE/haproxy.cfg.template"
  ;;
*) die "unknown balancer '$KIND' (nginx | haproxy)" ;;
esac

awk -v prefix="$PREFIX" -v user_line="$user_line" -v grpc_listen="$GRPC_LISTEN" \
  -v http_listen="$HTTP_LISTEN" -v grpc_servers="$grpc_servers" -v http_servers="$http_servers" '
  {
    gsub(/@PREFIX@/, prefix); gsub(/@GRPC_LISTEN@/, grpc_listen); gsub(/@HTTP_LISTEN@/, http_listen)
    if ($0 ~ /^@USER_LINE@$/) { if (user_line != "") print user_line; next }
    if ($0 ~ /^@GRPC_SERVERS@$/) { print grpc_servers; next }
    if ($0 ~ /^@HTTP_SERVERS@$/) { print http_servers; next }
    print
  }' "$template" >"$out"
! grep -q '@[A-Z_]*@' "$out" || die "unrendered placeholder in $out"
echo "$out"
