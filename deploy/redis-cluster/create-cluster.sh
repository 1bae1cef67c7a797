#!/bin/sh
# Forms the compose file's Redis Cluster (profile "cluster") once its six
# nodes answer: three primaries, one replica each. It runs in the one-shot
# redis-cluster-init service; run again, it leaves a formed cluster alone.
# A cluster left half-formed (the service killed midway) is not repaired:
# `docker compose --profile cluster down` and start again.
#
#   REDIS_CLUSTER_NODES="host:port host:port ..."   the six nodes
set -eu

nodes=${REDIS_CLUSTER_NODES:?REDIS_CLUSTER_NODES names the nodes, host:port separated by spaces}
first=${nodes%% *}
host=${first%:*}
port=${first##*:}
count=0
for node in $nodes; do count=$((count + 1)); done
replicas=$((count / 2))

formed() {
	redis-cli -h "$host" -p "$port" cluster info | grep -q '^cluster_state:ok'
}

# settled: every node serves the cluster and knows every replica (a
# primary without its replica has no failover).
settled() {
	for node in $nodes; do
		state=$(redis-cli -h "${node%:*}" -p "${node##*:}" cluster info) || return 1
		case $state in *cluster_state:ok*) ;; *) return 1 ;; esac
		seen=$(redis-cli -h "${node%:*}" -p "${node##*:}" cluster nodes | grep -cE '[ ,]slave[ ,]') || return 1
		[ "$seen" -ge "$replicas" ] || return 1
	done
	redis-cli --cluster check "$first" >/dev/null 2>&1
}

if formed; then
	echo "create-cluster: the cluster is already formed"
	exit 0
fi

# One argument per node: $nodes is split on purpose.
# shellcheck disable=SC2086
redis-cli --cluster create $nodes --cluster-replicas 1 --cluster-yes

# Every node must agree (slots covered, replicas attached, one view of
# the configuration) before the gateways start.
tries=0
until settled; do
	tries=$((tries + 1))
	if [ "$tries" -gt 60 ]; then
		echo "create-cluster: the cluster did not settle in 60 s" >&2
		redis-cli --cluster check "$first" >&2 || true
		exit 1
	fi
	sleep 1
done
echo "create-cluster: formed"
