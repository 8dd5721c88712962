#!/usr/bin/env bash
# Install a PostgreSQL server with the TimescaleDB extension (Apache-2 edition).
#
#   Debian 13 (trixie):   postgresql-17 + postgresql-17-timescaledb from Debian.
#   Debian 12 (bookworm): postgresql-15 from Debian, TimescaleDB built from
#                         trixie's `timescaledb` source package (verified by apt
#                         against the Debian archive keyring) with APACHE_ONLY=ON.
#
# Idempotent: when the extension files are already present it exits at once,
# without touching apt. Needs root (re-runs itself through sudo if available).
# Never starts, stops or reconfigures any existing PostgreSQL cluster.
#
# Environment (all optional):
#   PMS_TIMESCALEDB_STATE  private apt/build state dir (default /var/cache/pms-timescaledb)
set -euo pipefail

say() { printf '==> %s\n' "$*"; }
die() { printf '==> ERROR: %s\n' "$*" >&2; exit 1; }

STATE_DIR=${PMS_TIMESCALEDB_STATE:-/var/cache/pms-timescaledb}
SRC_SUITE=trixie
SRC_PACKAGE=timescaledb
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
# Present in debian-archive-keyring >= 2023.3+deb12u1; its key is also in $KEYRING.
TRIXIE_KEY_FILE=/usr/share/keyrings/debian-archive-trixie-automatic.gpg

# --- detection helpers (cheap: no apt) ---------------------------------------

# has_timescaledb MAJOR: server binary, timescaledb.control and the versioned
# timescaledb-X.Y.Z.so are all installed for that PostgreSQL major.
has_timescaledb() {
    local major=$1
    local bindir=/usr/lib/postgresql/$major/bin
    local sharedir=/usr/share/postgresql/$major libdir=/usr/lib/postgresql/$major/lib
    [[ -x $bindir/postgres ]] || return 1
    if [[ -x $bindir/pg_config ]]; then
        sharedir=$("$bindir/pg_config" --sharedir) || return 1
        libdir=$("$bindir/pg_config" --pkglibdir) || return 1
    fi
    [[ -f $sharedir/extension/timescaledb.control ]] || return 1
    compgen -G "$libdir/timescaledb-*.so" >/dev/null
}

[[ -r /etc/os-release ]] || die "/etc/os-release not found; only Debian 12/13 are supported"
# shellcheck disable=SC1091
. /etc/os-release
CODENAME=${VERSION_CODENAME:-}
case "$CODENAME" in
    bookworm) PG_MAJOR=15; MODE=build ;;
    trixie)   PG_MAJOR=17; MODE=package ;;
    *)        PG_MAJOR=""; MODE=package ;;   # best effort: Debian's own package
esac

if [[ -n $PG_MAJOR ]] && has_timescaledb "$PG_MAJOR"; then
    say "PostgreSQL $PG_MAJOR with TimescaleDB is already installed"
    exit 0
fi

# --- from here on we need root ------------------------------------------------

if [[ $EUID -ne 0 ]]; then
    command -v sudo >/dev/null || die "must run as root (sudo not found)"
    say "re-running as root via sudo"
    exec sudo -- bash "${BASH_SOURCE[0]}" "$@"
fi

export DEBIAN_FRONTEND=noninteractive
mkdir -p "$STATE_DIR"
# Serialise concurrent runs, then re-check (another run may have finished).
exec 9>"$STATE_DIR/install.lock"
flock 9
if [[ -n $PG_MAJOR ]] && has_timescaledb "$PG_MAJOR"; then
    say "PostgreSQL $PG_MAJOR with TimescaleDB is already installed"
    exit 0
fi

APT_UPDATED=0
# apt_ensure_candidate PKG...: run `apt-get update` once if any PKG has no
# install candidate (fresh machine with empty package lists).
apt_ensure_candidate() {
    local pkg policy
    for pkg in "$@"; do
        policy=$(apt-cache policy "$pkg" 2>/dev/null || true)
        if [[ $policy != *"Candidate: "[!\(]* ]]; then
            if [[ $APT_UPDATED -eq 0 ]]; then
                say "apt-get update (no candidate for $pkg yet)"
                apt-get update -qq
                APT_UPDATED=1
            fi
        fi
    done
}

apt_install() {
    apt_ensure_candidate "$@"
    say "apt-get install $*"
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
        || die "apt-get install $* failed"
}

# --- Debian 13 and later: binary package ---------------------------------------

if [[ $MODE == package ]]; then
    if [[ -z $PG_MAJOR ]]; then
        say "unknown release '${CODENAME:-?}': trying Debian's default PostgreSQL + timescaledb package"
        apt_ensure_candidate postgresql
        PG_MAJOR=$(apt-cache depends postgresql 2>/dev/null \
            | sed -n 's/.*Depends: postgresql-\([0-9][0-9]*\)$/\1/p' | head -n1)
        [[ -n $PG_MAJOR ]] || die "cannot tell the default PostgreSQL major on this system"
        if has_timescaledb "$PG_MAJOR"; then
            say "PostgreSQL $PG_MAJOR with TimescaleDB is already installed"
            exit 0
        fi
        apt_ensure_candidate "postgresql-$PG_MAJOR-timescaledb"
        [[ $(apt-cache policy "postgresql-$PG_MAJOR-timescaledb" 2>/dev/null) == *"Candidate: "[!\(]* ]] \
            || die "no postgresql-$PG_MAJOR-timescaledb package on ${PRETTY_NAME:-this system}; only Debian 12/13 are supported"
    fi
    apt_install "postgresql-$PG_MAJOR" "postgresql-$PG_MAJOR-timescaledb"
    has_timescaledb "$PG_MAJOR" || die "packages installed but TimescaleDB files for PostgreSQL $PG_MAJOR not found"
    say "PostgreSQL $PG_MAJOR with TimescaleDB $(dpkg-query -W -f='${Version}' "postgresql-$PG_MAJOR-timescaledb") installed"
    exit 0
fi

# --- Debian 12: build from trixie's source package ------------------------------

PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
apt_install postgresql "postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR" \
    debian-archive-keyring cmake make gcc libc6-dev libssl-dev libkrb5-dev \
    dpkg-dev patch xz-utils
[[ -x $PG_CONFIG ]] || die "$PG_CONFIG missing after installing postgresql-server-dev-$PG_MAJOR"

# The trixie Release file is signed with the trixie archive keys; bookworm's
# debian-archive-keyring (2023.3+deb12u1 and later, installed/upgraded above)
# ships them. Verification itself is done by apt below.
[[ -f $TRIXIE_KEY_FILE ]] || die "the Debian archive keyring on this machine lacks the $SRC_SUITE keys (need debian-archive-keyring >= 2023.3+deb12u1 from bookworm); refusing to fetch unverified sources"

# Private apt configuration: own sources, lists and cache; the machine's apt
# sources, lists and hooks are left alone.
APT_DIR=$STATE_DIR/apt
mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial"
cat >"$APT_DIR/$SRC_SUITE-src.sources" <<EOF
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $SRC_SUITE
Components: main
Signed-By: $KEYRING
EOF
cat >"$APT_DIR/apt.conf" <<EOF
// Generated by scripts/install-postgres.sh: private apt state for fetching
// the $SRC_SUITE '$SRC_PACKAGE' source package only.
Dir::Etc::SourceList "$APT_DIR/$SRC_SUITE-src.sources";
Dir::Etc::SourceParts "/dev/null";
Dir::Etc::Preferences "/dev/null";
Dir::Etc::PreferencesParts "/dev/null";
Dir::State::Lists "$APT_DIR/lists";
Dir::Cache "$APT_DIR/cache";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
#clear APT::Update::Post-Invoke-Success;
#clear APT::Update::Post-Invoke;
#clear APT::Update::Pre-Invoke;
EOF
chown -R _apt:root "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" 2>/dev/null || true
PRIV_APT=(-c "$APT_DIR/apt.conf")

say "fetching the $SRC_SUITE source index (private apt state in $APT_DIR)"
apt-get "${PRIV_APT[@]}" update -qq || die "apt-get update of the private $SRC_SUITE deb-src index failed"

SRC_DIR=$STATE_DIR/src
BUILD_DIR=$STATE_DIR/build-pg$PG_MAJOR
LOG=$STATE_DIR/build.log
rm -rf "$SRC_DIR" "$BUILD_DIR"
mkdir -p "$SRC_DIR"
# Let apt download as its sandbox user (_apt) instead of warning and falling back to root.
chown _apt:root "$SRC_DIR" 2>/dev/null || true
say "downloading the $SRC_SUITE '$SRC_PACKAGE' source package"
(cd "$SRC_DIR" && apt-get "${PRIV_APT[@]}" source -qq --only-source "$SRC_PACKAGE") >"$LOG" 2>&1 \
    || { tail -n 20 "$LOG" >&2; die "apt-get source $SRC_PACKAGE failed (full log: $LOG)"; }
chown root:root "$SRC_DIR"

shopt -s nullglob
src_trees=("$SRC_DIR/$SRC_PACKAGE"-*/)
shopt -u nullglob
[[ ${#src_trees[@]} -eq 1 ]] || die "expected one unpacked source tree in $SRC_DIR, found ${#src_trees[@]}"
SRC_TREE=${src_trees[0]%/}
DEB_VERSION=$(dpkg-parsechangelog -l "$SRC_TREE/debian/changelog" -S Version)
TS_VERSION=$(sed -n 's/^version *= *//p' "$SRC_TREE/version.config" | head -n1)
[[ $TS_VERSION == 2.* ]] || die "unexpected TimescaleDB version '$TS_VERSION' in $SRC_TREE"

say "building TimescaleDB $TS_VERSION (Debian $DEB_VERSION, Apache-2 only) for PostgreSQL $PG_MAJOR; log: $LOG"
start=$SECONDS
{
    cmake -S "$SRC_TREE" -B "$BUILD_DIR" \
        -DCMAKE_BUILD_TYPE=Release \
        -DPG_CONFIG="$PG_CONFIG" \
        -DAPACHE_ONLY=ON \
        -DSEND_TELEMETRY_DEFAULT=OFF \
        -DUSE_TELEMETRY=OFF \
        -DREGRESS_CHECKS=OFF \
        -DTAP_CHECKS=OFF \
        -DWARNINGS_AS_ERRORS=OFF \
        -DGENERATE_DOWNGRADE_SCRIPT=OFF &&
    make -C "$BUILD_DIR" -j"$(nproc)" &&
    make -C "$BUILD_DIR" install
} >>"$LOG" 2>&1 || { tail -n 30 "$LOG" >&2; die "TimescaleDB build failed (full log: $LOG)"; }
say "built and installed in $((SECONDS - start)) s"

has_timescaledb "$PG_MAJOR" || die "build finished but TimescaleDB files for PostgreSQL $PG_MAJOR not found"
# Keep the list of installed files (for a manual uninstall), drop the build trees.
cp "$BUILD_DIR/install_manifest.txt" "$STATE_DIR/install_manifest-pg$PG_MAJOR.txt"
rm -rf "$SRC_DIR" "$BUILD_DIR"
say "PostgreSQL $PG_MAJOR with TimescaleDB $TS_VERSION installed (files listed in $STATE_DIR/install_manifest-pg$PG_MAJOR.txt)"
