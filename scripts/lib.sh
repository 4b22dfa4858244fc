# Shared by the scripts in this folder; sourced, not run.

# Installs Debian's MariaDB server and client when mariadbd is not on this machine. The minimal
# packages (server-core, client-core) are all the sandbox needs: mariadbd, mariadb-install-db
# and the mariadb client.
ensure_mariadb() {
  if command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; then
    return 0
  fi
  echo "== installing MariaDB (mariadbd not found)"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends \
    mariadb-server-core mariadb-client-core
}
