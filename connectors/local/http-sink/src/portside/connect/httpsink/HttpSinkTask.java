package portside.connect.httpsink;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.types.Password;
import org.apache.kafka.connect.errors.ConnectException;
import org.apache.kafka.connect.errors.DataException;
import org.apache.kafka.connect.errors.RetriableException;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.kafka.connect.sink.SinkTask;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

public final class HttpSinkTask extends SinkTask {
    private static final Logger log = LoggerFactory.getLogger(HttpSinkTask.class);

    private HttpClient client;
    private URI url;
    private String authorization;
    private String contentType;
    private Duration timeout;
    private int batchMaxRecords;
    private boolean jsonArray;
    private int retryMax;
    private long backoffMs;
    private long backoffMaxMs;
    private int consecutiveFailures;

    // After a RetriableException Connect hands put() the same batch again; remembering what already
    // got a 2xx keeps a failure in the middle of a batch from resending its head.
    private final Map<TopicPartition, Long> deliveredUpTo = new HashMap<>();

    @Override
    public void start(Map<String, String> props) {
        AbstractConfig config = new AbstractConfig(HttpSinkConnector.CONFIG, props);
        url = URI.create(config.getString(HttpSinkConnector.URL));
        Password auth = config.getPassword(HttpSinkConnector.AUTHORIZATION);
        authorization = auth == null ? null : auth.value();
        contentType = config.getString(HttpSinkConnector.CONTENT_TYPE);
        timeout = Duration.ofMillis(config.getInt(HttpSinkConnector.TIMEOUT_MS));
        batchMaxRecords = config.getInt(HttpSinkConnector.BATCH_MAX_RECORDS);
        jsonArray = "array".equals(config.getString(HttpSinkConnector.BATCH_FORMAT));
        retryMax = config.getInt(HttpSinkConnector.RETRY_MAX);
        backoffMs = config.getLong(HttpSinkConnector.RETRY_BACKOFF_MS);
        backoffMaxMs = config.getLong(HttpSinkConnector.RETRY_BACKOFF_MAX_MS);
        // HTTP/1.1 only: the JDK client would otherwise offer an h2c upgrade on plain http.
        client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(timeout).build();
    }

    @Override
    public void put(Collection<SinkRecord> records) {
        List<SinkRecord> pending = new ArrayList<>();
        for (SinkRecord record : records) {
            Long done = deliveredUpTo.get(partitionOf(record));
            if (record.value() != null && (done == null || record.kafkaOffset() > done)) {
                pending.add(record);
            }
        }
        for (int from = 0; from < pending.size(); from += batchMaxRecords) {
            List<SinkRecord> chunk = pending.subList(from, Math.min(pending.size(), from + batchMaxRecords));
            send(chunk);
            for (SinkRecord record : chunk) {
                deliveredUpTo.put(partitionOf(record), record.kafkaOffset());
            }
        }
    }

    private void send(List<SinkRecord> chunk) {
        HttpRequest.Builder request = HttpRequest.newBuilder(url)
            .timeout(timeout)
            .POST(HttpRequest.BodyPublishers.ofByteArray(body(chunk)));
        if (authorization != null) {
            request.header("Authorization", authorization);
        }
        if (contentType != null) {
            request.header("Content-Type", contentType);
        }
        String failure;
        try {
            int status = client.send(request.build(), HttpResponse.BodyHandlers.discarding()).statusCode();
            if (status >= 200 && status < 300) {
                consecutiveFailures = 0;
                return;
            }
            failure = "HTTP " + status;
        } catch (IOException e) {
            failure = e.getClass().getSimpleName() + ": " + e.getMessage();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ConnectException("interrupted while delivering", e);
        }
        retryLater(failure, chunk);
    }

    private void retryLater(String failure, List<SinkRecord> chunk) {
        consecutiveFailures++;
        SinkRecord first = chunk.get(0);
        String where = first.topic() + "-" + first.kafkaPartition() + "@" + first.kafkaOffset() + " (+" + (chunk.size() - 1) + ")";
        if (retryMax >= 0 && consecutiveFailures > retryMax) {
            throw new ConnectException("giving up on " + where + " after " + consecutiveFailures + " failed attempts, last: " + failure);
        }
        long delay = Math.min(backoffMaxMs, backoffMs << Math.min(consecutiveFailures - 1, 20));
        log.warn("delivery of {} failed ({}), attempt {}; resending in {} ms", where, failure, consecutiveFailures, delay);
        // Connect pauses the partitions, keeps polling (so the group membership survives a long
        // outage) and hands the same batch back after the timeout.
        context.timeout(delay);
        throw new RetriableException(failure);
    }

    private byte[] body(List<SinkRecord> chunk) {
        if (chunk.size() == 1 && batchMaxRecords == 1) {
            return bytesOf(chunk.get(0));
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        if (jsonArray) {
            out.write('[');
        }
        for (int i = 0; i < chunk.size(); i++) {
            if (jsonArray && i > 0) {
                out.write(',');
            }
            out.writeBytes(bytesOf(chunk.get(i)));
            if (!jsonArray) {
                out.write('\n');
            }
        }
        if (jsonArray) {
            out.write(']');
        }
        return out.toByteArray();
    }

    private static byte[] bytesOf(SinkRecord record) {
        Object value = record.value();
        if (value instanceof String) {
            return ((String) value).getBytes(StandardCharsets.UTF_8);
        }
        if (value instanceof byte[]) {
            return (byte[]) value;
        }
        if (value instanceof ByteBuffer) {
            ByteBuffer buffer = ((ByteBuffer) value).duplicate();
            byte[] bytes = new byte[buffer.remaining()];
            buffer.get(bytes);
            return bytes;
        }
        throw new DataException("record value must come from StringConverter or ByteArrayConverter, got "
            + value.getClass().getName());
    }

    private static TopicPartition partitionOf(SinkRecord record) {
        return new TopicPartition(record.topic(), record.kafkaPartition());
    }

    @Override
    public void close(Collection<TopicPartition> partitions) {
        deliveredUpTo.keySet().removeAll(partitions);
    }

    @Override
    public void stop() {
        deliveredUpTo.clear();
    }

    @Override
    public String version() {
        return "0.1.0";
    }
}
