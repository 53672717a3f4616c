#!/bin/sh
# Starts a Docker engine inside a privileged container: one node of a test Swarm.
set -eu
# Started with every capability but CAP_SYS_RESOURCE rather than --privileged (see
# testkit/harness/src/node.rs), /sys and the cgroup hierarchy come read-only; the
# engine needs them writable.
mount -o remount,rw /sys 2>/dev/null || true
if [ -d /sys/fs/cgroup ]; then
  mount -o remount,bind,rw /sys/fs/cgroup 2>/dev/null || true
  for d in /sys/fs/cgroup/*/; do
    mount -o remount,bind,rw "$d" 2>/dev/null || true
  done
fi
mount -t securityfs none /sys/kernel/security 2>/dev/null || true
rm -f /var/run/docker.pid /run/docker/containerd/containerd.pid
exec dockerd --storage-driver=vfs --host=unix:///var/run/docker.sock "$@"
