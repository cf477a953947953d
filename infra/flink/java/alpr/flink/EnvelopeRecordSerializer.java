package alpr.flink;

import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.flink.kafka.shaded.org.apache.kafka.common.header.Header;
import org.apache.flink.kafka.shaded.org.apache.kafka.common.header.internals.RecordHeader;

/**
 * A byte[] envelope written by the Python side (alpr.pipelines.flink.envelope.encode_message)
 * as a Kafka record with key and headers, so that KafkaSink writes the same messages as the
 * Beam binding's producers (alerts keyed by agency with schema headers; dead letters keyed by
 * frame with reason headers and the frame as value).
 *
 * <pre>
 * int key length (-1: null), key bytes
 * int header count, then per header: int name length, name (UTF-8), int value length (-1: null), value
 * int value length (-1: null), value bytes
 * </pre>
 *
 * The record timestamp is left to the producer (the time it is written), as the Beam binding's
 * producers do. The element's event time is the capture time, which for a replay or a backfill
 * lies before the topic's retention: Kafka would roll and delete such records at once.
 *
 * <p>With {@code perKeyTopic} the record goes to {@code topic + "." + key}: an alert (keyed by
 * its agency) to that agency's own alerts topic, the one its consumer principal may read.
 */
public class EnvelopeRecordSerializer implements KafkaRecordSerializationSchema<byte[]> {
    private static final long serialVersionUID = 1L;
    private final String topic;
    private final boolean perKeyTopic;

    public EnvelopeRecordSerializer(String topic) {
        this(topic, false);
    }

    public EnvelopeRecordSerializer(String topic, boolean perKeyTopic) {
        this.topic = topic;
        this.perKeyTopic = perKeyTopic;
    }

    private static byte[] bytes(DataInputStream in) throws IOException {
        int n = in.readInt();
        if (n < 0) {
            return null;
        }
        byte[] b = new byte[n];
        in.readFully(b);
        return b;
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(byte[] envelope, KafkaSinkContext context, Long timestamp) {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(envelope))) {
            byte[] key = bytes(in);
            int count = in.readInt();
            List<Header> headers = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                byte[] name = bytes(in);
                headers.add(new RecordHeader(new String(name, StandardCharsets.UTF_8), bytes(in)));
            }
            byte[] value = bytes(in);
            String target = perKeyTopic && key != null ? topic + "." + new String(key, StandardCharsets.UTF_8) : topic;
            return new ProducerRecord<>(target, null, null, key, value, headers);
        } catch (IOException e) {
            throw new UncheckedIOException("bad envelope for topic " + topic, e);
        }
    }
}
