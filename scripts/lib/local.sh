# Shell helpers shared by scripts/demo.sh and bench/gitpull.sh: free ports,
# waiting for a port, and moto and an unprivileged sshd on loopback.
# Source it; each start_* function appends the process it starts to PIDS.

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for_port PORT WHAT LOG: up to a minute; prints LOG if nothing listens.
wait_for_port() {
  for _ in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "error: $2 did not start on port $1; its log:" >&2
  cat "$3" >&2
  exit 1
}

# start_moto DIR: moto's server on a free port; sets MOTO_PORT.
start_moto() {
  MOTO_PORT=$(free_port)
  .venv/bin/moto_server -H 127.0.0.1 -p "$MOTO_PORT" >"$1/moto.log" 2>&1 &
  PIDS+=($!)
  wait_for_port "$MOTO_PORT" moto "$1/moto.log"
}

# start_sshd DIR: sshd on a free loopback port, as this user, with its own
# host key and DIR/authorized_keys (holding a new key DIR/developer). Sets
# SSH_PORT and writes DIR/known_hosts; GIT_SSH_COMMAND logs in as developer.
start_sshd() {
  local dir=$1
  SSH_PORT=$(free_port)
  ssh-keygen -q -t ed25519 -N '' -C local-sshd-host -f "$dir/host_ed25519"
  ssh-keygen -q -t ed25519 -N '' -C local-developer -f "$dir/developer"
  cp "$dir/developer.pub" "$dir/authorized_keys"
  [ "$(id -u)" != 0 ] || mkdir -p /run/sshd
  cat >"$dir/sshd_config" <<CONF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $dir/host_ed25519
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
AcceptEnv GIT_PROTOCOL
CONF
  /usr/sbin/sshd -D -e -f "$dir/sshd_config" 2>"$dir/sshd.log" &
  PIDS+=($!)
  wait_for_port "$SSH_PORT" sshd "$dir/sshd.log"
  echo "[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1,2 "$dir/host_ed25519.pub")" >"$dir/known_hosts"
  export GIT_SSH_COMMAND="ssh -i $dir/developer -o IdentitiesOnly=yes -o UserKnownHostsFile=$dir/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes"
}
