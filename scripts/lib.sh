# Shared by the scripts in this folder; sourced, not run.

# Installs the Debian packages named in "$@" (one apt run for all of them).
apt_install() {
  [ "$#" -gt 0 ] || return 0
  echo "== installing $*"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "$@"
}

# The packages missing for arbor's real-server and browser tests:
# - MariaDB's minimal server and client (mariadbd, mariadb-install-db, the mariadb client);
# - HAProxy, which the load-balancer test sends MariaDB connections through;
# - ZooKeeper and etcd (server and etcdctl), which the key-value publishing tests write to;
# - Debian's chromium and chromium-driver, for the web UI tests (only when asked for with
#   "browser");
# - python3-venv and curl, for the API fuzz run (only when asked for with "fuzz").
missing_packages() {
  local wanted=("$@")
  if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
    echo mariadb-server-core mariadb-client-core
  fi
  # The load-balancer test routes MariaDB connections through a real HAProxy.
  command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || echo haproxy
  # The key-value publishing tests write to real ZooKeeper and etcd servers and read back with
  # their own clients (zkCli.sh, etcdctl).
  [ -x /usr/share/zookeeper/bin/zkCli.sh ] || echo zookeeper
  command -v etcd >/dev/null 2>&1 || echo etcd-server
  command -v etcdctl >/dev/null 2>&1 || echo etcd-client
  # The API fuzz run (scripts/fuzz-api.sh, asked for with "fuzz"): a Python venv for
  # schemathesis, and curl.
  if [[ " ${wanted[*]} " == *" fuzz "* ]]; then
    python3 -m venv --help >/dev/null 2>&1 || echo python3 python3-venv
    command -v curl >/dev/null 2>&1 || echo curl
  fi
  if [[ " ${wanted[*]} " == *" browser "* ]]; then
    [ -x /usr/bin/chromium ] || echo chromium
    [ -x /usr/bin/chromedriver ] || echo chromium-driver
  fi
}

ensure_mariadb() {
  # shellcheck disable=SC2046
  apt_install $(missing_packages)
}

ensure_test_packages() {
  # shellcheck disable=SC2046
  apt_install $(missing_packages browser fuzz)
}
