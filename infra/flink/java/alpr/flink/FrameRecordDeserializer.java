package alpr.flink;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.flink.kafka.shaded.org.apache.kafka.common.header.Header;
import org.apache.flink.util.Collector;

/**
 * A frames-topic record as one byte[] envelope for the Python side, keeping what PyFlink's
 * value-only deserializers drop (headers, key, partition, offset):
 *
 * <pre>
 * long   capture time in epoch ms from the capture_ts header, -1 if missing/unparseable
 * int    partition, long offset, long Kafka record timestamp (ms)
 * int    key length (-1: null), key bytes
 * int    header count, then per header: int name length, name (UTF-8), int value length (-1: null), value
 * int    value length (-1: null), value bytes (the encoded frame)
 * </pre>
 *
 * Big-endian (java.io.DataOutputStream), read by alpr.pipelines.flink.envelope.
 */
public class FrameRecordDeserializer implements KafkaRecordDeserializationSchema<byte[]> {
    private static final long serialVersionUID = 1L;
    public static final String CAPTURE_TS_HEADER = "capture_ts";

    static long captureMillis(ConsumerRecord<byte[], byte[]> record) {
        Header h = record.headers().lastHeader(CAPTURE_TS_HEADER);
        if (h == null || h.value() == null) {
            return -1L;
        }
        try {
            double seconds = Double.parseDouble(new String(h.value(), StandardCharsets.UTF_8).trim());
            if (Double.isNaN(seconds) || Double.isInfinite(seconds) || seconds < 0) {
                return -1L;
            }
            return (long) Math.floor(seconds * 1000.0);
        } catch (NumberFormatException e) {
            return -1L;
        }
    }

    private static void bytes(DataOutputStream out, byte[] b) throws IOException {
        if (b == null) {
            out.writeInt(-1);
        } else {
            out.writeInt(b.length);
            out.write(b);
        }
    }

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<byte[]> collector) throws IOException {
        int size = 64 + (record.value() == null ? 0 : record.value().length);
        ByteArrayOutputStream buf = new ByteArrayOutputStream(size);
        DataOutputStream out = new DataOutputStream(buf);
        out.writeLong(captureMillis(record));
        out.writeInt(record.partition());
        out.writeLong(record.offset());
        out.writeLong(record.timestamp());
        bytes(out, record.key());
        Header[] headers = record.headers().toArray();
        out.writeInt(headers.length);
        for (Header h : headers) {
            bytes(out, h.key().getBytes(StandardCharsets.UTF_8));
            bytes(out, h.value());
        }
        bytes(out, record.value());
        out.flush();
        collector.collect(buf.toByteArray());
    }

    @Override
    public TypeInformation<byte[]> getProducedType() {
        return PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO;
    }
}
