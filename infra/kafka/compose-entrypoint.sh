#!/usr/bin/env bash
# Entry point of the Kafka container in docker-compose.yml: the same closed broker as
# infra/services.sh (infra/kafka/server.properties.in: SASL/SCRAM-SHA-512 client listener, SASL/PLAIN
# controller listener, StandardAuthorizer with no access unless granted), passwords from the
# secrets volume (written by the secrets-init service), the super user `admin` added at format time.
set -euo pipefail
S=/run/alpr-secrets D=/var/lib/kafka/data P=/tmp/server.properties
admin="$(head -n 1 "$S/kafka-admin.password")"; ctl="$(head -n 1 "$S/kafka-controller.password")"
umask 077
sed -e 's#^listeners=CLIENT://127.0.0.1:@KAFKA_PORT@#listeners=CLIENT://0.0.0.0:19092#' \
    -e 's#^advertised.listeners=CLIENT://127.0.0.1:@KAFKA_PORT@#advertised.listeners=CLIENT://kafka:19092#' \
    -e "s#@KAFKA_CONTROLLER_PORT@#19093#g; s#@DATA_DIR@#$D#g; s#@ADMIN_PASSWORD@#$admin#g; s#@CONTROLLER_PASSWORD@#$ctl#g" \
    /infra/kafka/server.properties.in > "$P"
# for the healthcheck (kafka-topics.sh --command-config)
printf 'security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="%s";\n' \
  "$admin" > /tmp/admin-client.properties
if [ ! -f "$D/meta.properties" ]; then
  /opt/kafka/bin/kafka-storage.sh format -t "$(/opt/kafka/bin/kafka-storage.sh random-uuid)" -c "$P" \
    --add-scram "SCRAM-SHA-512=[name=admin,password=$admin]" --ignore-formatted
fi
exec /opt/kafka/bin/kafka-server-start.sh "$P"
