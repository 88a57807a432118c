package compat

// IBM/sarama against the broker: every compression codec, the idempotent
// producer, a consumer group, and the cluster admin.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// saramaConfig is the configuration every sarama test starts from: the
// Kafka 4.0 protocol level (sarama picks request versions from it).
func saramaConfig() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.V4_0_0_0
	c.ClientID = "weir-compat-sarama"
	c.Producer.Return.Successes = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	return c
}

// saramaConsumeAll reads n messages of partition 0 from the oldest offset.
func saramaConsumeAll(t *testing.T, topic string, n int) []*sarama.ConsumerMessage {
	t.Helper()
	consumer, err := sarama.NewConsumer([]string{bootstrap}, saramaConfig())
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatalf("consume partition: %v", err)
	}
	defer pc.Close()
	deadline := time.After(30 * time.Second)
	var out []*sarama.ConsumerMessage
	for len(out) < n {
		select {
		case m := <-pc.Messages():
			out = append(out, m)
		case err := <-pc.Errors():
			t.Fatalf("consume: %v", err)
		case <-deadline:
			t.Fatalf("consumed %d of %d messages of %s before the deadline", len(out), n, topic)
		}
	}
	return out
}

func TestSaramaProduceConsumeEveryCodec(t *testing.T) {
	codecs := []sarama.CompressionCodec{
		sarama.CompressionNone, sarama.CompressionGZIP, sarama.CompressionSnappy,
		sarama.CompressionLZ4, sarama.CompressionZSTD,
	}
	for _, codec := range codecs {
		t.Run(codec.String(), func(t *testing.T) {
			topic := unique("sarama-" + codec.String())
			createTopic(t, topic, 1, nil)
			cfg := saramaConfig()
			cfg.Producer.Compression = codec
			cfg.Producer.Flush.Messages = 50
			cfg.Producer.Flush.Frequency = 5 * time.Millisecond
			producer, err := sarama.NewSyncProducer([]string{bootstrap}, cfg)
			if err != nil {
				t.Fatalf("producer: %v", err)
			}
			defer producer.Close()
			const n = 200
			msgs := make([]*sarama.ProducerMessage, n)
			for i := range msgs {
				msgs[i] = &sarama.ProducerMessage{
					Topic:   topic,
					Key:     sarama.StringEncoder(fmt.Sprintf("k%d", i)),
					Value:   sarama.StringEncoder(fmt.Sprintf("value %d of %s: %0200d", i, codec, i)),
					Headers: []sarama.RecordHeader{{Key: []byte("codec"), Value: []byte(codec.String())}},
				}
			}
			if err := producer.SendMessages(msgs); err != nil {
				t.Fatalf("send: %v", err)
			}
			got := saramaConsumeAll(t, topic, n)
			for i, m := range got {
				want := fmt.Sprintf("value %d of %s: %0200d", i, codec, i)
				if m.Offset != int64(i) || string(m.Key) != fmt.Sprintf("k%d", i) || string(m.Value) != want {
					t.Fatalf("message %d: offset %d key %q value %q", i, m.Offset, m.Key, m.Value)
				}
				if len(m.Headers) != 1 || string(m.Headers[0].Value) != codec.String() {
					t.Fatalf("message %d headers %v", i, m.Headers)
				}
			}
		})
	}
}

func TestSaramaIdempotentProducer(t *testing.T) {
	topic := unique("sarama-idem")
	createTopic(t, topic, 1, nil)
	cfg := saramaConfig()
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Retry.Max = 10
	producer, err := sarama.NewAsyncProducer([]string{bootstrap}, cfg)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	const n = 1000
	go func() {
		for i := 0; i < n; i++ {
			producer.Input() <- &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprintf("%06d", i))}
		}
	}()
	deadline := time.After(60 * time.Second)
	for acked := 0; acked < n; {
		select {
		case <-producer.Successes():
			acked++
		case err := <-producer.Errors():
			t.Fatalf("produce: %v", err)
		case <-deadline:
			t.Fatalf("%d of %d acknowledged before the deadline", acked, n)
		}
	}
	if err := producer.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	for i, m := range saramaConsumeAll(t, topic, n) {
		if m.Offset != int64(i) || string(m.Value) != fmt.Sprintf("%06d", i) {
			t.Fatalf("offset %d holds %q, want %06d", m.Offset, m.Value, i)
		}
	}
}

// groupHandler counts the values it is given and marks them consumed.
type groupHandler struct {
	mu       sync.Mutex
	seen     map[string]int
	assigned chan struct{}
}

func (h *groupHandler) Setup(s sarama.ConsumerGroupSession) error {
	if len(s.Claims()) > 0 {
		select {
		case h.assigned <- struct{}{}:
		default:
		}
	}
	return nil
}

func (h *groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *groupHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		h.mu.Lock()
		h.seen[string(m.Value)]++
		h.mu.Unlock()
		s.MarkMessage(m, "")
	}
	return nil
}

func TestSaramaConsumerGroupConsumesEveryRecordOnce(t *testing.T) {
	topic, group := unique("sarama-group"), unique("sarama-group")
	const partitions, n = 4, 400
	createTopic(t, topic, partitions, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	h := &groupHandler{seen: map[string]int{}, assigned: make(chan struct{}, 2)}
	var wg sync.WaitGroup
	var groups []sarama.ConsumerGroup
	for i := 0; i < 2; i++ {
		cfg := saramaConfig()
		cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
		cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
		cg, err := sarama.NewConsumerGroup([]string{bootstrap}, group, cfg)
		if err != nil {
			t.Fatalf("consumer group %d: %v", i, err)
		}
		groups = append(groups, cg)
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Consume returns at each rebalance; go round until cancelled.
			for ctx.Err() == nil {
				if err := cg.Consume(ctx, []string{topic}, h); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
					t.Errorf("consume: %v", err)
					return
				}
			}
		}()
	}
	defer func() {
		cancel()
		for _, cg := range groups {
			cg.Close()
		}
		wg.Wait()
	}()

	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, saramaConfig())
	if err != nil {
		t.Fatalf("admin: %v", err)
	}
	defer admin.Close()
	waitUntil(t, 60*time.Second, "two members sharing the partitions", func() bool {
		d, err := admin.DescribeConsumerGroups([]string{group})
		if err != nil || len(d) != 1 || d[0].State != "Stable" || len(d[0].Members) != 2 {
			return false
		}
		total := 0
		for _, m := range d[0].Members {
			a, err := m.GetMemberAssignment()
			if err != nil || a == nil {
				return false
			}
			total += len(a.Topics[topic])
		}
		return total == partitions
	})

	producer, err := sarama.NewSyncProducer([]string{bootstrap}, saramaConfig())
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer producer.Close()
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprintf("k%d", i)),
			Value: sarama.StringEncoder(fmt.Sprintf("v%d", i))}
	}
	if err := producer.SendMessages(msgs); err != nil {
		t.Fatalf("send: %v", err)
	}
	waitUntil(t, 60*time.Second, fmt.Sprintf("%d records consumed by the group", n), func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.seen) == n
	})
	h.mu.Lock()
	for v, c := range h.seen {
		if c != 1 {
			t.Errorf("%s consumed %d times", v, c)
		}
	}
	h.mu.Unlock()

	// The auto-committed offsets reach the end of every partition.
	client, err := sarama.NewClient([]string{bootstrap}, saramaConfig())
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	defer client.Close()
	waitUntil(t, 30*time.Second, "committed offsets at the log end", func() bool {
		resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1, 2, 3}})
		if err != nil {
			return false
		}
		for p := int32(0); p < partitions; p++ {
			end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
			b := resp.GetBlock(topic, p)
			if err != nil || b == nil || b.Offset != end {
				return false
			}
		}
		return true
	})
}

func TestSaramaClusterAdmin(t *testing.T) {
	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, saramaConfig())
	if err != nil {
		t.Fatalf("admin: %v", err)
	}
	defer admin.Close()
	topic := unique("sarama-admin")
	retention := "7200000"
	err = admin.CreateTopic(topic, &sarama.TopicDetail{
		NumPartitions: 2, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"retention.ms": &retention},
	}, false)
	if err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	waitUntil(t, 20*time.Second, topic+" listed with 2 partitions", func() bool {
		topics, err := admin.ListTopics()
		return err == nil && topics[topic].NumPartitions == 2
	})
	if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false); !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		t.Fatalf("second CreateTopic: %v, want %v", err, sarama.ErrTopicAlreadyExists)
	}

	entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
	if err != nil {
		t.Fatalf("DescribeConfig: %v", err)
	}
	found := false
	for _, e := range entries {
		if e.Name == "retention.ms" {
			found = e.Value == retention && e.Source == sarama.SourceTopic
		}
	}
	if !found {
		t.Fatalf("retention.ms=%s from the topic not among %d described entries", retention, len(entries))
	}

	if err := admin.CreatePartitions(topic, 3, nil, false); err != nil {
		t.Fatalf("CreatePartitions: %v", err)
	}
	waitUntil(t, 20*time.Second, topic+" with 3 partitions", func() bool {
		md, err := admin.DescribeTopics([]string{topic})
		return err == nil && len(md) == 1 && len(md[0].Partitions) == 3
	})

	brokers, controller, err := admin.DescribeCluster()
	if err != nil || len(brokers) == 0 || controller < 0 {
		t.Fatalf("DescribeCluster: %v brokers %d controller %v", err, len(brokers), controller)
	}

	if err := admin.DeleteTopic(topic); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	waitUntil(t, 20*time.Second, topic+" gone", func() bool {
		topics, err := admin.ListTopics()
		_, present := topics[topic]
		return err == nil && !present
	})
}
