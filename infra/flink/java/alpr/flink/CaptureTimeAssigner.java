package alpr.flink;

import org.apache.flink.api.common.eventtime.SerializableTimestampAssigner;

/**
 * Event time of a frame envelope (FrameRecordDeserializer): its capture time, or the Kafka
 * record timestamp when the frame carries none (the Python side then dead-letters it). Runs
 * inside the KafkaSource, so watermarks are generated per partition.
 */
public class CaptureTimeAssigner implements SerializableTimestampAssigner<byte[]> {
    private static final long serialVersionUID = 1L;

    @Override
    public long extractTimestamp(byte[] envelope, long recordTimestamp) {
        if (envelope == null || envelope.length < 8) {
            return recordTimestamp;
        }
        long t = 0;
        for (int i = 0; i < 8; i++) {
            t = (t << 8) | (envelope[i] & 0xffL);
        }
        return t >= 0 ? t : recordTimestamp;
    }
}
