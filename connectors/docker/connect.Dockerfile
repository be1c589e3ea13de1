# A Kafka Connect worker with the Apache Camel HTTP sink connector under plugin.path.
#   docker build -f connectors/docker/connect.Dockerfile -t portside-connect connectors/docker
# Kafka 3.9: the Camel Kafka connectors 4.14.x are built against Kafka 3.9.x.
FROM apache/kafka:3.9.1
ARG CAMEL_KAFKA_CONNECTOR_VERSION=4.14.0
USER root
RUN mkdir -p /opt/connectors \
 && wget -q -O /tmp/camel.tar.gz "https://repo1.maven.org/maven2/org/apache/camel/kafkaconnector/camel-http-sink-kafka-connector/${CAMEL_KAFKA_CONNECTOR_VERSION}/camel-http-sink-kafka-connector-${CAMEL_KAFKA_CONNECTOR_VERSION}-package.tar.gz" \
 && tar -xzf /tmp/camel.tar.gz -C /opt/connectors \
 && rm /tmp/camel.tar.gz
COPY connect-worker.properties /opt/connect/worker.properties
USER appuser
EXPOSE 8083
CMD ["/opt/kafka/bin/connect-distributed.sh", "/opt/connect/worker.properties"]
