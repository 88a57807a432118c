package compat

// franz-go (kgo, kadm) against the broker: every compression codec,
// idempotent produce, a cooperative-sticky consumer group, and admin.

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

var franzCodecs = []struct {
	name  string
	codec kgo.CompressionCodec
}{
	{"none", kgo.NoCompression()},
	{"gzip", kgo.GzipCompression()},
	{"snappy", kgo.SnappyCompression()},
	{"lz4", kgo.Lz4Compression()},
	{"zstd", kgo.ZstdCompression()},
}

// consumeAll reads n records of topic from the start (no group) and
// returns them in the order read; fails the test on error or timeout.
func consumeAll(t *testing.T, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer cl.Close()
	ctx := testContext(t, 30*time.Second)
	var out []*kgo.Record
	for len(out) < n {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records of %s before the deadline", len(out), n, topic)
		}
		fetches.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s[%d]: %v", topic, p, err)
		})
		fetches.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

func TestFranzProduceConsumeEveryCodec(t *testing.T) {
	for _, c := range franzCodecs {
		t.Run(c.name, func(t *testing.T) {
			topic := unique("franz-" + c.name)
			createTopic(t, topic, 1, nil)
			cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.DefaultProduceTopic(topic),
				kgo.ProducerBatchCompression(c.codec), kgo.ProducerLinger(5*time.Millisecond))
			if err != nil {
				t.Fatalf("producer: %v", err)
			}
			defer cl.Close()
			const n = 200
			recs := make([]*kgo.Record, n)
			for i := range recs {
				recs[i] = &kgo.Record{
					Key:     []byte(fmt.Sprintf("k%d", i)),
					Value:   []byte(fmt.Sprintf("value %d of codec %s, padded to compress well: %0200d", i, c.name, i)),
					Headers: []kgo.RecordHeader{{Key: "codec", Value: []byte(c.name)}},
				}
			}
			if err := cl.ProduceSync(testContext(t, 30*time.Second), recs...).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
			got := consumeAll(t, topic, n)
			if len(got) != n {
				t.Fatalf("consumed %d records, want %d", len(got), n)
			}
			for i, r := range got {
				if r.Offset != int64(i) || string(r.Key) != string(recs[i].Key) || string(r.Value) != string(recs[i].Value) {
					t.Fatalf("record %d: offset %d key %q value %q; want offset %d key %q", i, r.Offset, r.Key, r.Value, i, recs[i].Key)
				}
				if len(r.Headers) != 1 || r.Headers[0].Key != "codec" || string(r.Headers[0].Value) != c.name {
					t.Fatalf("record %d headers %v", i, r.Headers)
				}
			}
		})
	}
}

func TestFranzIdempotentProduceHasNoGapsOrDuplicates(t *testing.T) {
	topic := unique("franz-idem")
	createTopic(t, topic, 1, nil)
	// kgo is idempotent unless told otherwise; acks=all is its default.
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer cl.Close()
	const n = 2000
	ctx := testContext(t, 60*time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := 0; i < n; i++ {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("%06d", i))}, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("produce: %v", firstErr)
	}
	got := consumeAll(t, topic, n)
	for i, r := range got {
		if string(r.Value) != fmt.Sprintf("%06d", i) || r.Offset != int64(i) {
			t.Fatalf("offset %d holds %q, want %06d at offset %d", r.Offset, r.Value, i, i)
		}
		if r.ProducerID < 0 {
			t.Fatalf("record %d was not written by an idempotent producer (producer id %d)", i, r.ProducerID)
		}
	}
}

func TestFranzCooperativeStickyGroupConsumesEveryRecordOnce(t *testing.T) {
	topic, group := unique("franz-group"), unique("franz-group")
	const partitions, n = 4, 400
	createTopic(t, topic, partitions, nil)
	ctx := testContext(t, 90*time.Second)

	var mu sync.Mutex
	seen := map[string]int{}
	var members []*kgo.Client
	for i := 0; i < 2; i++ {
		cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.DisableAutoCommit(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
		members = append(members, cl)
	}
	pollCtx, stopPolling := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, cl := range members {
		wg.Add(1)
		go func(cl *kgo.Client) {
			defer wg.Done()
			for pollCtx.Err() == nil {
				fetches := cl.PollFetches(pollCtx)
				fetches.EachRecord(func(r *kgo.Record) {
					mu.Lock()
					seen[string(r.Value)]++
					mu.Unlock()
				})
				_ = cl.CommitUncommittedOffsets(pollCtx)
			}
		}(cl)
	}
	defer func() {
		stopPolling()
		wg.Wait()
		for _, cl := range members {
			cl.Close()
		}
	}()

	// Both members hold partitions before anything is produced.
	adm := newAdmin(t)
	waitUntil(t, 60*time.Second, "two members sharing the partitions", func() bool {
		described, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			return false
		}
		g := described[group]
		if g.State != "Stable" || len(g.Members) != 2 {
			return false
		}
		total := 0
		for _, m := range g.Members {
			a, ok := m.Assigned.AsConsumer()
			if !ok || len(a.Topics) == 0 {
				return false
			}
			for _, at := range a.Topics {
				total += len(at.Partitions)
			}
		}
		return total == partitions
	})

	prod, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer prod.Close()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i))}
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	waitUntil(t, 60*time.Second, fmt.Sprintf("%d records consumed by the group", n), func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == n
	})
	mu.Lock()
	for v, count := range seen {
		if count != 1 {
			t.Errorf("%s consumed %d times", v, count)
		}
	}
	mu.Unlock()

	// The committed offsets reach the end of every partition.
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	waitUntil(t, 30*time.Second, "committed offsets at the log end", func() bool {
		committed, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return false
		}
		ok := true
		ends.Each(func(o kadm.ListedOffset) {
			c, found := committed.Lookup(topic, o.Partition)
			if !found || c.At != o.Offset {
				ok = false
			}
		})
		return ok
	})
}

func TestKadmAdministersTopicsConfigsPartitionsAndOffsets(t *testing.T) {
	adm := newAdmin(t)
	ctx := testContext(t, 60*time.Second)
	topic := unique("kadm")
	retention := "3600000"
	createTopic(t, topic, 2, map[string]*string{"retention.ms": &retention})

	listed, err := adm.ListTopics(ctx)
	if err != nil || !listed.Has(topic) {
		t.Fatalf("ListTopics: %v, has %s: %v", err, topic, listed.Has(topic))
	}

	configs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatalf("DescribeTopicConfigs: %v", err)
	}
	rc, err := configs.On(topic, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("configs of %s: %v / %v", topic, err, rc.Err)
	}
	found := false
	for _, c := range rc.Configs {
		if c.Key == "retention.ms" {
			found = true
			if c.Value == nil || *c.Value != retention || c.Source.String() != "DYNAMIC_TOPIC_CONFIG" {
				t.Fatalf("retention.ms = %v from %v, want %s from DYNAMIC_TOPIC_CONFIG", c.MaybeValue(), c.Source, retention)
			}
		}
	}
	if !found {
		t.Fatalf("retention.ms not described: %v", rc.Configs)
	}

	// Alter: set and delete a topic config.
	alter, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "max.message.bytes", Value: kadm.StringPtr("2000000")},
		{Op: kadm.DeleteConfig, Name: "retention.ms"},
	}, topic)
	if err != nil || alter[0].Err != nil {
		t.Fatalf("AlterTopicConfigs: %v / %v", err, alter)
	}
	configs, err = adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatalf("DescribeTopicConfigs after alter: %v", err)
	}
	rc, _ = configs.On(topic, nil)
	for _, c := range rc.Configs {
		switch c.Key {
		case "max.message.bytes":
			if c.MaybeValue() != "2000000" {
				t.Fatalf("max.message.bytes = %q after alter", c.MaybeValue())
			}
		case "retention.ms":
			if c.Source.String() == "DYNAMIC_TOPIC_CONFIG" {
				t.Fatalf("retention.ms still a topic override after delete")
			}
		}
	}

	// Partitions: 2 -> 5.
	cp, err := adm.CreatePartitions(ctx, 3, topic)
	if err != nil || cp[topic].Err != nil {
		t.Fatalf("CreatePartitions: %v / %v", err, cp[topic].Err)
	}
	waitUntil(t, 20*time.Second, topic+" with 5 partitions", func() bool {
		md, err := adm.Metadata(ctx, topic)
		return err == nil && len(md.Topics[topic].Partitions) == 5
	})

	// Offsets: 3 records to partition 4.
	prod, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer prod.Close()
	for i := 0; i < 3; i++ {
		if err := prod.ProduceSync(ctx, &kgo.Record{Partition: 4, Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("ListStartOffsets: %v", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("ListEndOffsets: %v", err)
	}
	var got []string
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(topic, o.Partition)
		got = append(got, fmt.Sprintf("%d:%d-%d", o.Partition, s.Offset, o.Offset))
	})
	sort.Strings(got)
	want := "[0:0-0 1:0-0 2:0-0 3:0-0 4:0-3]"
	if fmt.Sprint(got) != want {
		t.Fatalf("offsets %v, want %s", got, want)
	}

	// Delete; the topic disappears from Metadata.
	del, err := adm.DeleteTopics(ctx, topic)
	if err != nil || del[topic].Err != nil {
		t.Fatalf("DeleteTopics: %v / %v", err, del[topic].Err)
	}
	waitUntil(t, 20*time.Second, topic+" gone", func() bool {
		l, err := adm.ListTopics(ctx)
		return err == nil && !l.Has(topic)
	})
}
