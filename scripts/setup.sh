#!/usr/bin/env bash
# One-time machine setup for the local stack; every step is skipped when already done.
#
#   scripts/setup.sh venv     # .venv from requirements.txt + `pip install -e .`
#   scripts/setup.sh system   # Debian packages: postgresql, chromium, java, maven, redis-server,
#                             # prometheus (if missing)
#   scripts/setup.sh kafka    # Kafka jars from Maven Central into .local/kafka/libs
#   scripts/setup.sh registry # the schema registry (Apicurio Registry, Maven Central) into .local/registry;
#                             # checks for the Java 21+ it runs on
#   scripts/setup.sh compose  # .local/bin/compose-check (compose-go, from the Go module proxy)
#   scripts/setup.sh native   # the native scorer and event encoder (native/, Rust) into plugins/loanstream/
#   scripts/setup.sh dirs     # data/landing: where CSVs to stream are put (LOANSTREAM_DATA_DIRS)
#   scripts/setup.sh tls      # the local broker's CA, key and keystore (.local/kafka/tls, openssl)
#
# `make setup` runs them all. Only package registries are used (PyPI, Debian, Maven Central,
# the Go module proxy, crates.io).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# what the stack writes is its user's only: .local/ 0700 (make up keeps it so: devstack/private.py)
umask 077
mkdir -p "$ROOT/.local"
[ -f "$ROOT/.local/postgres-base" ] || chmod 700 "$ROOT/.local"

PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
VENV_STAMP="$VENV/.loanstream-setup.stamp"
KAFKA_LIBS="$ROOT/.local/kafka/libs"
KAFKA_POM="$ROOT/infra/kafka/pom.xml"
REGISTRY_HOME="$ROOT/.local/registry"
REGISTRY_POM="$ROOT/infra/registry/pom.xml"

log() { echo "[setup] $*"; }
die() { echo "[setup] ERROR: $*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi

APT_UPDATED=0
# apt_install PKG...: install, running `apt-get update` first only when the package lists
# don't know a package (a fresh machine or container has empty lists).
apt_install() {
    command -v apt-get >/dev/null || die "apt-get not found: install $* by hand"
    local pkg need_update=0
    for pkg in "$@"; do
        if ! apt-cache show "$pkg" >/dev/null 2>&1; then need_update=1; fi
    done
    if [ "$need_update" = 1 ] && [ "$APT_UPDATED" = 0 ]; then
        log "apt-get update"
        $SUDO apt-get update -qq
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null; then
        [ "$APT_UPDATED" = 1 ] && die "apt-get install $* failed"
        log "apt-get install failed; apt-get update and retry"
        $SUDO apt-get update -qq
        APT_UPDATED=1
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    fi
}

# no_service_start CMD...: run CMD with services' start refused (policy-rc.d exits 101), so
# Debian's prometheus/redis/postgresql packages do not start system-wide servers on their
# default ports; an existing policy-rc.d (as in Docker images) is left as it is.
no_service_start() {
    local policy=/usr/sbin/policy-rc.d
    if [ -e "$policy" ]; then "$@"; return; fi
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    local rc=0
    "$@" || rc=$?
    $SUDO rm -f "$policy"
    return "$rc"
}

setup_venv() {
    if [ -x "$VENV/bin/python" ] && [ -f "$VENV_STAMP" ] \
        && [ "$VENV_STAMP" -nt requirements.txt ] && [ "$VENV_STAMP" -nt pyproject.toml ]; then
        log "venv: up to date ($VENV)"
        return
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        log "venv: creating $VENV with $("$PYTHON" --version)"
        "$PYTHON" -m venv "$VENV"
    fi
    log "venv: pip install -r requirements.txt"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements.txt
    log "venv: pip install -e ."
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e .
    touch "$VENV_STAMP"
}

pg_bin_dir() {
    local d
    d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$d" ] && [ -x "$d/pg_ctl" ] && echo "$d"
}

setup_system() {
    local missing=()
    if [ -z "$(pg_bin_dir || true)" ]; then
        # Don't let the Debian package create and start its own cluster on 5432: the stack
        # runs its own server (data dir and port of the project's).
        $SUDO mkdir -p /etc/postgresql-common/createcluster.d
        echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.d/loanstream.conf >/dev/null
        missing+=(postgresql postgresql-client)
    fi
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
    command -v mvn >/dev/null || missing+=(maven)
    # the CeleryExecutor's broker (LOANSTREAM_EXECUTOR=celery); the stack runs its own server
    command -v redis-server >/dev/null || missing+=(redis-server)
    # Prometheus and promtool (the stack runs its own server; see no_service_start below)
    command -v prometheus >/dev/null && command -v promtool >/dev/null || missing+=(prometheus)
    command -v setsid >/dev/null || missing+=(util-linux)
    command -v sha1sum >/dev/null || missing+=(coreutils)
    if [ "${#missing[@]}" -gt 0 ]; then
        no_service_start apt_install "${missing[@]}"
    fi
    log "system: prometheus $(prometheus --version 2>&1 | head -n 1 | cut -d' ' -f3)"
    log "system: postgres $(pg_bin_dir), chromium $([ -x /usr/bin/chromium ] && echo /usr/bin/chromium), java $(java -version 2>&1 | head -n 1 | cut -d'"' -f2)"
}

setup_kafka() {
    local stamp="$KAFKA_LIBS/.pom.sha1" want
    want="$(sha1sum "$KAFKA_POM" | cut -c1-40)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && ls "$KAFKA_LIBS"/kafka_2.13-*.jar >/dev/null 2>&1; then
        log "kafka: jars present ($KAFKA_LIBS)"
        return
    fi
    log "kafka: mvn dependency:copy-dependencies -> $KAFKA_LIBS"
    rm -rf "$KAFKA_LIBS"
    mkdir -p "$KAFKA_LIBS"
    mvn -q -B -Dstyle.color=never -f "$KAFKA_POM" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS"
    ls "$KAFKA_LIBS"/kafka_2.13-*.jar >/dev/null 2>&1 || die "kafka: no broker jar after mvn"
    echo "$want" >"$stamp"
    log "kafka: $(ls "$KAFKA_LIBS"/*.jar | wc -l) jars"
}

# The schema registry: Apicurio Registry's Quarkus application (the `all` tar.gz of
# io.apicurio:apicurio-registry-app, infra/registry/pom.xml) unpacked into .local/registry/app;
# `make up` runs its quarkus-run.jar. It needs Java 21+, which Debian 12 does not package:
# devstack.registry looks in $LOANSTREAM_SCHEMA_REGISTRY_JAVA, $JAVA_HOME, /usr/lib/jvm/*, PATH.
setup_registry() {
    local stamp="$REGISTRY_HOME/.pom.sha1" dist="$REGISTRY_HOME/dist" app="$REGISTRY_HOME/app" want java pkg
    if ! java="$("$PYTHON" -m devstack.registry java 2>/dev/null)"; then
        # a Debian release that packages Java 21+ (Debian 13 does; 12 does not): install it
        for pkg in openjdk-25-jre-headless openjdk-21-jre-headless; do
            if command -v apt-get >/dev/null && [ -n "$(apt-cache madison "$pkg" 2>/dev/null)" ]; then
                apt_install "$pkg"
                break
            fi
        done
        java="$("$PYTHON" -m devstack.registry java)" || die "registry: no Java 21+ to run the schema registry (above: what to install)"
    fi
    want="$(sha1sum "$REGISTRY_POM" | cut -c1-40)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$app/quarkus-run.jar" ]; then
        log "registry: Apicurio Registry present ($app), Java $java"
        return
    fi
    log "registry: mvn dependency:copy-dependencies (Apicurio Registry, about 160 MB) -> $app"
    rm -rf "$dist" "$app" "$app.tmp" "$stamp"
    mkdir -p "$dist"
    mvn -q -B -Dstyle.color=never -f "$REGISTRY_POM" dependency:copy-dependencies -DoutputDirectory="$dist"
    mkdir -p "$app.tmp"
    tar -xzf "$dist"/apicurio-registry-app-*-all.tar.gz -C "$app.tmp"
    [ -f "$app.tmp/quarkus-run.jar" ] || die "registry: no quarkus-run.jar in the archive"
    mv "$app.tmp" "$app"
    rm -rf "$dist"
    echo "$want" >"$stamp"
    log "registry: $(basename "$(ls "$app"/app/apicurio-registry-app-*.jar)") in $app, Java $java"
}

# True when the built file $2 exists and no source file under $1 (build output in $1/target
# aside) is newer: the build steps below run again only after an edit.
up_to_date() {
    [ -e "$2" ] && [ -z "$(find "$1" -path "$1/target" -prune -o -type f -newer "$2" -print)" ]
}

# A validator of docker-compose.yml that needs no Docker engine: the compose-spec loader that
# `docker compose config` itself uses, built from the Go module proxy (tests/unit/test_compose.py).
setup_compose() {
    local src="$ROOT/infra/compose-check" bin="$ROOT/.local/bin/compose-check"
    if up_to_date "$src" "$bin"; then
        log "compose: validator present ($bin)"
        return
    fi
    command -v go >/dev/null 2>&1 || die "compose: Go is needed to build $bin"
    log "compose: go build -> $bin"
    mkdir -p "$(dirname "$bin")"
    (cd "$src" && go build -trimpath -o "$bin" .)
}

# The sink's and the producer's hot paths in Rust (loanstream/native.py says what they do and do
# not do). Without cargo the sink scores and the producer encodes in Python: same results, slower.
setup_native() {
    local src="$ROOT/native" lib="$ROOT/plugins/loanstream/_scoring_and_encoding.abi3.so"
    if up_to_date "$src" "$lib"; then
        log "native: scorer present ($lib)"
        return
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        log "native: WARNING cargo (Rust) not found: the sink will score and the producer encode in Python (slower);"
        log "native: install Rust (https://rustup.rs) and re-run make setup to build it"
        return
    fi
    log "native: cargo build --release (about 10 s the first time) -> $lib"
    PYO3_PYTHON="$VENV/bin/python" cargo build --quiet --release --locked --manifest-path "$src/Cargo.toml"
    cp "$src/target/release/lib_scoring_and_encoding.so" "$lib.tmp" && mv "$lib.tmp" "$lib"
}

# The landing directory: with include/data, the default LOANSTREAM_DATA_DIRS, the only places
# runs read CSVs from (loanstream/paths.py). Git-ignored.
setup_dirs() {
    mkdir -p "$ROOT/data/landing"
    log "dirs: landing directory $ROOT/data/landing"
}

# The SASL_SSL listener's TLS material (LOANSTREAM_KAFKA_SASL_SSL=1 uses it): a local CA and the
# broker's key, certificate and PKCS12 keystore, made once with openssl; nothing is downloaded.
setup_tls() {
    command -v openssl >/dev/null || apt_install openssl
    log "tls: $("$PYTHON" -m devstack.kafka_tls tls "$ROOT/.local/kafka/tls") (CA of the local broker)"
}

if [ "$#" -eq 0 ]; then set -- venv system kafka registry compose native dirs tls; fi
for step in "$@"; do
    case "$step" in
    venv) setup_venv ;;
    system) setup_system ;;
    kafka) setup_kafka ;;
    registry) setup_registry ;;
    compose) setup_compose ;;
    native) setup_native ;;
    dirs) setup_dirs ;;
    tls) setup_tls ;;
    *) die "unknown step: $step (venv, system, kafka, registry, compose, native, dirs, tls)" ;;
    esac
done
