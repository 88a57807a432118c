// A Java Admin client (Apache Kafka 4.4.0's kafka-clients) describing what a
// broker holds: the cluster, one topic, its configs and broker 1's, one
// consumer group and its offsets, and the groups listed. It prints one JSON
// document that compat/tests/test_java_clients.py asserts on. Java 17 runs it
// from source, with Kafka's jars on the classpath:
//
//   compat/bin/kafka-run-class compat/java/AdminDescribe.java BOOTSTRAP TOPIC GROUP
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;

public class AdminDescribe {
    private static final long TIMEOUT_S = 30;

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: AdminDescribe BOOTSTRAP TOPIC GROUP");
            System.exit(2);
        }
        String topic = args[1];
        String group = args[2];
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        Map<String, Object> out = new LinkedHashMap<>();
        try (Admin admin = Admin.create(props)) {
            DescribeClusterResult cluster = admin.describeCluster();
            Map<String, Object> c = new LinkedHashMap<>();
            c.put("clusterId", cluster.clusterId().get(TIMEOUT_S, TimeUnit.SECONDS));
            c.put("controller", cluster.controller().get(TIMEOUT_S, TimeUnit.SECONDS).id());
            List<Node> nodes = new ArrayList<>(cluster.nodes().get(TIMEOUT_S, TimeUnit.SECONDS));
            nodes.sort(Comparator.comparingInt(Node::id));
            List<Object> nodeList = new ArrayList<>();
            for (Node n : nodes) {
                nodeList.add(node(n));
            }
            c.put("nodes", nodeList);
            out.put("cluster", c);

            TopicDescription td = admin.describeTopics(List.of(topic)).allTopicNames()
                    .get(TIMEOUT_S, TimeUnit.SECONDS).get(topic);
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("name", td.name());
            t.put("internal", td.isInternal());
            t.put("topicId", td.topicId().toString());
            List<Object> parts = new ArrayList<>();
            for (TopicPartitionInfo p : td.partitions()) {
                Map<String, Object> pm = new LinkedHashMap<>();
                pm.put("partition", p.partition());
                pm.put("leader", p.leader() == null ? null : p.leader().id());
                pm.put("replicas", p.replicas().stream().map(Node::id).toList());
                pm.put("isr", p.isr().stream().map(Node::id).toList());
                parts.add(pm);
            }
            t.put("partitions", parts);
            out.put("topic", t);
            out.put("listTopics", new ArrayList<>(admin.listTopics().names().get(TIMEOUT_S, TimeUnit.SECONDS)));

            ConfigResource topicRes = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            ConfigResource brokerRes = new ConfigResource(ConfigResource.Type.BROKER, "1");
            Map<ConfigResource, Config> configs = admin.describeConfigs(List.of(topicRes, brokerRes)).all()
                    .get(TIMEOUT_S, TimeUnit.SECONDS);
            out.put("topicConfigs", configs(configs.get(topicRes)));
            out.put("brokerConfigs", configs(configs.get(brokerRes)));

            ConsumerGroupDescription gd = admin.describeConsumerGroups(List.of(group)).all()
                    .get(TIMEOUT_S, TimeUnit.SECONDS).get(group);
            Map<String, Object> g = new LinkedHashMap<>();
            g.put("groupId", gd.groupId());
            g.put("state", gd.groupState().name());
            g.put("type", gd.type().name());
            g.put("simple", gd.isSimpleConsumerGroup());
            g.put("partitionAssignor", gd.partitionAssignor());
            g.put("coordinator", gd.coordinator().id());
            List<Object> members = new ArrayList<>();
            for (MemberDescription m : gd.members()) {
                Map<String, Object> mm = new LinkedHashMap<>();
                mm.put("consumerId", m.consumerId());
                mm.put("groupInstanceId", m.groupInstanceId().orElse(null));
                mm.put("clientId", m.clientId());
                mm.put("host", m.host());
                List<TopicPartition> assigned = new ArrayList<>(m.assignment().topicPartitions());
                assigned.sort(Comparator.comparing(TopicPartition::topic).thenComparingInt(TopicPartition::partition));
                List<Object> al = new ArrayList<>();
                for (TopicPartition tp : assigned) {
                    Map<String, Object> tpm = new LinkedHashMap<>();
                    tpm.put("topic", tp.topic());
                    tpm.put("partition", tp.partition());
                    al.add(tpm);
                }
                mm.put("assignment", al);
                members.add(mm);
            }
            g.put("members", members);
            out.put("group", g);

            Map<TopicPartition, OffsetAndMetadata> offsets = admin.listConsumerGroupOffsets(group)
                    .partitionsToOffsetAndMetadata().get(TIMEOUT_S, TimeUnit.SECONDS);
            Map<String, Object> om = new TreeMap<>();
            offsets.forEach((tp, o) -> om.put(tp.toString(), o == null ? null : o.offset()));
            out.put("groupOffsets", om);

            List<Object> groups = new ArrayList<>();
            for (GroupListing l : admin.listGroups().all().get(TIMEOUT_S, TimeUnit.SECONDS)) {
                Map<String, Object> lm = new LinkedHashMap<>();
                lm.put("groupId", l.groupId());
                lm.put("state", l.groupState().map(Enum::name).orElse(null));
                lm.put("type", l.type().map(Enum::name).orElse(null));
                groups.add(lm);
            }
            out.put("groups", groups);
        }
        ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        System.out.println(mapper.writeValueAsString(out));
    }

    private static Map<String, Object> node(Node n) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", n.id());
        m.put("host", n.host());
        m.put("port", n.port());
        return m;
    }

    private static Map<String, Object> configs(Config config) {
        Map<String, Object> out = new TreeMap<>();
        for (ConfigEntry e : config.entries()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("value", e.value());
            m.put("source", e.source().name());
            m.put("readOnly", e.isReadOnly());
            m.put("sensitive", e.isSensitive());
            out.put(e.name(), m);
        }
        return out;
    }
}
