// An independent read_committed consumer built on Kafka's own Java client, used by the chaos
// suite to check exactly-once delivery. Run in source-file mode:
//   java -cp '.stack/kafka/libs/*' test/chaos/java/ReadCommitted.java <topic>
// Prints one JSON line per record: partition, offset, key, the outbox-id and event-id headers,
// and the value in base64 (null for a tombstone).
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class ReadCommitted {
  public static void main(String[] args) {
    Properties props = new Properties();
    props.put("bootstrap.servers", System.getenv().getOrDefault("KAFKA_BROKERS", "127.0.0.1:9092"));
    props.put("isolation.level", "read_committed");
    props.put("enable.auto.commit", "false");
    props.put("key.deserializer", ByteArrayDeserializer.class.getName());
    props.put("value.deserializer", ByteArrayDeserializer.class.getName());
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
      List<TopicPartition> partitions = new ArrayList<>();
      consumer.partitionsFor(args[0]).forEach(p -> partitions.add(new TopicPartition(p.topic(), p.partition())));
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
      long deadline = System.currentTimeMillis() + 120_000;
      while (partitions.stream().anyMatch(tp -> consumer.position(tp) < end.get(tp))) {
        if (System.currentTimeMillis() > deadline) throw new IllegalStateException("timed out reading " + args[0]);
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
          StringBuilder line = new StringBuilder();
          line.append("{\"partition\":").append(r.partition()).append(",\"offset\":").append(r.offset());
          line.append(",\"key\":").append(quote(r.key() == null ? null : new String(r.key(), StandardCharsets.UTF_8)));
          line.append(",\"outboxId\":").append(quote(header(r, "outbox-id")));
          line.append(",\"eventId\":").append(quote(header(r, "event-id")));
          line.append(",\"value\":").append(quote(r.value() == null ? null : Base64.getEncoder().encodeToString(r.value())));
          System.out.println(line.append('}'));
        }
      }
    }
  }

  static String header(ConsumerRecord<byte[], byte[]> r, String name) {
    Header h = r.headers().lastHeader(name);
    return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
  }

  static String quote(String s) {
    if (s == null) return "null";
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }
}
