#!/usr/bin/env bash
# alpr-stream infrastructure without containers: Kafka (KRaft), Cassandra 5.0, a Flink 2.2
# standalone cluster (JobManager + FLINK_TASKMANAGERS TaskManagers, PyFlink job environment),
# Triton (raw tritonserver from nvidia-pytriton).
#
# usage: infra/services.sh {fetch|up|down|status} [kafka|cassandra|flink|triton|all]...
#
#   fetch   download jars (mvn) and wheels (pip) into ${ALPR_CACHE:-<repo>/.cache}; anything
#           already there is skipped. `fetch flink` builds the Flink job venv (whose pyflink/
#           folder is the Flink home) and fetches the Kafka connector jar.
#   up      start on 127.0.0.1 with data/logs/pids under ${ALPR_RUN:-<repo>/.run}/<service>/,
#           wait until healthy, create Kafka topics / apply the Cassandra schema.
#   down    SIGTERM, wait, then SIGKILL.
#   status  one line per service.
#
# Versions and ports: infra/versions.env; any of its keys set in the environment wins, e.g.
#   KAFKA_PORT=29092 ALPR_RUN=/tmp/run1 infra/services.sh up kafka
# Other knobs: ALPR_PYTHON (venv python for health checks, default <repo>/.venv/bin/python),
#   ALPR_UP_TIMEOUT (seconds per service, default 240), ALPR_STOP_TIMEOUT (default 60).
set -euo pipefail

INFRA="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$INFRA")"

# --- configuration ---------------------------------------------------------------------------
while IFS= read -r line || [[ -n $line ]]; do
  [[ -z ${line//[[:space:]]/} || $line == \#* ]] && continue
  key=${line%%=*}; val=${line#*=}
  if [[ -z ${!key+x} ]]; then export "$key=$val"; fi
done < "$INFRA/versions.env"

CACHE="${ALPR_CACHE:-$REPO/.cache}"
RUN="${ALPR_RUN:-$REPO/.run}"
PY="${ALPR_PYTHON:-$REPO/.venv/bin/python}"
HOST=127.0.0.1
UP_TIMEOUT="${ALPR_UP_TIMEOUT:-240}"
STOP_TIMEOUT="${ALPR_STOP_TIMEOUT:-60}"
MVN=(mvn -B -Dstyle.color=never -Djansi.passthrough=false)  # no -q/-ntp: `progress` counts their lines
[[ -n ${MAVEN_REPO_LOCAL:-} ]] && MVN+=("-Dmaven.repo.local=$MAVEN_REPO_LOCAL")

KAFKA_LIBS="$CACHE/kafka-$KAFKA_VERSION"
CASSANDRA_LIBS="$CACHE/cassandra-$CASSANDRA_VERSION"
PYTRITON_DIR="$CACHE/pytriton-$PYTRITON_VERSION"
PY_TAG="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
# the Flink job environment (a venv); its pyflink/ folder is the Flink home (bin/, lib/, plugins/)
FLINK_ENV="$CACHE/flink-env-$FLINK_VERSION-py$PY_TAG"
FLINK_PY="$FLINK_ENV/bin/python"
FLINK_HOME_DIR="$FLINK_ENV/lib/python$PY_TAG/site-packages/pyflink"
FLINK_CONNECTOR_DIR="$CACHE/flink-sql-connector-kafka-$FLINK_KAFKA_CONNECTOR_VERSION"
FLINK_KAFKA_JAR="$FLINK_CONNECTOR_DIR/flink-sql-connector-kafka-$FLINK_KAFKA_CONNECTOR_VERSION.jar"
# the job's small Java part (Kafka record <-> byte[] envelope, capture-time assigner), built by fetch
FLINK_ALPR_JAR="$CACHE/flink-alpr-$FLINK_VERSION/alpr-flink.jar"
# the python-backend venv; named by its pins, so a changed pin builds a new one beside the old
TRITON_ENV_SPECS=("$TRITON_ENV_NUMPY" "$TRITON_ENV_ONNXRUNTIME" "$TRITON_ENV_OPENCV" "$TRITON_ENV_PYCLIPPER" "$TRITON_ENV_PILLOW")
TRITON_ENV="$CACHE/triton-pyenv-$PY_TAG-$(printf '%s\n' "${TRITON_ENV_SPECS[@]}" | sha1sum | cut -c1-8)"

log() { printf '[services %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
have_marker() { [[ -f $1/.alpr-complete ]]; }
mark_done() { date -u +%FT%TZ > "$1/.alpr-complete"; }

# --- process helpers -------------------------------------------------------------------------
pid_of() { [[ -s $1 ]] && cat "$1" || true; }
# alive PIDFILE MARKER: the pid runs and its command line mentions MARKER (guards pid reuse)
alive() {
  local pid; pid="$(pid_of "$1")"
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"
}
# spawn PIDFILE LOGFILE CMD...: own session (setsid) so `down` can signal the whole group
spawn() {
  local pidf=$1 logf=$2; shift 2
  setsid "$@" >>"$logf" 2>&1 </dev/null &
  echo $! > "$pidf"
}
# stop NAME PIDFILE MARKER
stop_pid() {
  local name=$1 pidf=$2 marker=$3 pid i
  if ! alive "$pidf" "$marker"; then rm -f "$pidf"; log "$name: not running"; return 0; fi
  pid="$(pid_of "$pidf")"
  log "$name: SIGTERM $pid"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT * 2; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name: still alive after ${STOP_TIMEOUT}s, SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$pidf"
  log "$name: stopped"
}
# wait_or_die NAME LOGFILE CMD...: run a health check, show the log tail if it fails
wait_or_die() {
  local name=$1 logf=$2; shift 2
  if ! "$@"; then
    log "$name: not healthy; last lines of $logf:"
    tail -n 40 "$logf" >&2 || true
    die "$name failed to start (see $logf)"
  fi
}
render() { # render TEMPLATE OUT KEY=VAL... : replace @KEY@
  local tpl=$1 out=$2; shift 2
  local text; text="$(cat "$tpl")"
  local kv
  for kv in "$@"; do text="${text//@${kv%%=*}@/${kv#*=}}"; done
  printf '%s\n' "$text" > "$out"
}
svcctl() { "$PY" "$INFRA/svcctl.py" "$@"; }
# closed services (infra/svcauth.py): secrets in $RUN/secrets (0600); setup steps run as the admins
svcauth() { "$PY" "$INFRA/svcauth.py" "$@"; }
as_kafka_admin() { ALPR_KAFKA__SASL_USERNAME=admin ALPR_KAFKA__SASL_PASSWORD_FILE="$RUN/secrets/kafka-admin.password" \
  ALPR_KAFKA__SASL_MECHANISM=SCRAM-SHA-512 ALPR_KAFKA__SECURITY_PROTOCOL=SASL_PLAINTEXT "$@"; }
as_cassandra_admin() { ALPR_CASSANDRA__USERNAME=alpr_admin ALPR_CASSANDRA__PASSWORD_FILE="$RUN/secrets/cassandra-alpr_admin.password" "$@"; }
# progress LABEL LOG {pip PYTHON|mvn MVN} ARGS...: output to LOG; on stderr a counter (rate, elapsed), then a summary or the log's tail
progress() { "$PY" "$INFRA/stream_progress.py" --stamp services --label "$1" --log "$2" "${@:3}" >&2; }
java_bin() { if [[ -n ${JAVA_HOME:-} ]]; then echo "$JAVA_HOME/bin/java"; else command -v java || die "java (17) not found"; fi; }

# ============================================================================ fetch
mvn_copy() { # mvn_copy NAME POMDIR OUTDIR [extra -D...]
  local name=$1 pomdir=$2 out=$3; shift 3
  if have_marker "$out"; then log "fetch $name: cached in $out"; return 0; fi
  command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
  log "fetch $name: Maven dependency:copy-dependencies -> $out"
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  progress "fetch $name" "$CACHE/mvn-$name.log" mvn "${MVN[@]}" -f "$pomdir/pom.xml" "$@" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$out.tmp" \
    || { rm -rf "$out.tmp"; die "fetch $name: Maven could not resolve the artifacts"; }
  rm -rf "$out"; mv "$out.tmp" "$out"; mark_done "$out"
}
pip_target() { # pip_target NAME OUTDIR SPEC...
  local name=$1 out=$2; shift 2
  if have_marker "$out"; then log "fetch $name: cached in $out"; return 0; fi
  log "fetch $name: pip install --no-deps --target $out $*"
  rm -rf "$out.tmp"
  progress "fetch $name" "$CACHE/pip-$name.log" pip "$PY" install --no-deps --no-compile --target "$out.tmp" "$@" \
    || { rm -rf "$out.tmp"; die "fetch $name: pip failed"; }
  rm -rf "$out"; mv "$out.tmp" "$out"; mark_done "$out"
}
fetch_kafka() {
  mvn_copy kafka "$INFRA/maven/kafka" "$KAFKA_LIBS" -Dkafka.version="$KAFKA_VERSION" -Dslf4j.version="$SLF4J_VERSION"
}
fetch_cassandra() {
  mvn_copy cassandra "$INFRA/maven/cassandra" "$CASSANDRA_LIBS" -Dcassandra.version="$CASSANDRA_VERSION"
}
base_python() { # the interpreter the project venv was made from (venvs of the same Python)
  local base; base="$("$PY" -c 'import sys; print(sys.base_prefix)')"
  [[ -x $base/bin/python$PY_TAG ]] || die "base interpreter $base/bin/python$PY_TAG not found"
  echo "$base/bin/python$PY_TAG"
}
fetch_flink() {
  local reqs=("apache-flink==$FLINK_VERSION" "apache-flink-libraries==$FLINK_VERSION"
              "apache-beam==$FLINK_ENV_BEAM_VERSION" "tritonclient[grpc]==$FLINK_ENV_TRITONCLIENT_VERSION"
              -r "$INFRA/flink/requirements.txt" "setuptools>=69" wheel)
  local sum; sum="$({ echo "${reqs[*]}"; cat "$INFRA/flink/requirements.txt"; } | sha256sum | cut -c1-16)"
  if have_marker "$FLINK_ENV" && [[ "$(cat "$FLINK_ENV/.alpr-reqs" 2>/dev/null)" == "$sum" ]]; then
    log "fetch flink-env: cached in $FLINK_ENV"
  else
    if ! have_marker "$FLINK_ENV"; then
      log "fetch flink-env: venv $FLINK_ENV (apache-flink $FLINK_VERSION, apache-beam $FLINK_ENV_BEAM_VERSION, tritonclient $FLINK_ENV_TRITONCLIENT_VERSION)"
      rm -rf "$FLINK_ENV"
      "$(base_python)" -m venv "$FLINK_ENV"
    else
      log "fetch flink-env: requirements changed, updating $FLINK_ENV"
    fi
    progress "fetch flink-env" "$CACHE/pip-flink-env.log" pip "$FLINK_PY" install --no-compile "${reqs[@]}" \
      || { rm -rf "$FLINK_ENV"; die "fetch flink-env: pip failed"; }
    # the project itself is installed --no-deps (its own pins are the project venv's): not checked
    local broken; broken="$("$FLINK_PY" -m pip check 2>&1 | grep -v '^alpr-stream ' | grep -v '^No broken' || true)"
    [[ -z $broken ]] || { printf '%s\n' "$broken" >&2; die "fetch flink-env: pip check failed"; }
    chmod +x "$FLINK_HOME_DIR"/bin/*
    mark_done "$FLINK_ENV"; echo "$sum" > "$FLINK_ENV/.alpr-reqs"
  fi
  [[ -x $FLINK_HOME_DIR/bin/jobmanager.sh ]] || die "fetch flink: $FLINK_HOME_DIR/bin/jobmanager.sh missing"
  ls "$FLINK_HOME_DIR"/lib/flink-dist-*.jar >/dev/null 2>&1 || die "fetch flink: no lib/flink-dist jar in $FLINK_HOME_DIR"
  # this checkout, editable and --no-deps (the env's pins stay as they are); redone when the
  # shared cache last served another checkout
  if [[ "$(cat "$FLINK_ENV/.alpr-project" 2>/dev/null)" != "$REPO" ]]; then
    log "fetch flink-env: pip install --no-deps -e $REPO"
    progress "fetch flink-env" "$CACHE/pip-flink-project.log" pip "$FLINK_PY" install --no-deps --no-build-isolation -e "$REPO" \
      || die "fetch flink-env: installing the project failed"
    echo "$REPO" > "$FLINK_ENV/.alpr-project"
  fi
  if have_marker "$FLINK_CONNECTOR_DIR"; then log "fetch flink-kafka-connector: cached in $FLINK_CONNECTOR_DIR"; else
    command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
    local gav="org.apache.flink:flink-sql-connector-kafka:$FLINK_KAFKA_CONNECTOR_VERSION"
    log "fetch flink-kafka-connector: Maven dependency:copy $gav"
    rm -rf "$FLINK_CONNECTOR_DIR.tmp"; mkdir -p "$FLINK_CONNECTOR_DIR.tmp"
    progress "fetch flink-kafka-connector" "$CACHE/mvn-flink.log" mvn "${MVN[@]}" dependency:copy -Dartifact="$gav" \
        -DoutputDirectory="$FLINK_CONNECTOR_DIR.tmp" || { rm -rf "$FLINK_CONNECTOR_DIR.tmp"; die "fetch flink-kafka-connector: Maven could not resolve $gav"; }
    rm -rf "$FLINK_CONNECTOR_DIR"; mv "$FLINK_CONNECTOR_DIR.tmp" "$FLINK_CONNECTOR_DIR"; mark_done "$FLINK_CONNECTOR_DIR"
  fi
  [[ -f $FLINK_KAFKA_JAR ]] || die "fetch flink: $FLINK_KAFKA_JAR missing"
  build_alpr_jar
}
build_alpr_jar() { # infra/flink/java -> $FLINK_ALPR_JAR, rebuilt when the sources change
  local src="$INFRA/flink/java" sum dir; dir="$(dirname "$FLINK_ALPR_JAR")"
  sum="$(cat "$src"/alpr/flink/*.java | sha256sum | cut -c1-16)"
  if [[ -f $FLINK_ALPR_JAR && "$(cat "$dir/.src-sha" 2>/dev/null)" == "$sum" ]]; then log "fetch flink-alpr-jar: cached in $FLINK_ALPR_JAR"; return 0; fi
  command -v javac >/dev/null || die "javac (JDK 17) not found: needed to build $FLINK_ALPR_JAR"
  log "fetch flink-alpr-jar: javac infra/flink/java -> $FLINK_ALPR_JAR"
  rm -rf "$dir.tmp"; mkdir -p "$dir.tmp/classes"
  javac -nowarn --release 17 -cp "$(ls "$FLINK_HOME_DIR"/lib/flink-dist-*.jar):$FLINK_KAFKA_JAR" \
      -d "$dir.tmp/classes" "$src"/alpr/flink/*.java \
    && jar --create --file "$dir.tmp/alpr-flink.jar" -C "$dir.tmp/classes" . \
    || { rm -rf "$dir.tmp"; die "fetch flink-alpr-jar: build failed"; }
  echo "$sum" > "$dir.tmp/.src-sha"; rm -rf "$dir.tmp/classes"
  rm -rf "$dir"; mv "$dir.tmp" "$dir"
}
fetch_triton() {
  pip_target pytriton "$PYTRITON_DIR" "nvidia-pytriton==$PYTRITON_VERSION"
  [[ -x $PYTRITON_DIR/pytriton/tritonserver/bin/tritonserver ]] || chmod +x "$PYTRITON_DIR/pytriton/tritonserver/bin/tritonserver"
  if have_marker "$TRITON_ENV"; then log "fetch triton-env: cached in $TRITON_ENV"; return 0; fi
  # python-backend execution environment: a plain venv of the SAME interpreter as the stub
  local basepy; basepy="$(base_python)"
  log "fetch triton-env: venv $TRITON_ENV (${TRITON_ENV_SPECS[*]})"
  rm -rf "$TRITON_ENV"
  "$basepy" -m venv "$TRITON_ENV"
  progress "fetch triton-env" "$CACHE/pip-triton-env.log" pip "$TRITON_ENV/bin/python" install --no-compile \
      "${TRITON_ENV_SPECS[@]}" || { rm -rf "$TRITON_ENV"; die "fetch triton-env: pip failed"; }
  mark_done "$TRITON_ENV"
}

# ============================================================================ Kafka
kafka_paths() { KD="$RUN/kafka"; KPID="$KD/kafka.pid"; KLOG="$KD/logs/kafka.out"; }
up_kafka() {
  kafka_paths
  if alive "$KPID" "$KD"; then log "kafka: already running (pid $(pid_of "$KPID"))"; return 0; fi
  have_marker "$KAFKA_LIBS" || fetch_kafka
  mkdir -p "$KD/data" "$KD/logs"
  svcauth secrets --dir "$RUN/secrets" kafka-admin kafka-controller
  local admin_pw; admin_pw="$(head -n 1 "$RUN/secrets/kafka-admin.password")"
  ( umask 077; touch "$KD/server.properties"; chmod 600 "$KD/server.properties"; render "$INFRA/kafka/server.properties.in" "$KD/server.properties" \
    KAFKA_PORT="$KAFKA_PORT" KAFKA_CONTROLLER_PORT="$KAFKA_CONTROLLER_PORT" DATA_DIR="$KD/data" \
    ADMIN_PASSWORD="$admin_pw" CONTROLLER_PASSWORD="$(head -n 1 "$RUN/secrets/kafka-controller.password")" )
  [[ ! -f $KD/data/meta.properties || -f $KD/data/.alpr-scram ]] \
    || die "kafka: $KD/data was formatted before SASL/SCRAM (no admin user): remove it and run up again"
  local java cp; java="$(java_bin)"; cp="$KAFKA_LIBS/*"
  local jopts=(-Xms"$KAFKA_HEAP" -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
               -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true -Djava.net.preferIPv4Stack=true
               -Dkafka.logs.dir="$KD/logs" -Dalpr.service="$KD"
               -Dorg.slf4j.simpleLogger.defaultLogLevel=info -Dorg.slf4j.simpleLogger.showDateTime=true
               -Dorg.slf4j.simpleLogger.log.kafka.server.KafkaConfig=warn
               -Dorg.slf4j.simpleLogger.log.org.apache.kafka.common.config.AbstractConfig=warn)
  if [[ ! -f $KD/data/meta.properties ]]; then
    local cid; cid="$("$java" -Xmx256m -cp "$cp" kafka.tools.StorageTool random-uuid 2>>"$KLOG" | tail -n 1)"
    log "kafka: format storage (cluster id $cid)"
    "$java" -Xmx256m -cp "$cp" kafka.tools.StorageTool format -t "$cid" -c "$KD/server.properties" \
      --add-scram "SCRAM-SHA-512=[name=admin,password=$admin_pw]" \
      --ignore-formatted >>"$KLOG" 2>&1 || { tail -n 20 "$KLOG" >&2; die "kafka: storage format failed"; }
    touch "$KD/data/.alpr-scram"
  fi
  log "kafka: start on $HOST:$KAFKA_PORT (controller $KAFKA_CONTROLLER_PORT, heap $KAFKA_HEAP)"
  spawn "$KPID" "$KLOG" "$java" "${jopts[@]}" -cp "$cp" kafka.Kafka "$KD/server.properties"
  wait_or_die kafka "$KLOG" as_kafka_admin svcctl kafka-wait --bootstrap "$HOST:$KAFKA_PORT" --timeout "$UP_TIMEOUT" --pid-file "$KPID"
  as_kafka_admin svcctl kafka-topics --bootstrap "$HOST:$KAFKA_PORT" --partitions "$KAFKA_TOPIC_PARTITIONS" \
    "$KAFKA_TOPIC_FRAMES" "$KAFKA_TOPIC_ALERTS" "$KAFKA_TOPIC_DEADLETTER" "$KAFKA_TOPIC_HOTLIST:compact"
  as_kafka_admin svcauth kafka-setup --bootstrap "$HOST:$KAFKA_PORT" --secrets "$RUN/secrets" --agencies "$KAFKA_AGENCIES"
}
down_kafka() { kafka_paths; stop_pid kafka "$KPID" "$KD"; }
status_kafka() { kafka_paths; status_line kafka "$KPID" "$KD" "$HOST:$KAFKA_PORT"; }

# ============================================================================ Cassandra
cassandra_paths() { CD="$RUN/cassandra"; CPID="$CD/cassandra.pid"; CLOG="$CD/logs/cassandra.out"; }
cassandra_jvm_flags() {
  local f=(-Xms"$CASSANDRA_HEAP" -Xmx"$CASSANDRA_HEAP" -Xss256k
    -XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:MaxTenuringThreshold=1 -XX:G1HeapRegionSize=16m
    -XX:G1RSetUpdatingPauseTimePercent=5 -XX:MaxGCPauseMillis=300 -XX:InitiatingHeapOccupancyPercent=70
    -XX:+UseThreadPriorities -XX:+HeapDumpOnOutOfMemoryError -XX:HeapDumpPath="$CD/logs"
    -XX:+CrashOnOutOfMemoryError -XX:MaxDirectMemorySize=256m -XX:ActiveProcessorCount=2
    -ea -da:net.openhft... -Djava.net.preferIPv4Stack=true -Djdk.attach.allowAttachSelf=true
    -Dio.netty.tryReflectionSetAccessible=true -Dio.netty.allocator.useCacheForAllThreads=true
    -Dio.netty.allocator.maxOrder=11)
  local m
  for m in java.base/jdk.internal.misc java.base/java.lang.ref java.management.rmi/com.sun.jmx.remote.internal.rmi \
           java.rmi/sun.rmi.registry java.rmi/sun.rmi.server java.sql/java.sql jdk.unsupported/sun.misc \
           jdk.compiler/com.sun.tools.javac.file jdk.attach/sun.tools.attach; do
    f+=(--add-exports "$m=ALL-UNNAMED")
  done
  for m in java.lang java.lang.module java.lang.reflect java.io java.util jdk.internal.loader jdk.internal.ref \
           jdk.internal.reflect jdk.internal.math jdk.internal.module jdk.internal.util.jar sun.nio.ch; do
    f+=(--add-opens "java.base/$m=ALL-UNNAMED")
  done
  f+=(--add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
      --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED)
  f+=(-Dcassandra.config="file://$CD/cassandra.yaml" -Dcassandra-foreground=yes
      -Dcassandra.storagedir="$CD/data" -Dcassandra.logdir="$CD/logs"
      -Dlogback.configurationFile="$INFRA/cassandra/logback.xml"
      -Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.ring_delay_ms=0
      -Dcassandra.load_ring_state=false -Dcassandra.triggers_dir="$CD/triggers" -Dalpr.service="$CD"
      -Dcassandra.superuser_setup_delay_ms=0)
  printf '%s\n' "${f[@]}"
}
up_cassandra() {
  cassandra_paths
  if alive "$CPID" "$CD"; then log "cassandra: already running (pid $(pid_of "$CPID"))"; else
    have_marker "$CASSANDRA_LIBS" || fetch_cassandra
    mkdir -p "$CD/data" "$CD/logs" "$CD/triggers"
    render "$INFRA/cassandra/cassandra.yaml.in" "$CD/cassandra.yaml" \
      CASSANDRA_CQL_PORT="$CASSANDRA_CQL_PORT" CASSANDRA_STORAGE_PORT="$CASSANDRA_STORAGE_PORT" DATA_DIR="$CD/data"
    local flags; mapfile -t flags < <(cassandra_jvm_flags)
    log "cassandra: start on $HOST:$CASSANDRA_CQL_PORT (storage $CASSANDRA_STORAGE_PORT, heap $CASSANDRA_HEAP)"
    spawn "$CPID" "$CLOG" "$(java_bin)" "${flags[@]}" -cp "$CASSANDRA_LIBS/*" org.apache.cassandra.service.CassandraDaemon
  fi
  # logins: alpr_admin replaces the default superuser, alpr_app gets its keyspace's grants only
  local auth=(--host "$HOST" --port "$CASSANDRA_CQL_PORT" --secrets "$RUN/secrets" --keyspace "$CASSANDRA_KEYSPACE")
  wait_or_die cassandra "$CD/logs/system.log" svcauth cassandra-setup "${auth[@]}" --timeout "$UP_TIMEOUT" --pid-file "$CPID"
  as_cassandra_admin svcctl cassandra-schema --host "$HOST" --port "$CASSANDRA_CQL_PORT" --file "$INFRA/cassandra/schema.cql"
  svcauth cassandra-setup "${auth[@]}" --timeout 60 --grants
}
down_cassandra() { cassandra_paths; stop_pid cassandra "$CPID" "$CD"; }
status_cassandra() { cassandra_paths; status_line cassandra "$CPID" "$CD" "$HOST:$CASSANDRA_CQL_PORT"; }

# ============================================================================ Flink
flink_paths() { FD="$RUN/flink"; }
flink_env() {
  export FLINK_HOME="$FLINK_HOME_DIR" FLINK_CONF_DIR="$FD/conf" FLINK_LOG_DIR="$FD/log" FLINK_PID_DIR="$FD/pids"
  export FLINK_IDENT_STRING=alpr
}
flink_conf() {
  rm -rf "$FD/conf"; mkdir -p "$FD/conf" "$FD/log" "$FD/pids" "$FD/tmp" "$FD/checkpoints" "$FD/savepoints"
  cp "$FLINK_HOME_DIR"/conf/log4j*.properties "$FD/conf/"
  local jopts; jopts="$(sed -n 's/^ *all: //p' "$FLINK_HOME_DIR/conf/config.yaml" | head -n 1)"
  render "$INFRA/flink/config.yaml.in" "$FD/conf/config.yaml" HOST="$HOST" FLINK_RUN="$FD" \
    FLINK_RPC_PORT="$FLINK_RPC_PORT" FLINK_REST_PORT="$FLINK_REST_PORT" FLINK_PROM_PORTS="$FLINK_PROM_PORTS" \
    FLINK_JM_PROCESS_MEMORY="$FLINK_JM_PROCESS_MEMORY" FLINK_TM_PROCESS_MEMORY="$FLINK_TM_PROCESS_MEMORY" \
    FLINK_TASK_SLOTS="$FLINK_TASK_SLOTS" FLINK_PARALLELISM="$FLINK_PARALLELISM" FLINK_PY="$FLINK_PY" \
    JAVA_OPTS_ALL="$jopts"
  printf '%s\n' "$HOST:$FLINK_REST_PORT" > "$FD/conf/masters"
}
flink_pids() { cat "$FD"/pids/*.pid 2>/dev/null | tr -s ' \n' ' ' || true; }
flink_wait() { # flink_wait SLOTS TIMEOUT: REST answers and every TaskManager registered its slots
  "$PY" - "$HOST" "$FLINK_REST_PORT" "$1" "$2" <<'EOF'
import json, sys, time, urllib.request
host, port, slots, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
deadline, last = time.monotonic() + timeout, None
while time.monotonic() < deadline:
    try:
        ov = json.load(urllib.request.urlopen(f"http://{host}:{port}/overview", timeout=3))
        if ov.get("slots-total", 0) >= slots:
            print(f"flink ready: {ov['taskmanagers']} taskmanager(s), {ov['slots-total']} slots, flink {ov.get('flink-version')}")
            sys.exit(0)
        last = f"slots-total={ov.get('slots-total')}"
    except Exception as exc:
        last = exc
    time.sleep(1)
print(f"flink not ready after {timeout:.0f} s: {last}", file=sys.stderr)
sys.exit(1)
EOF
}
up_flink() {
  flink_paths
  fetch_flink >/dev/null 2>&1 || fetch_flink  # cheap when cached; rebuilds the Java part on change
  flink_env
  local slots=$((FLINK_TASKMANAGERS * FLINK_TASK_SLOTS)) i
  if svcctl http-wait --url "http://$HOST:$FLINK_REST_PORT/overview" --timeout 1 >/dev/null 2>&1; then
    log "flink: already answering on $HOST:$FLINK_REST_PORT"
  else
    flink_conf
    log "flink: start jobmanager + $FLINK_TASKMANAGERS taskmanager(s) (REST $HOST:$FLINK_REST_PORT, $FLINK_TASK_SLOTS slots each, JM $FLINK_JM_PROCESS_MEMORY, TM $FLINK_TM_PROCESS_MEMORY)"
    "$FLINK_HOME/bin/jobmanager.sh" start >>"$FD/log/start.out" 2>&1 || { tail -n 20 "$FD/log/start.out" >&2; die "flink: jobmanager.sh failed"; }
  fi
  # (re)start TaskManagers until FLINK_TASKMANAGERS run (after a test killed one, `up` adds it back)
  local running; running="$(taskmanagers_alive)"
  for ((i = running; i < FLINK_TASKMANAGERS; i++)); do
    "$FLINK_HOME/bin/taskmanager.sh" start >>"$FD/log/start.out" 2>&1 || { tail -n 20 "$FD/log/start.out" >&2; die "flink: taskmanager.sh failed"; }
  done
  flink_wait "$slots" "$UP_TIMEOUT" || { tail -n 30 "$FD"/log/*.log >&2 || true; die "flink: cluster not healthy"; }
}
taskmanagers_alive() { # count TaskManager JVMs of this run dir that are alive
  local n=0 pid
  for pid in $(cat "$FD"/pids/flink-alpr-taskexecutor.pid 2>/dev/null); do
    if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$FD"; then n=$((n + 1)); fi
  done
  echo "$n"
}
down_flink() {
  flink_paths
  local pids=() pid i
  # what flink-daemon.sh stop does (SIGTERM to the daemon pid), without its config-parsing JVMs
  for pid in $(flink_pids); do
    if tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$FD"; then
      log "flink: SIGTERM $pid"; kill -TERM "$pid" 2>/dev/null || true; pids+=("$pid")
    fi
  done
  rm -f "$FD"/pids/*.pid
  if [[ ${#pids[@]} -eq 0 ]]; then log "flink: not running"; return 0; fi
  for pid in "${pids[@]}"; do
    for ((i = 0; i < STOP_TIMEOUT * 2; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then log "flink: pid $pid still alive, SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
  done
  log "flink: stopped"
}
status_flink() {
  flink_paths
  if "$PY" "$INFRA/svcctl.py" http-wait --url "http://$HOST:$FLINK_REST_PORT/overview" --json-key slots-total --timeout 1 2>/dev/null | sed 's/^ready: /flink: running /'; then :; else echo "flink: down"; fi
}

# ============================================================================ Triton
triton_paths() { TD="$RUN/triton"; TPID="$TD/triton.pid"; TLOG="$TD/triton.out"; }
up_triton() {
  triton_paths
  if alive "$TPID" "$TD"; then log "triton: already running"; return 0; fi
  { have_marker "$PYTRITON_DIR" && have_marker "$TRITON_ENV"; } || fetch_triton
  local src="$PYTRITON_DIR/pytriton/tritonserver"
  local stub="$src/python_backend_stubs/$PY_TAG/triton_python_backend_stub"
  [[ -f $stub ]] || die "triton: no python backend stub for Python $PY_TAG in $src/python_backend_stubs"
  rm -rf "$TD/backends" "$TD/models"; mkdir -p "$TD"
  # backends: the wheel's backends plus the stub of the running Python (trap 2 of stack-notes 6.1)
  cp -a "$src/backends" "$TD/backends"
  cp "$stub" "$TD/backends/python/triton_python_backend_stub"
  # model repository: committed configs + model.py, ONNX files linked from inference/models/ppocr
  cp -a "$INFRA/triton/model_repository" "$TD/models"
  ln -sf "$REPO/inference/models/ppocr/det.onnx" "$TD/models/plate_det/1/model.onnx"
  ln -sf "$REPO/inference/models/ppocr/rec.onnx" "$TD/models/plate_rec/1/model.onnx"
  local cfg
  for cfg in "$TD"/models/*/config.pbtxt; do
    sed -i -e "s#@TRITON_ENV@#$TRITON_ENV#g" -e "s#@ALPR_SRC@#$REPO#g" "$cfg"  # plate_read imports alpr from $REPO
  done
  local libdir; libdir="$("$PY" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')"
  log "triton: start (http $TRITON_HTTP_PORT, grpc $TRITON_GRPC_PORT, metrics $TRITON_METRICS_PORT)"
  LD_LIBRARY_PATH="$libdir:$PYTRITON_DIR/nvidia_pytriton.libs:$src/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
  spawn "$TPID" "$TLOG" "$src/bin/tritonserver" \
    --model-repository="$TD/models" --backend-directory="$TD/backends" \
    --http-address="$HOST" --http-port="$TRITON_HTTP_PORT" \
    --grpc-address="$HOST" --grpc-port="$TRITON_GRPC_PORT" \
    --metrics-address="$HOST" --metrics-port="$TRITON_METRICS_PORT" --allow-metrics=true \
    --allow-gpu-metrics=false --allow-cpu-metrics=true \
    --pinned-memory-pool-byte-size=0 --exit-on-error=true --strict-readiness=true \
    --backend-config=python,shm-default-byte-size=16777216 --log-verbose=0
  wait_or_die triton "$TLOG" svcctl triton-wait --url "http://$HOST:$TRITON_HTTP_PORT" \
    --models plate_det,plate_rec,plate_read --timeout "$UP_TIMEOUT" --pid-file "$TPID"
}
down_triton() { triton_paths; stop_pid triton "$TPID" "$TD"; }
status_triton() { triton_paths; status_line triton "$TPID" "$TD" "grpc $HOST:$TRITON_GRPC_PORT http $HOST:$TRITON_HTTP_PORT"; }

# ============================================================================ main
status_line() { # NAME PIDFILE MARKER WHERE
  if alive "$2" "$3"; then echo "$1: running (pid $(pid_of "$2")) $4"; else echo "$1: down"; fi
}
ALL=(kafka cassandra flink triton)
usage() { sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }

main() {
  [[ $# -ge 1 ]] || usage
  local action=$1; shift
  case $action in fetch|up|down|status) ;; -h|--help|help) usage ;; *) usage ;; esac
  targets=("$@"); [[ ${#targets[@]} -eq 0 ]] && targets=(all)
  expanded=()
  for t in "${targets[@]}"; do
    case $t in
      all) expanded+=("${ALL[@]}") ;;
      kafka|cassandra|flink|triton) expanded+=("$t") ;;
      *) die "unknown service '$t' (kafka|cassandra|flink|triton|all)" ;;
    esac
  done
  # stop in reverse order of start
  if [[ $action == down ]]; then
    rev=(); for ((i = ${#expanded[@]} - 1; i >= 0; i--)); do rev+=("${expanded[i]}"); done; expanded=("${rev[@]}")
  fi
  for svc in "${expanded[@]}"; do
    start=$SECONDS
    "${action}_${svc}"
    if [[ $action =~ ^(fetch|up)$ ]]; then log "$action $svc: done in $((SECONDS - start)) s"; fi
  done
}

# everything above is definitions; one line runs it (safe against edits while running)
main "$@"; exit $?
