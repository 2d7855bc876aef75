#!/usr/bin/env bash
# prove.sh [--rebuild-stack] [--dev] [FIXTURE...]
#
# End-to-end proof of the stack images, paas-build, the built-in buildpacks and the
# fixtures in tests/fixtures/, with the docker CLI standing in for what the Rust code does
# through bollard (each docker command below names the API call it stands for). It is the
# executable form of stack/README.md: port it to Rust integration tests.
#
#   --rebuild-stack  build both stack images first (build-stack.sh) even if they exist
#   --dev            overlay stack/bin, stack/lib and buildpacks/ from this checkout into
#                    each build container, to iterate without rebuilding the build image
#   FIXTURE...       only these scenarios (default: all)
#
# Needs root only for --rebuild-stack (or missing images). Everything it creates carries the
# label paas-prove=1 and is removed at the end. Apps are reached on 127.0.0.1 published
# ports. Prints "N passed, N failed" last; exits 1 if any check failed.
# Figures (build times, sizes, network) are written to $PAAS_PROVE_OUT/figures.txt.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
fixtures=$root/tests/fixtures
OUT=${PAAS_PROVE_OUT:-/tmp/paas-prove}
RUN_IMAGE=paas/stack-run:bookworm
BUILD_IMAGE=paas/stack-build:bookworm
LABEL=paas-prove=1
rebuild=0 dev=0 only=()
for arg in "$@"; do
    case "$arg" in
        --rebuild-stack) rebuild=1 ;;
        --dev) dev=1 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) only+=("$arg") ;;
    esac
done
rm -rf "$OUT" && mkdir -p "$OUT"
FIGURES=$OUT/figures.txt
: > "$FIGURES"

passed=0 failed=0 skipped=0
pass() { echo "ok      - $1"; passed=$((passed + 1)); }
fail() { echo "FAIL    - $1"; failed=$((failed + 1)); [ -z "${2:-}" ] || { echo "          (log: $2)"; tail -n 15 "$2" | sed 's/^/          | /'; }; }
skip() { echo "skip    - $1"; skipped=$((skipped + 1)); }
figure() { echo "figure  - $*"; echo "$*" >> "$FIGURES"; }
wanted() { [ ${#only[@]} -eq 0 ] && return 0; local f; for f in "${only[@]}"; do [ "$f" = "$1" ] && return 0; done; return 1; }
now() { date +%s.%N; }
since() { printf '%.1f' "$(echo "$(now) - $1" | bc)"; }

cleanup() {
    local ids
    ids=$(docker ps -aq --filter "label=$LABEL")
    [ -z "$ids" ] || docker rm -f $ids > /dev/null 2>&1
    ids=$(docker images -q --filter "label=$LABEL" | sort -u)
    [ -z "$ids" ] || docker rmi -f $ids > /dev/null 2>&1
    ids=$(docker volume ls -q --filter "label=$LABEL")
    [ -z "$ids" ] || docker volume rm -f $ids > /dev/null 2>&1
}
trap cleanup EXIT
cleanup

# ---- 1. stack images -------------------------------------------------------------------
if [ "$rebuild" = 1 ] || ! docker image inspect "$RUN_IMAGE" > /dev/null 2>&1 ||
   ! docker image inspect "$BUILD_IMAGE" > /dev/null 2>&1; then
    if [ -z "${PAAS_EXTRA_CA_CERTS+set}" ] && compgen -G '/usr/local/share/ca-certificates/*.crt' > /dev/null; then
        # This host trusts extra CAs (a TLS-inspecting egress proxy): so must the images.
        export PAAS_EXTRA_CA_CERTS=/usr/local/share/ca-certificates
    fi
    for kind in run build; do
        t=$(now)
        if "$here/build-stack.sh" "$kind" > "$OUT/build-stack-$kind.log" 2>&1; then
            pass "stack image $kind built"
            figure "stack $kind: debootstrap+prepare+import $(since "$t")s"
        else
            fail "stack image $kind built" "$OUT/build-stack-$kind.log"
            echo "$passed passed, $failed failed"; exit 1
        fi
    done
fi
for image in "$RUN_IMAGE" "$BUILD_IMAGE"; do
    figure "image $image size $(docker image inspect -f '{{.Size}}' "$image" | numfmt --to=iec)"
done
config=$(docker image inspect -f '{{.Config.User}}|{{.Config.WorkingDir}}|{{index .Config.Labels "paas.stack"}}' "$RUN_IMAGE")
[ "$config" = "app|/app|bookworm" ] && pass "run image config: User app, WorkingDir /app, label paas.stack" || fail "run image config is $config"
probe=$(docker run --rm --label "$LABEL" "$RUN_IMAGE" bash -c 'id -u; python3 -c "import ssl, sqlite3, zoneinfo; print(3)"; node -e "console.log(18)"; command -v gcc || echo no-gcc; ls /usr/share/man | wc -l' 2>&1 | tr '\n' ' ')
[ "$probe" = "1000 3 18 no-gcc 0 " ] && pass "run image: uid 1000, python3, node, no compiler, no man pages" || fail "run image probe: $probe"
probe=$(docker run --rm --label "$LABEL" "$BUILD_IMAGE" bash -c 'gcc --version >/dev/null && go version >/dev/null && npm --version >/dev/null && pip --version >/dev/null && git --version >/dev/null && pkg-config --exists libpq && test -w /cache && echo fine' 2>&1)
[ "$probe" = fine ] && pass "build image: gcc, go, npm, pip, git, libpq-dev, writable /cache" || fail "build image probe: $probe"

# ---- 2. network from a build container ---------------------------------------------------
BUILD_NET=""
for net in bridge host; do
    t=$(now)
    if docker run --rm --label "$LABEL" --network "$net" "$BUILD_IMAGE" \
        timeout 60 python3 -m pip download --no-deps --disable-pip-version-check -q -d /tmp/dl flask > "$OUT/net-$net.log" 2>&1; then
        figure "network: pip download flask from a build container on --network $net works ($(since "$t")s)"
        [ -n "$BUILD_NET" ] || BUILD_NET=$net
    else
        figure "network: pip download flask from a build container on --network $net FAILS: $(grep -m1 -oE '(SSL|Connection|resolve|Network)[^)]*' "$OUT/net-$net.log" | head -c 120)"
    fi
done
BUILD_NET=${BUILD_NET:-bridge}

# ---- build and run helpers ---------------------------------------------------------------
# build_app NAME SOURCE_DIR [--env K=V] [--buildpack SRC=/abs/dest] [--network N] [--user U]
#           [--owner UID] [--cache VOLUME]
# Sets BUILD_RC, BUILD_LOG, BUILD_SECS, SLUG_TAR, IMAGE, RESULT (JSON) for the caller.
build_app() {
    local name=$1 src=$2; shift 2
    local net=$BUILD_NET user=app owner=1000 cache="paas-prove-cache-$name" envdir bps=() t cid rid
    envdir=$(mktemp -d "$OUT/env.XXXX")
    while [ $# -gt 0 ]; do
        case "$1" in
            --env) printf '%s' "${2#*=}" > "$envdir/${2%%=*}"; shift 2 ;;
            --buildpack) bps+=("$2"); shift 2 ;;
            --network) net=$2; shift 2 ;;
            --user) user=$2; shift 2 ;;
            --owner) owner=$2; shift 2 ;;
            --cache) cache=$2; shift 2 ;;
            *) echo "build_app: unknown option $1" >&2; return 2 ;;
        esac
    done
    docker volume inspect "$cache" > /dev/null 2>&1 || docker volume create --label "$LABEL" "$cache" > /dev/null
    BUILD_LOG=$OUT/build-$name.log
    SLUG_TAR=$OUT/slug-$name.tar
    IMAGE=paas-prove/$name:latest
    RESULT=""
    local t_all
    t_all=$(now)
    # POST /containers/create: the build image, paas-build as the command, the per-app cache.
    cid=$(docker create --label "$LABEL" --network "$net" --user "$user" -e SOURCE_VERSION=0123abc \
        -v "$cache:/cache" "$BUILD_IMAGE" /usr/local/bin/paas-build)
    if [ "$dev" = 1 ]; then
        tar --numeric-owner --owner=0 --group=0 -C "$here" -c bin/paas-build lib/build_result.py \
            --transform 's,^bin/,usr/local/bin/,;s,^lib/,usr/local/lib/paas/,' | docker cp - "$cid:/"
        tar --numeric-owner --owner=0 --group=0 -C "$root" -c buildpacks --transform 's,^buildpacks,opt/paas/buildpacks,' |
            docker cp - "$cid:/"
    fi
    # PUT /containers/{id}/archive?path=/app: the source, owned by uid 1000 in the tar headers.
    tar --numeric-owner --owner="$owner" --group="$owner" -C "$src" -c . | docker cp - "$cid:/app"
    # PUT /containers/{id}/archive?path=/env: one file per config var.
    tar --numeric-owner --owner=1000 --group=1000 -C "$envdir" -c . | docker cp - "$cid:/env"
    local bp
    for bp in "${bps[@]}"; do
        tar --numeric-owner --owner=0 --group=0 -C "${bp%%=*}" -c . --transform "s,^\.,${bp#*=}," |
            docker cp - "$cid:/"
    done
    # POST /containers/{id}/start + attach (logs) + wait (exit code).
    t=$(now)
    docker start -a "$cid" > "$BUILD_LOG" 2>&1
    BUILD_RC=$?
    BUILD_SECS=$(since "$t")
    if [ "$BUILD_RC" = 0 ]; then
        # GET /containers/{id}/archive?path=/app: the slug, as a tar of app/...
        docker cp "$cid:/app" - > "$SLUG_TAR"
        RESULT=$(tar -xOf "$SLUG_TAR" app/.paas/build-result.json)
        # Runtime image: create (not start) a container of the run image, PUT the slug at /,
        # POST /commit with the image config changes.
        rid=$(docker create --label "$LABEL" "$RUN_IMAGE")
        docker cp - "$rid:/" < "$SLUG_TAR"
        docker commit --change "LABEL paas-prove=1 paas.app=$name" "$rid" "$IMAGE" > /dev/null
        docker rm "$rid" > /dev/null
    fi
    docker rm "$cid" > /dev/null
    rm -rf "$envdir"
    PIPELINE_SECS=$(since "$t_all")
    return 0
}

process_command() { # process_command TYPE: from $RESULT
    python3 -c 'import json,sys; print(json.loads(sys.argv[1])["process_types"].get(sys.argv[2], ""))' "$RESULT" "$1"
}

# run_app NAME IMAGE CMD...: a hardened web container as the scheduler will start it.
run_app() {
    local name=$1 image=$2; shift 2
    docker rm -f "paas-prove-$name" > /dev/null 2>&1
    docker run -d --label "$LABEL" --name "paas-prove-$name" -e PORT=5000 -e PAAS_PROCESS=web.1 \
        -p 127.0.0.1::5000 --init --cap-drop ALL --security-opt no-new-privileges \
        --memory 256m --pids-limit 256 "$image" "$@" > /dev/null
}

# http_get NAME PATH: body of GET, waiting up to 20 s for the app to listen; sets HTTP_STATUS.
http_get() {
    local name=$1 path=$2 port body
    HTTP_STATUS=000
    for _ in $(seq 1 80); do
        port=$(docker port "paas-prove-$name" 5000/tcp 2>/dev/null | head -n1)
        if [ -n "$port" ]; then
            body=$(curl -s --max-time 3 -o "$OUT/body" -w '%{http_code}' "http://$port$path") && HTTP_STATUS=$body
            if [ "$HTTP_STATUS" != 000 ]; then cat "$OUT/body"; return 0; fi
        fi
        [ "$(docker inspect -f '{{.State.Running}}' "paas-prove-$name" 2>/dev/null)" = true ] || return 1
        sleep 0.25
    done
    return 1
}

# web_fixture NAME PATH EXPECTED [build_app options]: build, check the web process answers.
web_fixture() {
    local name=$1 path=$2 expected=$3; shift 3
    build_app "$name" "$fixtures/$name" "$@"
    if [ "$BUILD_RC" != 0 ]; then fail "$name builds" "$BUILD_LOG"; return 1; fi
    pass "$name builds in ${BUILD_SECS}s"
    figure "build $name: ${BUILD_SECS}s"
    local web
    web=$(process_command web)
    [ -n "$web" ] || { fail "$name has a web process type"; return 1; }
    run_app "$name" "$IMAGE" paas-launch "$web"
    local body
    body=$(http_get "$name" "$path")
    if [[ $body == *"$expected"* ]]; then
        pass "$name answers on \$PORT: $(echo "$body" | head -n1 | cut -c1-90)"
    else
        docker logs "paas-prove-$name" > "$OUT/run-$name.log" 2>&1
        fail "$name answers with '$expected' (got status $HTTP_STATUS: ${body:0:80})" "$OUT/run-$name.log"
        return 1
    fi
}

# ---- 3. fixtures -------------------------------------------------------------------------
if wanted python-stdlib; then
    if web_fixture python-stdlib / "python-stdlib ok (python 3.11, venv /app/.venv)"; then
        [ "$(process_command web)" = "python app.py" ] && pass "python-stdlib: default web is 'python app.py'" || fail "python-stdlib default web: $(process_command web)"
        t=$(now); docker stop -t 10 paas-prove-python-stdlib > /dev/null
        secs=$(since "$t")
        [ "${secs%.*}" -lt 3 ] && pass "docker stop of a web process takes ${secs}s (--init forwards SIGTERM)" || fail "docker stop took ${secs}s"
        owners=$(tar -tvf "$SLUG_TAR" --numeric-owner | awk '{print $2}' | sort -u | tr '\n' ' ')
        [ "$owners" = "1000/1000 " ] && pass "slug files are all owned by 1000:1000" || fail "slug owners: $owners"
    fi
fi

if wanted build-as-root; then
    # The source uploaded with root-owned tar headers, paas-build started as root: it must
    # fix the ownership and drop to app before running any buildpack.
    build_app build-as-root "$fixtures/python-stdlib" --user root --owner 0
    if [ "$BUILD_RC" = 0 ] && [ "$(tar -tvf "$SLUG_TAR" --numeric-owner | awk '{print $2}' | sort -u)" = "1000/1000" ]; then
        pass "paas-build started as root with root-owned source drops to app and builds"
    else
        fail "paas-build as root" "$BUILD_LOG"
    fi
fi

if wanted flask; then
    if [ -z "$(grep -l works "$FIGURES")" ]; then
        skip "flask: no network to PyPI from build containers (see figures)"
    else
        work=$(mktemp -d "$OUT/flask.XXXX")
        cp -r "$fixtures/flask/." "$work/"
        build_app flask "$work"
        if [ "$BUILD_RC" = 0 ]; then
            pass "flask cold build (empty cache, network $BUILD_NET) in ${BUILD_SECS}s"
            figure "flask cold build: ${BUILD_SECS}s in paas-build (empty cache volume, pip download from PyPI); ${PIPELINE_SECS}s with create, upload, slug export and commit"
            figure "flask slug $(du -h "$SLUG_TAR" | cut -f1) (tar); app image $(docker image inspect -f '{{.Size}}' "$IMAGE" | numfmt --to=iec)"
            run_app flask "$IMAGE" paas-launch "$(process_command web)"
            body=$(http_get flask /)
            [[ $body == "flask ok v1"* ]] && pass "flask answers via gunicorn: $body" || fail "flask answers (got $HTTP_STATUS: ${body:0:80})"
            sed -i 's/VERSION = "v1"/VERSION = "v2"/' "$work/app.py"
            build_app flask "$work"
            if [ "$BUILD_RC" = 0 ] && grep -q "reused the cached virtualenv" "$BUILD_LOG"; then
                pass "flask warm rebuild (code-only change) reuses the venv: ${BUILD_SECS}s"
                figure "flask warm rebuild (code-only change): ${BUILD_SECS}s in paas-build; ${PIPELINE_SECS}s with create, upload, slug export and commit"
            else
                fail "flask warm rebuild reuses the cached virtualenv" "$BUILD_LOG"
            fi
            run_app flask "$IMAGE" paas-launch "$(process_command web)"
            body=$(http_get flask /)
            [[ $body == "flask ok v2"* ]] && pass "flask serves the new code after the warm rebuild" || fail "flask v2 (got ${body:0:80})"
            # The same warm rebuild with no network at all: nothing may be downloaded.
            build_app flask "$work" --network none
            [ "$BUILD_RC" = 0 ] && pass "flask warm rebuild works with --network none (${BUILD_SECS}s)" || fail "flask warm rebuild offline" "$BUILD_LOG"
        else
            fail "flask cold build" "$BUILD_LOG"
        fi
    fi
fi

if wanted django; then
    if [ -z "$(grep -l works "$FIGURES")" ]; then
        skip "django: no network to PyPI from build containers"
    elif web_fixture django / "django ok collectstatic=yes"; then
        [[ $(process_command web) == "gunicorn mysite.wsgi --bind 0.0.0.0:\$PORT" ]] && pass "django: default web is gunicorn mysite.wsgi" || fail "django default web: $(process_command web)"
        grep -q "Running Django collectstatic" "$BUILD_LOG" && pass "django: collectstatic ran at build time" || fail "django collectstatic" "$BUILD_LOG"
        build_app django "$fixtures/django" --env DISABLE_COLLECTSTATIC=1
        grep -q "Skipping Django collectstatic (DISABLE_COLLECTSTATIC is set)" "$BUILD_LOG" && pass "django: DISABLE_COLLECTSTATIC=1 skips it" || fail "DISABLE_COLLECTSTATIC" "$BUILD_LOG"
    fi
fi

if wanted explicit-buildpack-rejects; then
    build_app explicit-buildpack-rejects "$fixtures/python-stdlib" --env BUILDPACK_URL=heroku/go
    [ "$BUILD_RC" = 2 ] && grep -q "app not compatible with buildpack heroku/go" "$BUILD_LOG" && grep -q "its bin/detect said: go.mod" "$BUILD_LOG" &&
        pass "an explicit BUILDPACK_URL whose detect fails: exit 2, says what it wanted" || fail "explicit buildpack rejection (exit $BUILD_RC)" "$BUILD_LOG"
fi

if wanted static && web_fixture static / "static ok"; then
    http_get static /.env > /dev/null
    [ "$HTTP_STATUS" = 404 ] && pass "static: dotfiles are not served (/.env is 404)" || fail "static serves /.env ($HTTP_STATUS)"
fi

if wanted node-nodeps && web_fixture node-nodeps / "built NODE_ENV=production"; then
    [ "$(process_command web)" = "node server.js" ] && pass "node-nodeps: default web is the start script, 'node server.js'" || fail "node default web: $(process_command web)"
fi

if wanted go-stdlib && web_fixture go-stdlib / "go-stdlib ok go1.19"; then
    work=$(mktemp -d "$OUT/go.XXXX")
    cp -r "$fixtures/go-stdlib/." "$work/"
    echo '// a code-only change' >> "$work/main.go"
    build_app go-stdlib "$work"
    [ "$BUILD_RC" = 0 ] && { pass "go-stdlib warm rebuild (code-only change) ${BUILD_SECS}s (GOCACHE in the cache volume)"; figure "go-stdlib warm rebuild (code-only change): ${BUILD_SECS}s"; } || fail "go-stdlib rebuild" "$BUILD_LOG"
fi

wanted procfile-shell && web_fixture procfile-shell / "procfile-shell ok"

if wanted custom-buildpack; then
    bp=$fixtures/custom-buildpack/buildpack
    if web_fixture custom-buildpack / "greeting=Hello from ENV_DIR build=1" \
        --env GREETING="Hello from ENV_DIR" --env BUILDPACK_URL=/buildpacks/custom --buildpack "$bp=buildpacks/custom"; then
        tar -tf "$SLUG_TAR" | grep -qE '^app/(buildpack|NOTES.md)' && fail ".slugignore removed buildpack/ and *.md" || pass ".slugignore removed buildpack/ and *.md before compile"
        [[ $RESULT == *'"config_vars":{"CUSTOM_DEFAULT":"from release"}'* ]] && pass "bin/release config_vars are in the result" || fail "config_vars in $RESULT"
        build_app custom-buildpack "$fixtures/custom-buildpack" \
            --env GREETING="Hello from ENV_DIR" --env BUILDPACK_URL=/buildpacks/custom --buildpack "$bp=buildpacks/custom"
        run_app custom-buildpack "$IMAGE" paas-launch "$(process_command web)"
        body=$(http_get custom-buildpack /)
        [[ $body == *"build=2"* ]] && pass "CACHE_DIR persists between builds (build=2)" || fail "second build sees the cache (got ${body:0:80})"
    fi
fi

if wanted multi-buildpack; then
    web_fixture multi-buildpack / "exported=exported-by-custom-buildpack" \
        --buildpack "$fixtures/custom-buildpack/buildpack=buildpacks/custom" \
        --buildpack "$fixtures/multi-buildpack/buildpack-after=buildpacks/after" &&
        pass ".buildpacks: the first buildpack's export file reached the second"
fi

if wanted healthcheck-path && web_fixture healthcheck-path /healthz "healthy"; then
    path=$(tar -xOf "$SLUG_TAR" app/app.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["healthchecks"]["web"]["path"])')
    [ "$path" = /healthz ] && pass "app.json healthchecks.web.path is /healthz" || fail "app.json path: $path"
    http_get healthcheck-path / > /dev/null
    [ "$HTTP_STATUS" = 404 ] && pass "healthcheck-path: / is 404, so only the app.json path proves health" || fail "healthcheck-path / is $HTTP_STATUS"
fi

if wanted dockerfile; then
    # POST /build with the fixture as the context tar (legacy builder, as bollard does).
    t=$(now)
    if DOCKER_BUILDKIT=0 docker build -q --label "$LABEL" -t paas-prove/dockerfile "$fixtures/dockerfile" > "$OUT/build-dockerfile.log" 2>&1; then
        pass "dockerfile builds FROM $RUN_IMAGE with no pull ($(since "$t")s)"
        run_app dockerfile paas-prove/dockerfile
        body=$(http_get dockerfile /)
        [[ $body == "dockerfile ok"* ]] && pass "dockerfile answers with its CMD: $body" || fail "dockerfile answers (got $HTTP_STATUS)"
    else
        fail "dockerfile builds" "$OUT/build-dockerfile.log"
    fi
fi

if wanted nomatch; then
    build_app nomatch "$fixtures/nomatch"
    if [ "$BUILD_RC" = 2 ] && grep -q "No default language" "$BUILD_LOG" && grep -q "requirements.txt, pyproject.toml or setup.py" "$BUILD_LOG" &&
       [[ $(tail -n1 "$BUILD_LOG") == "PAAS-BUILD-FAILED 2 "* ]]; then
        pass "nomatch: exit 2, lists what each buildpack looks for"
    else
        fail "nomatch (exit $BUILD_RC)" "$BUILD_LOG"
    fi
fi

if wanted compile-fails; then
    build_app compile-fails "$fixtures/compile-fails"
    if [ "$BUILD_RC" = 1 ] && grep -q 'cannot use "5000"' "$BUILD_LOG" && grep -q "failed to compile Go app" "$BUILD_LOG"; then
        pass "compile-fails: exit 1 with the compiler's message"
    else
        fail "compile-fails (exit $BUILD_RC)" "$BUILD_LOG"
    fi
fi

if wanted buildpack-url-offline; then
    build_app buildpack-url-offline "$fixtures/python-stdlib" --network none \
        --env BUILDPACK_URL=https://github.com/heroku/heroku-buildpack-python.git
    if [ "$BUILD_RC" = 3 ] && grep -q "could not fetch buildpack URL: no network access from the build container" "$BUILD_LOG"; then
        pass "git BUILDPACK_URL without network: exit 3, 'no network access from the build container'"
    else
        fail "git BUILDPACK_URL offline (exit $BUILD_RC)" "$BUILD_LOG"
    fi
fi

if wanted worker-only; then
    build_app worker-only "$fixtures/worker-only"
    if [ "$BUILD_RC" = 0 ] && [ "$(python3 -c 'import json,sys; print(sorted(json.loads(sys.argv[1])["process_types"]))' "$RESULT")" = "['worker']" ]; then
        pass "worker-only: process types are just worker"
        docker run -d --label "$LABEL" --name paas-prove-worker --init --cap-drop ALL "$IMAGE" paas-launch "$(process_command worker)" > /dev/null
        for _ in $(seq 1 40); do
            docker logs paas-prove-worker 2>&1 | grep -q "worker-only tick" && break
            sleep 0.25
        done
        docker logs paas-prove-worker > "$OUT/run-worker.log" 2>&1
        grep -q "worker-only tick" "$OUT/run-worker.log" && pass "worker-only: the worker runs and logs" || fail "worker-only logs" "$OUT/run-worker.log"
    else
        fail "worker-only build" "$BUILD_LOG"
    fi
fi

if wanted unhealthy; then
    build_app unhealthy "$fixtures/unhealthy"
    if [ "$BUILD_RC" = 0 ]; then
        run_app unhealthy "$IMAGE" paas-launch "$(process_command web)"
        code=$(timeout 20 docker wait paas-prove-unhealthy)
        docker logs paas-prove-unhealthy > "$OUT/run-unhealthy.log" 2>&1
        if [ "$code" = 1 ] && grep -q "ModuleNotFoundError: No module named 'missing_dependency'" "$OUT/run-unhealthy.log"; then
            pass "unhealthy: web exits 1 at start with ModuleNotFoundError"
        else
            fail "unhealthy (exit $code)" "$OUT/run-unhealthy.log"
        fi
    else
        fail "unhealthy build" "$BUILD_LOG"
    fi
fi

if wanted release-phase-fails; then
    build_app release-phase-fails "$fixtures/release-phase-fails"
    release=$(process_command release)
    if [ "$BUILD_RC" = 0 ] && [ -n "$release" ]; then
        docker run --label "$LABEL" --rm --init --cap-drop ALL -e PORT=5000 "$IMAGE" paas-launch "$release" > "$OUT/run-release.log" 2>&1
        code=$?
        [ "$code" = 3 ] && grep -q "migration failed" "$OUT/run-release.log" && pass "release-phase-fails: the release process exits 3" || fail "release phase exit $code" "$OUT/run-release.log"
    else
        fail "release-phase-fails build with a release process type" "$BUILD_LOG"
    fi
fi

echo
echo "figures:"; sed 's/^/  /' "$FIGURES"
[ "$skipped" = 0 ] || echo "$skipped skipped"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
