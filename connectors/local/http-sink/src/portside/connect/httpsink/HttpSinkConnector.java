package portside.connect.httpsink;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.connect.connector.Task;
import org.apache.kafka.connect.sink.SinkConnector;

/**
 * Stand-in HTTP sink for tests and the local stack. It exists because the Camel connector
 * artifacts (org.apache.camel.kafkaconnector) are not served by the Maven mirror this project
 * can reach, and Aiven's and Confluent's sinks are not on Maven Central at all.
 *
 * It keeps the delivery contract those sinks share, which is what portside must cope with:
 * the record value is POSTed verbatim (one record per request by default, or newline-delimited /
 * JSON-array batches), non-2xx or I/O errors resend the identical body, and offsets are only
 * committed after a 2xx.
 */
public final class HttpSinkConnector extends SinkConnector {
    static final String URL = "http.url";
    static final String AUTHORIZATION = "http.headers.authorization";
    static final String CONTENT_TYPE = "http.headers.content.type";
    static final String TIMEOUT_MS = "http.timeout.ms";
    static final String BATCH_MAX_RECORDS = "batch.max.records";
    static final String BATCH_FORMAT = "batch.format";
    static final String RETRY_MAX = "retry.max";
    static final String RETRY_BACKOFF_MS = "retry.backoff.ms";
    static final String RETRY_BACKOFF_MAX_MS = "retry.backoff.max.ms";

    static final ConfigDef CONFIG = new ConfigDef()
        .define(URL, Type.STRING, ConfigDef.NO_DEFAULT_VALUE, new ConfigDef.NonEmptyString(), Importance.HIGH,
            "Where each request is POSTed.")
        // PASSWORD so that Connect masks it wherever it logs or validates configs.
        .define(AUTHORIZATION, Type.PASSWORD, null, Importance.MEDIUM,
            "Value of the Authorization header, e.g. 'Bearer <token>'.")
        .define(CONTENT_TYPE, Type.STRING, null, Importance.LOW,
            "Content-Type header; none is sent when unset (like Aiven's sink).")
        .define(TIMEOUT_MS, Type.INT, 30000, ConfigDef.Range.atLeast(1), Importance.LOW,
            "Per-request timeout; a timeout counts as a failed attempt.")
        .define(BATCH_MAX_RECORDS, Type.INT, 1, ConfigDef.Range.between(1, 10000), Importance.MEDIUM,
            "Records per request. 1 mimics Camel's one-request-per-record.")
        .define(BATCH_FORMAT, Type.STRING, "ndjson", ConfigDef.ValidString.in("ndjson", "array"), Importance.MEDIUM,
            "ndjson: values joined and terminated by newlines (Aiven's default); array: a JSON array (Confluent's batch.json.as.array).")
        .define(RETRY_MAX, Type.INT, -1, ConfigDef.Range.atLeast(-1), Importance.MEDIUM,
            "Failed attempts tolerated in a row before the task fails; -1 retries forever.")
        .define(RETRY_BACKOFF_MS, Type.LONG, 1000L, ConfigDef.Range.atLeast(0), Importance.MEDIUM,
            "First delay before a resend; doubles per consecutive failure.")
        .define(RETRY_BACKOFF_MAX_MS, Type.LONG, 30000L, ConfigDef.Range.atLeast(0), Importance.LOW,
            "Cap on the resend delay.");

    private Map<String, String> props = Map.of();

    @Override
    public void start(Map<String, String> props) {
        new AbstractConfig(CONFIG, props);
        this.props = new HashMap<>(props);
    }

    @Override
    public Class<? extends Task> taskClass() {
        return HttpSinkTask.class;
    }

    @Override
    public List<Map<String, String>> taskConfigs(int maxTasks) {
        List<Map<String, String>> configs = new ArrayList<>();
        for (int i = 0; i < maxTasks; i++) {
            configs.add(new HashMap<>(props));
        }
        return configs;
    }

    @Override
    public void stop() {
    }

    @Override
    public ConfigDef config() {
        return CONFIG;
    }

    @Override
    public String version() {
        return "0.1.0";
    }
}
